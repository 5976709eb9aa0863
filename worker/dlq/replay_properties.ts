import type { Message, Options } from "amqplib";
import { headers } from "@catalog/proto";

/**
 * Headers that say how a message was dead-lettered, or how often it was
 * delivered, rather than what the command is: a replay drops them.
 */
export function isDeadLetterHeader(name: string): boolean {
  return name === headers.deadLetterReason || name === headers.deadLetteredAt ||
    name === headers.originalRoutingKey || name === "x-death" || name === "x-delivery-count" ||
    name.startsWith("x-first-death-") || name.startsWith("x-last-death-");
}

/** The properties a replay keeps: not userId, which RabbitMQ refuses unless it is the connection's. */
const kept = [
  "contentType",
  "contentEncoding",
  "correlationId",
  "replyTo",
  "expiration",
  "messageId",
  "timestamp",
  "type",
  "appId",
  "priority",
] as const;

/**
 * The properties to republish a dead letter with: the original ones, without
 * the dead-letter headers, and mandatory, so that a replay the commands
 * exchange routes nowhere comes back rather than vanishing while its dead
 * letter is acknowledged.
 */
export function replayProperties(message: Message): Options.Publish {
  const original = message.properties;
  const keptHeaders: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(original.headers ?? {})) {
    if (!isDeadLetterHeader(name)) keptHeaders[name] = value;
  }
  const properties: Options.Publish = {
    // Commands are persistent; a message that somehow was not stays as it was.
    deliveryMode: original.deliveryMode === 1 ? 1 : 2,
    mandatory: true,
    headers: keptHeaders,
  };
  for (const key of kept) {
    if (original[key] !== undefined) properties[key] = original[key];
  }
  return properties;
}
