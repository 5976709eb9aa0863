/**
 * Reading a delivered message as a command: whether the worker may apply
 * it, or must dead-letter it, and why. Pure: no RabbitMQ, no database.
 */
import type { Message } from "amqplib";
import {
  type CommandEnvelope,
  headers,
  MalformedCommandError,
  parseCommandEnvelope,
} from "@catalog/proto";
import type { AcceptedCommand } from "../command_status.ts";

/** What reading one message found: a command, or the reason it never can be one. */
export type CommandReading =
  | { kind: "command"; envelope: CommandEnvelope }
  | { kind: "unreadable"; reason: string };

/**
 * Reads a message as a command. It is unreadable when the body breaks the
 * envelope's contract, or when the message's id, its x-aggregate-id header or
 * the payload's id disagree with the envelope; the reason is the message
 * that goes with its dead letter.
 *
 * @throws whatever is not a MalformedCommandError: a bug, not a bad message.
 */
export function readCommand(message: Message): CommandReading {
  try {
    return { kind: "command", envelope: envelopeOf(message) };
  } catch (error) {
    if (!(error instanceof MalformedCommandError)) throw error;
    return { kind: "unreadable", reason: error.message };
  }
}

/** Messages read in order, parted into commands and those to dead-letter. */
export interface CommandReadings<M extends Message> {
  commands: { message: M; envelope: CommandEnvelope }[];
  unreadable: { message: M; reason: string }[];
}

/** Reads each message (readCommand()), keeping their order within each part. */
export function readCommands<M extends Message>(messages: readonly M[]): CommandReadings<M> {
  const readings: CommandReadings<M> = { commands: [], unreadable: [] };
  for (const message of messages) {
    const reading = readCommand(message);
    if (reading.kind === "command") {
      readings.commands.push({ message, envelope: reading.envelope });
    } else readings.unreadable.push({ message, reason: reading.reason });
  }
  return readings;
}

/**
 * The command an accepted copy names, to show as ACCEPTED; undefined for a
 * copy that is no command (its partition's copy is dead-lettered with the
 * reason, so there is nothing to show).
 */
export function acceptedCommandOf(message: Message): AcceptedCommand | undefined {
  const reading = readCommand(message);
  if (reading.kind === "unreadable") return undefined;
  const { envelope } = reading;
  return {
    commandId: envelope.commandId,
    type: envelope.type,
    aggregateId: envelope.aggregateId,
    acceptedAt: envelope.issuedAt,
  };
}

function envelopeOf(message: Message): CommandEnvelope {
  const envelope = parseCommandEnvelope(message.content);
  const messageId = message.properties.messageId;
  if (messageId !== undefined && messageId !== envelope.commandId) {
    throw new MalformedCommandError(
      `Cannot read command: message_id "${messageId}" differs from commandId "${envelope.commandId}"`,
    );
  }
  // The partition was chosen by this header: a command whose header names
  // another aggregate (or none) may sit in another partition than the rest of
  // its aggregate's commands, so applying it could break their order.
  const headerId = message.properties.headers?.[headers.aggregateId];
  if (headerId !== envelope.aggregateId) {
    throw new MalformedCommandError(
      headerId === undefined
        ? `Cannot read ${envelope.type}: the message has no ${headers.aggregateId} header`
        : `Cannot read ${envelope.type}: ${headers.aggregateId} "${headerId}" differs from aggregateId "${envelope.aggregateId}"`,
    );
  }
  const payloadId = (envelope.payload as { id?: string }).id;
  if (payloadId !== undefined && payloadId !== envelope.aggregateId) {
    throw new MalformedCommandError(
      `Cannot read ${envelope.type}: payload id "${payloadId}" differs from aggregateId "${envelope.aggregateId}"`,
    );
  }
  return envelope;
}
