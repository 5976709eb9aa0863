import type { Message, Options } from "amqplib";
import { headers } from "@catalog/proto";

/** The properties a dead letter keeps from its original message; not userId, which RabbitMQ checks. */
const kept = [
  "messageId",
  "type",
  "correlationId",
  "appId",
  "timestamp",
  "contentType",
  "contentEncoding",
] as const;

/**
 * The properties the worker dead-letters a message with: persistent, its
 * original properties and headers, and three headers more that say why
 * (x-dead-letter-reason), when (x-dead-lettered-at) and where it was going
 * (x-original-routing-key), which the dead-letter tools read back.
 */
export function deadLetterProperties(
  message: Message,
  dead: { reason: string; at: Date },
): Options.Publish {
  const original = message.properties;
  const properties: Options.Publish = {
    persistent: true,
    headers: {
      ...original.headers,
      [headers.deadLetterReason]: dead.reason,
      [headers.deadLetteredAt]: dead.at.toISOString(),
      [headers.originalRoutingKey]: message.fields.routingKey,
    },
  };
  for (const key of kept) {
    if (original[key] !== undefined) properties[key] = original[key];
  }
  return properties;
}
