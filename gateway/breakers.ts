import {
  circuitBreaker,
  type CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  handleWhen,
} from "cockatiel";
import { grpc } from "@catalog/proto";
import type { Backend } from "./grpc_errors.ts";

/** Options of createBreakers(). */
export interface BreakerOptions {
  /** Failures in a row that open a backend's circuit. Default 5. */
  failures?: number;
  /** How long an open circuit refuses before one call may probe the backend, in ms. Default 1000. */
  halfOpenAfterMs?: number;
}

/** One circuit breaker per backend the gateway calls. */
export type Breakers = Record<Backend, CircuitBreakerPolicy>;

/** The gRPC codes that say the backend itself is failing, not the request. */
const backendFaults: ReadonlySet<number> = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
]);

function isBackendFault(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "number" && backendFaults.has(code);
}

/**
 * Circuit breakers on the gateway's calls to the command and the query
 * service (cockatiel's): once `failures` calls in a row to one backend end
 * UNAVAILABLE or DEADLINE_EXCEEDED, its calls fail at once, without waiting
 * for a connection or a deadline, so that requests to a backend that is away
 * cost nothing and pile up nowhere; after halfOpenAfterMs one call probes it,
 * and its success closes the circuit again. Any other answer, a domain
 * rejection or a bad argument included, counts as the backend working.
 */
export function createBreakers(options: BreakerOptions = {}): Breakers {
  const make = () =>
    circuitBreaker(handleWhen(isBackendFault), {
      breaker: new ConsecutiveBreaker(options.failures ?? 5),
      halfOpenAfter: options.halfOpenAfterMs ?? 1000,
    });
  return { command: make(), query: make() };
}

/** A circuit's state as the metrics name it. */
export function stateName(state: CircuitState): "closed" | "open" | "half_open" {
  return state === CircuitState.Closed
    ? "closed"
    : state === CircuitState.HalfOpen
    ? "half_open"
    : "open";
}
