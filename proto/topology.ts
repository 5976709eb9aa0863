import type { Channel } from "amqplib";

/** Version of the command envelope; carried in the body and in a header. */
export const COMMAND_SCHEMA_VERSION = 1;

/** Names a person sees in the RabbitMQ management UI. */
export const topology = {
  /** Topic exchange that every command is published to, routed by command type. */
  commandsExchange: "catalog.commands",
  /**
   * Consistent-hash exchange that spreads commands over the partition queues
   * by their x-aggregate-id header: every command for one aggregate lands in
   * the same partition, in the order RabbitMQ accepted it.
   */
  partitionsExchange: "catalog.commands.partitions",
  /**
   * How many partition queues there are (`catalog.commands.0` …). Each is
   * consumed by one worker at a time, so this bounds how many workers share
   * the load. Changing it moves aggregates between partitions, which is only
   * safe while every queue is empty.
   */
  partitions: 8,
  /**
   * Classic queue receiving a copy of every command, so the read side can show
   * a command as ACCEPTED before its partition's backlog reaches it. No
   * single-active-consumer here, so the UI's "Get messages" works on it.
   */
  acceptedQueue: "catalog.commands.accepted",
  /** Fanout exchange for commands that can never be processed. */
  deadLetterExchange: "catalog.commands.dead-letter",
  /** Where dead-lettered commands wait for an operator, with the reason in a header. */
  deadLetterQueue: "catalog.commands.dead-letter",
  /**
   * Deliveries after which the broker itself dead-letters a command: a backstop
   * for a message that crashes its worker every time. The worker dead-letters
   * unreadable messages itself on first sight, with the reason, and retries
   * passing faults without handing the message back, so a healthy command only
   * counts a delivery when a worker dies or loses RabbitMQ while holding it.
   */
  deliveryLimit: 20,
  /** The queue of a command service before partitioning; emptied and removed by workers. */
  legacyCommandsQueue: "catalog.commands",
} as const;

/** Name of partition queue `partition` (0-based). */
export function partitionQueue(partition: number): string {
  return `${topology.commandsExchange}.${partition}`;
}

/** Message headers of the contract. */
export const headers = {
  schemaVersion: "x-schema-version",
  aggregateId: "x-aggregate-id",
  actor: "x-actor",
  traceparent: "traceparent",
  /** Set by the worker on a dead-lettered message: why it could not be processed. */
  deadLetterReason: "x-dead-letter-reason",
  /** Set by the worker on a dead-lettered message: ISO-8601 time it gave up. */
  deadLetteredAt: "x-dead-lettered-at",
  /** Set by the worker on a dead-lettered message: the routing key it had. */
  originalRoutingKey: "x-original-routing-key",
  /**
   * Set by the worker on a dead-lettered message that had a user_id: the
   * RabbitMQ user that published it. The dead letter itself is published by
   * the worker's user, and RabbitMQ lets a message carry no other user_id.
   */
  originalUserId: "x-original-user-id",
  /**
   * Set by the worker on a dead-lettered message: the reference that the
   * command's FAILED status and the worker's log line carry too, so that a
   * client's report leads an operator to the dead letter and its reason.
   */
  deadLetterReference: "x-dead-letter-reference",
} as const;

/** Plugin that provides the `x-consistent-hash` exchange type; ships with RabbitMQ. */
export const consistentHashPlugin = "rabbitmq_consistent_hash_exchange";

/** RabbitMQ lacks a plugin the topology needs. */
export class MissingPluginError extends Error {
  constructor(plugin: string, options?: ErrorOptions) {
    super(
      `Cannot declare the RabbitMQ topology: the ${plugin} plugin is not enabled; ` +
        `enable it with \`rabbitmq-plugins enable ${plugin}\``,
      options,
    );
    this.name = "MissingPluginError";
  }
}

interface EventEmitterLike {
  on(event: string, listener: (error: unknown) => void): unknown;
  off(event: string, listener: (error: unknown) => void): unknown;
}

/**
 * Declares the exchanges and queues, with the same arguments every time, so
 * any service may call it at start-up. A broker without the consistent-hash
 * plugin closes the channel; that surfaces as MissingPluginError.
 */
export async function declareTopology(channel: Channel): Promise<void> {
  await channel.assertExchange(topology.deadLetterExchange, "fanout", { durable: true });
  await channel.assertQueue(topology.deadLetterQueue, {
    durable: true,
    arguments: { "x-queue-type": "quorum" },
  });
  await channel.bindQueue(topology.deadLetterQueue, topology.deadLetterExchange, "");

  await channel.assertExchange(topology.commandsExchange, "topic", { durable: true });
  await channel.assertQueue(topology.acceptedQueue, {
    durable: true,
    arguments: { "x-queue-type": "classic" },
  });
  await channel.bindQueue(topology.acceptedQueue, topology.commandsExchange, "#");

  // RabbitMQ answers an unknown exchange type by closing the whole
  // connection: the reason comes as the connection's error, and the
  // declaration itself only learns that its channel ended.
  const reasons: string[] = [];
  const connection = (channel as unknown as { connection?: EventEmitterLike }).connection;
  const onError = (error: unknown) => reasons.push(String(error));
  connection?.on("error", onError);
  try {
    // A message the exchange cannot route (no partition bound yet) goes to
    // the dead-letter queue, where an operator sees it, rather than vanish.
    // One without the header is routed somewhere; the worker dead-letters it.
    await channel.assertExchange(topology.partitionsExchange, "x-consistent-hash", {
      durable: true,
      alternateExchange: topology.deadLetterExchange,
      arguments: { "hash-header": headers.aggregateId },
    });
  } catch (error) {
    reasons.push(String(error));
    if (reasons.some((reason) => /unknown exchange type|invalid exchange type/i.test(reason))) {
      throw new MissingPluginError(consistentHashPlugin, { cause: error });
    }
    throw error;
  } finally {
    connection?.off("error", onError);
  }
  await channel.bindExchange(topology.partitionsExchange, topology.commandsExchange, "#");
  for (let partition = 0; partition < topology.partitions; partition++) {
    const queue = partitionQueue(partition);
    await channel.assertQueue(queue, {
      durable: true,
      arguments: {
        "x-queue-type": "quorum",
        "x-single-active-consumer": true,
        "x-dead-letter-exchange": topology.deadLetterExchange,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
        "x-delivery-limit": topology.deliveryLimit,
      },
    });
    // For a consistent-hash exchange the binding key is the partition's weight.
    await channel.bindQueue(queue, topology.partitionsExchange, "1");
  }
}
