/**
 * The worker's metrics: what became of each command (by type, outcome and
 * code), how long it took from acceptance to being applied, how many it holds,
 * the projection's progress and lag, the partitions it owns and the oldest
 * dead letter. Counters move as the work happens; the gauges that need a
 * database (lag, oldest dead letter) are read when Prometheus scrapes.
 */
import type postgres from "postgres";
import type { CommandEnvelope } from "@catalog/proto";
import {
  batchSizeBuckets,
  durationBuckets,
  metricPrefix,
  prom,
  readGauge,
  type Registry,
} from "@catalog/runtime";
import type { CommandOutcome } from "./handle_command.ts";
import { readCheckpoints } from "./project/checkpoints.ts";

/** What the consumer reports as it works. */
export interface ConsumerMetrics {
  /** A command was delivered to the worker: one more in flight. */
  delivered(): void;
  /** Commands left the worker's hands (settled, dead-lettered, or handed back). */
  released(count: number): void;
  /** A command was handled and acknowledged with this outcome. */
  handled(envelope: CommandEnvelope, outcome: CommandOutcome): void;
  /** A message was dead-lettered: refused (not the command service's), or failed. */
  deadLettered(type: string | undefined, refused: boolean): void;
}

/** Metrics that count nothing, for a consumer told of none. */
export const noConsumerMetrics: ConsumerMetrics = {
  delivered() {},
  released() {},
  handled() {},
  deadLettered() {},
};

/** What the projector reports of each batch. */
export interface ProjectionMetrics {
  batch(report: { events: number; commands: number; seconds: number }): void;
}

/** What the scraped gauges read. */
export interface WorkerState {
  write: postgres.Sql;
  read: postgres.Sql;
  /** The partitions the worker holds now. */
  partitionsOwned(): number;
}

/** Events counted past the checkpoint at most: the lag query stops there. */
const LAG_COUNT_LIMIT = 100_000;

/** The worker's metrics on registry. */
export function workerMetrics(
  registry: Registry,
  state: WorkerState,
): { consumer: ConsumerMetrics; projection: ProjectionMetrics } {
  const outcomes = new prom.Counter({
    name: `${metricPrefix}commands_outcomes_total`,
    help: "Commands the worker finished with, by type, outcome (applied, rejected, duplicate, " +
      "failed) and code (the rejection's code, DEAD_LETTERED or REFUSED for a failed one, " +
      "the first outcome's status for a duplicate).",
    labelNames: ["type", "outcome", "code"] as const,
    registers: [registry],
  });
  const toApplied = new prom.Histogram({
    name: `${metricPrefix}command_accepted_to_applied_seconds`,
    help: "How long applied commands took from the command service accepting them to being " +
      "projected and acknowledged, by type.",
    labelNames: ["type"] as const,
    buckets: durationBuckets,
    registers: [registry],
  });
  let inFlight = 0;
  readGauge(
    registry,
    "commands_in_flight",
    "Commands delivered to this worker and not yet acknowledged or dead-lettered.",
    () => inFlight,
  );
  const projected = new prom.Counter({
    name: `${metricPrefix}projection_events_total`,
    help: "Events this worker applied to the read model.",
    registers: [registry],
  });
  const batchSize = new prom.Histogram({
    name: `${metricPrefix}projection_batch_size`,
    help: "Events and command outcomes in each projection batch this worker applied.",
    buckets: batchSizeBuckets,
    registers: [registry],
  });
  const batchSeconds = new prom.Histogram({
    name: `${metricPrefix}projection_batch_seconds`,
    help: "How long each projection batch took, reading it from the write database included.",
    buckets: durationBuckets,
    registers: [registry],
  });
  const lagEvents = new prom.Gauge({
    name: `${metricPrefix}projection_lag_events`,
    help:
      `Events in the write database's log not yet in the read model (counted up to ${LAG_COUNT_LIMIT}).`,
    registers: [registry],
  });
  new prom.Gauge({
    name: `${metricPrefix}projection_lag_seconds`,
    help: "Age of the oldest event not yet in the read model; 0 when the read model is up to date.",
    registers: [registry],
    async collect() {
      const from = await readCheckpoints(state.read);
      const [lag] = await state.write<{ events: number; seconds: number | null }[]>`
        select count(*)::int as events,
          extract(epoch from clock_timestamp() - min(occurred_at))::float8 as seconds
        from (
          select occurred_at from events
          where (transaction_id, position) >
            (${from.events.transactionId.toString()}::xid8, ${from.events.position.toString()})
          order by transaction_id, position
          limit ${LAG_COUNT_LIMIT}
        ) as behind`;
      lagEvents.set(lag?.events ?? 0);
      this.set(Math.max(0, lag?.seconds ?? 0));
    },
  });
  readGauge(
    registry,
    "partitions_owned",
    "Command partitions this worker holds the lease of and consumes.",
    state.partitionsOwned,
  );
  readGauge(
    registry,
    "dead_letter_oldest_age_seconds",
    "Age of the oldest command the read model shows FAILED (dead-lettered and not " +
      "replayed since); 0 when there is none.",
    async () => {
      const [oldest] = await state.read<{ seconds: number | null }[]>`
        select extract(epoch from clock_timestamp() - min(handled_at))::float8 as seconds
        from command_view where status = 'FAILED'`;
      return Math.max(0, oldest?.seconds ?? 0);
    },
  );

  return {
    consumer: {
      delivered: () => inFlight++,
      released: (count) => inFlight = Math.max(0, inFlight - count),
      handled(envelope, outcome) {
        const type = envelope.type;
        switch (outcome.status) {
          case "APPLIED": {
            outcomes.inc({ type, outcome: "applied", code: "" });
            const accepted = Date.parse(envelope.issuedAt);
            if (Number.isFinite(accepted)) {
              toApplied.observe({ type }, Math.max(0, (Date.now() - accepted) / 1000));
            }
            return;
          }
          case "REJECTED":
            outcomes.inc({ type, outcome: "rejected", code: outcome.rejection.code });
            return;
          case "DUPLICATE":
            outcomes.inc({ type, outcome: "duplicate", code: outcome.previous.status });
        }
      },
      deadLettered(type, refused) {
        outcomes.inc({
          type: type ?? "unknown",
          outcome: "failed",
          code: refused ? "REFUSED" : "DEAD_LETTERED",
        });
      },
    },
    projection: {
      batch({ events, commands, seconds }) {
        projected.inc(events);
        batchSize.observe(events + commands);
        batchSeconds.observe(seconds);
      },
    },
  };
}
