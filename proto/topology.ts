import type { Channel } from "amqplib";

/** Version of the command envelope; carried in the body and in a header. */
export const COMMAND_SCHEMA_VERSION = 1;

/** Names a person sees in the RabbitMQ management UI. */
export const topology = {
  /** Topic exchange that every command is published to, routed by command type. */
  commandsExchange: "catalog.commands",
  /** Quorum queue the workers consume commands from. */
  commandsQueue: "catalog.commands",
  /** Fanout exchange for commands that can never be processed. */
  deadLetterExchange: "catalog.commands.dead-letter",
  /** Where dead-lettered commands wait for an operator, with the reason in a header. */
  deadLetterQueue: "catalog.commands.dead-letter",
  /**
   * Deliveries after which the broker itself dead-letters a command: a backstop
   * for a message that crashes its worker every time. The worker dead-letters
   * unreadable messages itself on first sight, with the reason.
   */
  deliveryLimit: 20,
} as const;

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
} as const;

/**
 * Declares the exchanges and queues, with the same arguments every time, so
 * any service may call it at start-up.
 */
export async function declareTopology(channel: Channel): Promise<void> {
  await channel.assertExchange(topology.deadLetterExchange, "fanout", { durable: true });
  await channel.assertQueue(topology.deadLetterQueue, {
    durable: true,
    arguments: { "x-queue-type": "quorum" },
  });
  await channel.bindQueue(topology.deadLetterQueue, topology.deadLetterExchange, "");

  await channel.assertExchange(topology.commandsExchange, "topic", { durable: true });
  await channel.assertQueue(topology.commandsQueue, {
    durable: true,
    arguments: {
      "x-queue-type": "quorum",
      "x-dead-letter-exchange": topology.deadLetterExchange,
      "x-dead-letter-strategy": "at-least-once",
      "x-overflow": "reject-publish",
      "x-delivery-limit": topology.deliveryLimit,
    },
  });
  await channel.bindQueue(topology.commandsQueue, topology.commandsExchange, "#");
}
