/**
 * The HTTP face every service shows its operators and supervisors:
 * `/health` (the process is alive and answers) and `/ready` (it can do its
 * job now: 200, or 503 naming what it is waiting for), both JSON in the same
 * shape as the gateway's; and `/metrics`, for Prometheus.
 */
import { metricsResponse, type Registry } from "./metrics.ts";

/** One dependency as /ready reports it. */
export interface ReadinessCheck {
  /** Whether this dependency lets the service do its job now. */
  ready: boolean;
  /** Its state in a word or two: "up", "down", "blocked", "SERVING", "3 of 8". */
  status: string;
  /** Why it is not ready, for an operator; never an internal address. */
  detail?: string;
  /** How the message names it: "the read database". */
  label: string;
}

/** The check of a service's own state: ready until it begins to stop. */
export function stoppingCheck(stopping: boolean, label: string): ReadinessCheck {
  return { ready: !stopping, status: stopping ? "stopping" : "running", label };
}

/** What a service is and when it answers, for /health and /ready. */
export interface ServiceIdentity {
  /** "gateway", "command", "query" or "worker". */
  service: string;
  version: string;
  /** The clock of the answers' timestamps. Default: the system clock. */
  now?: () => Date;
}

/** The catalog's version, as every service's /health reports it. */
export const version = "0.1.0";

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

function stamp(identity: ServiceIdentity) {
  return {
    service: identity.service,
    version: identity.version,
    timestamp: (identity.now ?? (() => new Date()))().toISOString(),
  };
}

/** The answer of /health: the process is alive. */
export function healthResponse(identity: ServiceIdentity): Response {
  return json({ status: "healthy", ...stamp(identity) });
}

/**
 * The answer of /ready: 200 when every check is ready, otherwise 503 with
 * the names of the checks that are not (`notReady`) and a sentence saying
 * why (`message`).
 */
export function readinessResponse(
  identity: ServiceIdentity,
  checks: Record<string, ReadinessCheck>,
): Response {
  const shown = Object.fromEntries(
    Object.entries(checks).map(([name, check]) => [
      name,
      check.detail ? { status: check.status, detail: check.detail } : { status: check.status },
    ]),
  );
  const base = { ...stamp(identity), checks: shown };
  const notReady = Object.keys(checks).filter((name) => !checks[name]!.ready);
  if (notReady.length === 0) return json({ status: "ready", ...base });
  const why = notReady.map((name) => {
    const check = checks[name]!;
    return `${check.label} is ${check.status}${check.detail ? ` (${check.detail})` : ""}`;
  });
  return json(
    { status: "not_ready", ...base, notReady, message: `Not ready: ${why.join(", ")}` },
    503,
  );
}

/** Options of serveHealth(). */
export interface HealthServerOptions extends ServiceIdentity {
  /** Interface to listen on. Default "0.0.0.0". */
  host?: string;
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** The checks /ready reports, asked afresh for every request. */
  checks: () => Record<string, ReadinessCheck> | Promise<Record<string, ReadinessCheck>>;
  /**
   * The variable that sets the port, named when it is taken:
   * "QUERY_HTTP_PORT". Default: none.
   */
  portVariable?: string;
  /** The registries `/metrics` serves, asked afresh for every scrape. Default: no /metrics. */
  metrics?: () => readonly Registry[];
}

/** A running health server. */
export interface HealthServer {
  /** The bound port (useful when asked for port 0). */
  port: number;
  /** Stops listening. */
  close(): Promise<void>;
}

/**
 * Serves /health, /ready and (given registries) /metrics over HTTP beside a
 * service's own port.
 *
 * @throws {Error} naming the address (and portVariable) when it cannot listen.
 */
export function serveHealth(options: HealthServerOptions): HealthServer {
  const host = options.host ?? "0.0.0.0";
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({ hostname: host, port: options.port, onListen() {} }, async (request) => {
      const { pathname } = new URL(request.url);
      if (request.method !== "GET" && request.method !== "HEAD") {
        return json({ error: `Cannot ${request.method} ${pathname}: only GET is served` }, 405);
      }
      if (pathname === "/health") return healthResponse(options);
      if (pathname === "/ready") {
        try {
          return readinessResponse(options, await options.checks());
        } catch {
          return json({ status: "not_ready", ...stamp(options), message: "Not ready" }, 503);
        }
      }
      if (pathname === "/metrics" && options.metrics) return metricsResponse(options.metrics());
      const served = options.metrics ? "/health, /ready and /metrics" : "/health and /ready";
      return json({ error: `Cannot find ${pathname}: this port serves ${served}` }, 404);
    });
  } catch (error) {
    const hint = options.portVariable ? ` (${options.portVariable} picks another port)` : "";
    const reason = error instanceof Deno.errors.AddrInUse
      ? `the address is already in use${hint}`
      : error instanceof Error
      ? error.message
      : String(error);
    throw new Error(`Cannot serve health on ${host}:${options.port}: ${reason}`, { cause: error });
  }
  return {
    port: server.addr.port,
    close: () => server.shutdown(),
  };
}
