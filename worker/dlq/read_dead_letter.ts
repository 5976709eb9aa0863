/**
 * Reading a message of the dead-letter queue for an operator, whoever
 * dead-lettered it. Pure: no RabbitMQ.
 *
 * Two kinds of message land in the queue. The worker dead-letters a command it
 * can never process, with `x-dead-letter-reason`, `x-dead-lettered-at` and
 * `x-original-routing-key`. RabbitMQ itself dead-letters a command that
 * exceeded the delivery limit of the queue it waited in, with its own
 * `x-death` and `x-first-death-*` headers instead.
 */
import type { Message } from "amqplib";
import { headers, topology } from "@catalog/proto";

/** A message in the dead-letter queue, as an operator reads it. */
export interface DeadLetter {
  /** The command id (`message_id`, else the body's `commandId`); undefined if it has neither. */
  commandId: string | undefined;
  /** The command type (`type`, else the body's `type`). */
  type: string | undefined;
  /** The aggregate it addresses (`x-aggregate-id`, else the body's `aggregateId`). */
  aggregateId: string | undefined;
  /** When it was dead-lettered, if the message says. */
  deadLetteredAt: Date | undefined;
  /** Why it was dead-lettered: the worker's reason, or what RabbitMQ recorded, in words. */
  reason: string;
  /** Who dead-lettered it: the worker, RabbitMQ, or unknown when neither left its headers. */
  deadLetteredBy: "worker" | "rabbitmq" | "unknown";
  /** The routing key it had on the commands exchange, which a replay uses again. */
  routingKey: string;
}

/** One entry of RabbitMQ's `x-death` header, as amqplib decodes it. */
interface Death {
  reason?: unknown;
  queue?: unknown;
  time?: unknown;
  "routing-keys"?: unknown;
}

function text(value: unknown): string | undefined {
  if (typeof value === "string" && value !== "") return value;
  if (value instanceof Uint8Array && value.length > 0) return new TextDecoder().decode(value);
  return undefined;
}

/** The most recent death RabbitMQ recorded; it puts that one first. */
function latestDeath(messageHeaders: Record<string, unknown>): Death | undefined {
  const deaths = messageHeaders["x-death"];
  if (!Array.isArray(deaths) || deaths.length === 0) return undefined;
  const death: unknown = deaths[0];
  return typeof death === "object" && death !== null ? death as Death : undefined;
}

/** An AMQP timestamp (seconds), as amqplib decodes it in a header table. */
function timestampOf(value: unknown): Date | undefined {
  const seconds = typeof value === "object" && value !== null && "value" in value
    ? (value as { value: unknown }).value
    : value;
  return typeof seconds === "number" ? new Date(seconds * 1000) : undefined;
}

function dateOf(value: unknown): Date | undefined {
  const iso = text(value);
  if (iso === undefined) return undefined;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** RabbitMQ's reason for a dead-lettering, in words. */
function describeDeath(death: Death): string {
  const queue = text(death.queue) ?? "(unknown queue)";
  const reason = text(death.reason);
  switch (reason) {
    case "delivery_limit":
      return `Exceeded the delivery limit of queue ${queue}`;
    case "rejected":
      return `Rejected without requeueing by a consumer of queue ${queue}`;
    case "expired":
      return `Expired in queue ${queue}`;
    case "maxlen":
      return `Overflowed the length limit of queue ${queue}`;
    default:
      return `Dead-lettered by RabbitMQ from queue ${queue} (reason ${reason ?? "not given"})`;
  }
}

/** The envelope fields an operator needs, from a body that may not be a valid envelope. */
function bodyFields(content: Uint8Array): Record<string, string | undefined> {
  try {
    const body: unknown = JSON.parse(new TextDecoder().decode(content));
    if (typeof body !== "object" || body === null) return {};
    const { commandId, type, aggregateId } = body as Record<string, unknown>;
    return { commandId: text(commandId), type: text(type), aggregateId: text(aggregateId) };
  } catch {
    return {};
  }
}

/** Reads a dead-lettered message for an operator, whoever dead-lettered it. */
export function readDeadLetter(message: Message): DeadLetter {
  const properties = message.properties;
  const messageHeaders: Record<string, unknown> = properties.headers ?? {};
  const body = bodyFields(message.content);
  const common = {
    commandId: text(properties.messageId) ?? body.commandId,
    type: text(properties.type) ?? body.type,
    aggregateId: text(messageHeaders[headers.aggregateId]) ?? body.aggregateId,
  };
  const workerReason = text(messageHeaders[headers.deadLetterReason]);
  if (workerReason !== undefined) {
    return {
      ...common,
      deadLetteredAt: dateOf(messageHeaders[headers.deadLetteredAt]),
      reason: workerReason,
      deadLetteredBy: "worker",
      routingKey: text(messageHeaders[headers.originalRoutingKey]) ?? message.fields.routingKey,
    };
  }
  const death = latestDeath(messageHeaders);
  if (death !== undefined) {
    const routingKeys = death["routing-keys"];
    const routingKey = Array.isArray(routingKeys) ? text(routingKeys[0]) : undefined;
    return {
      ...common,
      deadLetteredAt: timestampOf(death.time),
      reason: describeDeath(death),
      deadLetteredBy: "rabbitmq",
      routingKey: routingKey ?? message.fields.routingKey,
    };
  }
  // A message that an exchange with the dead-letter exchange as its alternate
  // could not route arrives with neither kind of header, naming that exchange.
  const exchange = message.fields.exchange;
  const unroutable = exchange !== "" && exchange !== topology.deadLetterExchange;
  return {
    ...common,
    deadLetteredAt: undefined,
    reason: unroutable ? `Routed to no queue by exchange ${exchange}` : "No reason recorded",
    deadLetteredBy: unroutable ? "rabbitmq" : "unknown",
    routingKey: message.fields.routingKey,
  };
}
