import type { Message, Options } from "amqplib";
import { headers } from "@catalog/proto";

/**
 * Headers that say how a message was dead-lettered, or how often it was
 * delivered, rather than what the command is: a replay drops them.
 */
export function isDeadLetterHeader(name: string): boolean {
  return name === headers.deadLetterReason || name === headers.deadLetteredAt ||
    name === headers.deadLetterReference || name === headers.originalRoutingKey ||
    name === headers.originalUserId || name === "x-death" || name === "x-delivery-count" ||
    name.startsWith("x-first-death-") || name.startsWith("x-last-death-");
}

/**
 * The RabbitMQ user that published a dead letter's command, or undefined if
 * it does not say: its user_id, which RabbitMQ keeps on what it dead-letters
 * itself, else the x-original-user-id the worker records on its own dead
 * letters (which are published by the worker's user, so cannot carry
 * another user_id).
 */
export function publisherOf(message: Message): string | undefined {
  const userId = message.properties.userId;
  if (typeof userId === "string" && userId !== "") return userId;
  const recorded = message.properties.headers?.[headers.originalUserId];
  if (typeof recorded === "string" && recorded !== "") return recorded;
  if (recorded instanceof Uint8Array && recorded.length > 0) {
    return new TextDecoder().decode(recorded);
  }
  return undefined;
}

/**
 * The properties a replay keeps. Not userId: the replay sets it anew, to the
 * command service's user (replayProperties()).
 */
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

/** Options of replayProperties(). */
export interface ReplayPropertiesOptions {
  /**
   * The user_id to publish with: the command service's user, whom the worker
   * takes commands from. RabbitMQ accepts it only from a connection of that
   * user, or of a user with the `impersonator` tag.
   */
  userId: string;
}

/**
 * The properties to republish a dead letter with: the original ones, without
 * the dead-letter headers, with the command service's user as user_id, and
 * mandatory, so that a replay the commands exchange routes nowhere comes back
 * rather than vanishing while its dead letter is acknowledged.
 */
export function replayProperties(
  message: Message,
  options: ReplayPropertiesOptions,
): Options.Publish {
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
    userId: options.userId,
  };
  for (const key of kept) {
    if (original[key] !== undefined) properties[key] = original[key];
  }
  return properties;
}
