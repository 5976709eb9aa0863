/**
 * The metrics every catalog process exposes on `GET /metrics`, in
 * Prometheus's text format, made with prom-client: the process's own (RSS,
 * heap, event-loop delay, restarts) and those of the service it runs.
 *
 * Each service instance registers its metrics on a registry of its own
 * (createServiceRegistry()), so that two instances in one process (as tests
 * run them) never clash; the process's metrics are collected once, by the
 * composition root (processRegistry()).
 */
import client from "prom-client";

export { client as prom };
export type Registry = client.Registry;

/** Every metric's name starts with this. */
export const metricPrefix = "catalog_";

/**
 * Buckets for durations in seconds, from a millisecond to ten seconds: a
 * command's trip, a gRPC call and a statement each fall in this range.
 */
export const durationBuckets = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** Buckets for counts of items in a batch. */
export const batchSizeBuckets = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

/** A registry for one service instance's metrics, each labelled with the service's name. */
export function createServiceRegistry(service: string): Registry {
  const registry = new client.Registry();
  registry.setDefaultLabels({ service });
  return registry;
}

let processMetrics: Registry | undefined;

/**
 * The process's own metrics (prom-client's default ones, prefixed
 * `catalog_`, and `catalog_service_restarts`), collected from the first call
 * on; later calls answer the same registry.
 *
 * @param restarts how many times a runner restarted this service before
 *   this process (the dev runner passes CATALOG_RESTARTS).
 */
export function processRegistry(service: string, restarts = 0): Registry {
  if (processMetrics) return processMetrics;
  const registry = createServiceRegistry(service);
  client.collectDefaultMetrics({ register: registry, prefix: metricPrefix });
  // prom-client reads these from /proc/self, which Deno opens only to a
  // process with every permission; without them it reports 0. The RSS comes
  // from Deno instead, and the rest is left out rather than shown wrong.
  for (
    const unread of ["resident_memory_bytes", "virtual_memory_bytes", "heap_bytes", "open_fds"]
  ) {
    registry.removeSingleMetric(`${metricPrefix}process_${unread}`);
  }
  new client.Gauge({
    name: `${metricPrefix}process_resident_memory_bytes`,
    help: "Resident memory size in bytes.",
    registers: [registry],
    collect() {
      this.set(Deno.memoryUsage().rss);
    },
  });
  new client.Gauge({
    name: `${metricPrefix}service_restarts`,
    help: "How many times the runner restarted this service before this process started.",
    registers: [registry],
  }).set(restarts);
  processMetrics = registry;
  return registry;
}

/**
 * The text of `GET /metrics`: the registries' metrics, one after the other.
 * A registry that fails to collect (a gauge whose query failed) is left
 * out rather than failing the whole scrape.
 */
export async function metricsText(registries: readonly Registry[]): Promise<string> {
  const parts = await Promise.all(
    registries.map((registry) => registry.metrics().catch(() => "")),
  );
  return parts.filter((part) => part !== "").join("\n");
}

/** The answer of `GET /metrics` for the registries. */
export async function metricsResponse(registries: readonly Registry[]): Promise<Response> {
  return new Response(await metricsText(registries), {
    headers: {
      "content-type": client.Registry.PROMETHEUS_CONTENT_TYPE,
      "cache-control": "no-store",
    },
  });
}

/** Seconds since a performance.now() reading, for a histogram. */
export function secondsSince(startedMs: number): number {
  return (performance.now() - startedMs) / 1000;
}

/**
 * A gauge without labels whose value is read when Prometheus scrapes;
 * `read` answering undefined leaves the value as it was.
 */
export function readGauge(
  registry: Registry,
  name: string,
  help: string,
  read: () => number | undefined | Promise<number | undefined>,
): void {
  new client.Gauge({
    name: `${metricPrefix}${name}`,
    help,
    registers: [registry],
    async collect() {
      const value = await read();
      if (value !== undefined) this.set(value);
    },
  });
}
