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

/** Why, when and under which reference a message is dead-lettered. */
export interface DeadLetterMark {
  /** x-dead-letter-reason: the whole reason, for operators. */
  reason: string;
  /** x-dead-lettered-at. */
  at: Date;
  /** x-dead-letter-reference: what the command's FAILED status shows clients instead of the reason. */
  reference: string;
}

/**
 * The properties the worker dead-letters a message with: persistent, its
 * original properties and headers, and headers more that say why
 * (x-dead-letter-reason), when (x-dead-lettered-at), under which reference
 * (x-dead-letter-reference), where it was going (x-original-routing-key) and,
 * if it said, who published it (x-original-user-id), which the dead-letter
 * tools read back. A header the message had already (one dead-lettered
 * before, then replayed) is replaced; one it should not have had is dropped.
 */
export function deadLetterProperties(message: Message, dead: DeadLetterMark): Options.Publish {
  const original = message.properties;
  const { [headers.originalUserId]: _claimed, ...originalHeaders } = original.headers ?? {};
  const properties: Options.Publish = {
    persistent: true,
    headers: {
      ...originalHeaders,
      [headers.deadLetterReason]: dead.reason,
      [headers.deadLetteredAt]: dead.at.toISOString(),
      [headers.deadLetterReference]: dead.reference,
      [headers.originalRoutingKey]: message.fields.routingKey,
      // Only what RabbitMQ vouched for: a header saying so could be anyone's.
      ...(original.userId ? { [headers.originalUserId]: original.userId } : {}),
    },
  };
  for (const key of kept) {
    if (original[key] !== undefined) properties[key] = original[key];
  }
  return properties;
}
