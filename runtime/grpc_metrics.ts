/**
 * gRPC calls, counted and timed on both sides: by the server that handles
 * them (startGrpcServer()) and by the client that makes them
 * (createCommandClient(), createQueryClient()). The names and labels follow
 * the go-grpc-prometheus convention operators' dashboards know
 * (`grpc_service`, `grpc_method`, `grpc_code`), prefixed `catalog_`.
 */
import { grpc } from "@catalog/proto";
import { durationBuckets, metricPrefix, prom, type Registry, secondsSince } from "./metrics.ts";

const codeNames = new Map<number, string>(
  Object.entries(grpc.status)
    .filter(([, value]) => typeof value === "number")
    .map(([name, value]) => [value as number, name]),
);

/** The name of a gRPC status code ("OK", "UNAVAILABLE"); "UNKNOWN" for a number gRPC has no name for. */
export function grpcCodeName(code: number | undefined): string {
  return codeNames.get(code ?? grpc.status.OK) ?? "UNKNOWN";
}

/** Times one call: call done(code) once when it ends. */
export type CallTimer = (code: number | undefined) => void;

/** The metrics of one side of the gRPC calls of a process. */
export interface GrpcMetrics {
  /** Starts timing a call of service.method; the answer records it once, at its end. */
  start(service: string, method: string): CallTimer;
}

function grpcMetrics(registry: Registry, side: "server" | "client"): GrpcMetrics {
  const verb = side === "server" ? "handled" : "completed";
  const handled = new prom.Counter({
    name: `${metricPrefix}grpc_${side}_handled_total`,
    help: `gRPC calls ${verb} by this ${side}, by service, method and status code.`,
    labelNames: ["grpc_service", "grpc_method", "grpc_code"] as const,
    registers: [registry],
  });
  const seconds = new prom.Histogram({
    name: `${metricPrefix}grpc_${side}_handling_seconds`,
    help:
      `How long gRPC calls took from the ${side}'s side, until their status, by service and method.`,
    labelNames: ["grpc_service", "grpc_method"] as const,
    buckets: durationBuckets,
    registers: [registry],
  });
  return {
    start(service, method) {
      const started = performance.now();
      let done = false;
      return (code) => {
        if (done) return;
        done = true;
        const labels = { grpc_service: service, grpc_method: method };
        handled.inc({ ...labels, grpc_code: grpcCodeName(code) });
        seconds.observe(labels, secondsSince(started));
      };
    },
  };
}

/** The metrics of the calls a gRPC server handles. */
export function grpcServerMetrics(registry: Registry): GrpcMetrics {
  return grpcMetrics(registry, "server");
}

/** The metrics of the calls a gRPC client makes. */
export function grpcClientMetrics(registry: Registry): GrpcMetrics {
  return grpcMetrics(registry, "client");
}
