/**
 * A database pool's work, counted and timed: how many of its connections are
 * in use, how many pieces of work wait for one, and how long each kind of work
 * takes (a transaction that handles commands, a projection batch, a read).
 * Each piece of work is also a span, whose events are its statements when
 * the pool traces them (traceStatement()).
 *
 * postgres.js keeps its pool's state to itself and tells nothing when a
 * statement ends, so the catalog counts its own work around each use of a
 * pool instead: every piece of work holds one connection from its start to
 * its end, which makes the count of those running the pool's use.
 */
import { durationBuckets, metricPrefix, prom, type Registry, secondsSince } from "./metrics.ts";
import { inSpan, SpanKind, tracingEnabled } from "./tracing.ts";

/** Times and counts the work done on one pool. */
export interface DatabaseMetrics {
  /** Runs fn, counted as a connection in use (or waiting for one), timed and traced as `work`. */
  timed<T>(work: string, fn: () => Promise<T>): Promise<T>;
}

const families = new WeakMap<Registry, {
  inUse: prom.Gauge<"database">;
  waiting: prom.Gauge<"database">;
  seconds: prom.Histogram<"database" | "work">;
}>();

function familiesOf(registry: Registry) {
  let found = families.get(registry);
  if (!found) {
    found = {
      inUse: new prom.Gauge({
        name: `${metricPrefix}db_pool_in_use`,
        help: "Connections of the pool doing the catalog's work now, by database.",
        labelNames: ["database"] as const,
        registers: [registry],
      }),
      waiting: new prom.Gauge({
        name: `${metricPrefix}db_pool_waiting`,
        help:
          "Pieces of work waiting for a connection of the pool (all of them in use), by database.",
        labelNames: ["database"] as const,
        registers: [registry],
      }),
      seconds: new prom.Histogram({
        name: `${metricPrefix}db_work_seconds`,
        help: "How long each kind of database work took, waiting for a connection included, " +
          "by database and work.",
        labelNames: ["database", "work"] as const,
        buckets: durationBuckets,
        registers: [registry],
      }),
    };
    families.set(registry, found);
  }
  return found;
}

/**
 * The metrics of one pool, of at most poolSize connections, on registry;
 * `database` names it in the labels ("write", "read").
 */
export function databaseMetrics(
  registry: Registry,
  database: string,
  poolSize: number,
): DatabaseMetrics {
  const { inUse, waiting, seconds } = familiesOf(registry);
  let running = 0;
  const show = () => {
    inUse.set({ database }, Math.min(running, poolSize));
    waiting.set({ database }, Math.max(0, running - poolSize));
  };
  show();
  return {
    async timed(work, fn) {
      const started = performance.now();
      running++;
      show();
      try {
        if (!tracingEnabled) return await fn();
        return await inSpan(`postgresql ${work}`, {
          kind: SpanKind.CLIENT,
          attributes: {
            "db.system.name": "postgresql",
            "db.namespace": database,
            "catalog.db.work": work,
          },
        }, fn);
      } finally {
        running--;
        show();
        seconds.observe({ database, work }, secondsSince(started));
      }
    },
  };
}
