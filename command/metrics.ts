/**
 * The command service's metrics, beside its gRPC calls' (grpcServerMetrics()):
 * commands accepted by type, how long RabbitMQ takes to confirm them, and the
 * state of its broker connection.
 */
import { durationBuckets, metricPrefix, prom, readGauge, type Registry } from "@catalog/runtime";
import type { QueueCounts } from "./amqp_publisher.ts";

/** What the command service counts as it works. */
export interface CommandServiceMetrics {
  /** A command of this type was confirmed by RabbitMQ and answered ACCEPTED. */
  accepted(type: string): void;
  /** RabbitMQ answered a publish after `seconds`: confirmed, or not ("nacked", "timeout", …). */
  confirmed(seconds: number, outcome: string): void;
  /** What RabbitMQ last counted of the catalog's queues; undefined when it cannot be asked. */
  queues(counts: ReadonlyMap<string, QueueCounts> | undefined): void;
}

/** What the gauges read when scraped. */
export interface CommandServiceState {
  connected(): boolean;
  blocked(): boolean;
  /** How many partition queues have a worker consuming them; undefined until first counted. */
  partitionsConsumed(): number | undefined;
}

/** Registers the command service's metrics on registry. */
export function commandServiceMetrics(
  registry: Registry,
  state: CommandServiceState,
): CommandServiceMetrics {
  const accepted = new prom.Counter({
    name: `${metricPrefix}commands_accepted_total`,
    help: "Commands the command service accepted (RabbitMQ confirmed them), by type.",
    labelNames: ["type"] as const,
    registers: [registry],
  });
  const confirms = new prom.Histogram({
    name: `${metricPrefix}rabbitmq_publish_confirm_seconds`,
    help: "How long RabbitMQ took to answer a command's publish, by outcome " +
      "(confirmed, nacked, closed, timeout).",
    labelNames: ["outcome"] as const,
    buckets: durationBuckets,
    registers: [registry],
  });
  readGauge(
    registry,
    "rabbitmq_connected",
    "1 while the command service has a RabbitMQ connection to publish on, else 0.",
    () => state.connected() ? 1 : 0,
  );
  readGauge(
    registry,
    "rabbitmq_publishers_blocked",
    "1 while RabbitMQ blocks the command service's publishing (a memory or disk alarm), else 0.",
    () => state.blocked() ? 1 : 0,
  );
  readGauge(
    registry,
    "partitions_consumed",
    "How many of the command partitions have a worker consuming them.",
    () => state.partitionsConsumed(),
  );
  const messages = new prom.Gauge({
    name: `${metricPrefix}queue_messages`,
    help: "Messages ready in each of the catalog's queues (the command partitions, the dead " +
      "letters, the accepted copies), as RabbitMQ counted them at the last check.",
    labelNames: ["queue"] as const,
    registers: [registry],
  });
  const consumers = new prom.Gauge({
    name: `${metricPrefix}queue_consumers`,
    help: "Consumers of each of the catalog's queues at the last check.",
    labelNames: ["queue"] as const,
    registers: [registry],
  });
  return {
    accepted: (type) => accepted.inc({ type }),
    confirmed: (seconds, outcome) => confirms.observe({ outcome }, seconds),
    queues(counts) {
      messages.reset();
      consumers.reset();
      for (const [queue, count] of counts ?? []) {
        messages.set({ queue }, count.messages);
        consumers.set({ queue }, count.consumers);
      }
    },
  };
}
