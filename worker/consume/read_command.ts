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
  topology,
} from "@catalog/proto";
import type { AcceptedCommand } from "../command_status.ts";

/** Whom the worker takes commands from. */
export interface CommandTrust {
  /**
   * The command service's RabbitMQ user: a command's user_id must name it.
   * RabbitMQ refuses a user_id that is not the publishing connection's user,
   * so no one else can claim it.
   */
  publisherUser: string;
}

/**
 * What reading one message found: a command; the reason it never can be
 * one; or the reason it is refused, because it did not come from the
 * command service the way the command service sends commands (with the
 * envelope it carries, if it has a readable one).
 */
export type CommandReading =
  | { kind: "command"; envelope: CommandEnvelope }
  | { kind: "unreadable"; reason: string }
  | { kind: "refused"; reason: string; envelope?: CommandEnvelope };

function describeExchange(exchange: string): string {
  return exchange === "" ? "the default exchange" : `exchange "${exchange}"`;
}

/**
 * Why a message may not be taken as a command whatever it says, or
 * undefined: it names no publishing user, or another than the command
 * service's; it has no message_id, which the command service always sets;
 * or it was not published to the commands exchange. Only that exchange
 * routes a command, by its aggregate, to the partition queue that holds all
 * of that aggregate's commands in order; one put straight into a partition
 * queue (through the default exchange, or an exchange bound to the queue)
 * may sit in another partition than its aggregate's other commands.
 */
export function refusalOf(message: Message, trust: CommandTrust): string | undefined {
  const { userId, messageId } = message.properties;
  const expected = `the command service's user "${trust.publisherUser}"`;
  if (userId === undefined || userId === "") {
    return `Refused: published without a RabbitMQ user_id, not by ${expected}`;
  }
  if (userId !== trust.publisherUser) {
    return `Refused: published by RabbitMQ user "${userId}", not by ${expected}`;
  }
  if (messageId === undefined || messageId === "") {
    return "Refused: the message has no message_id, and the command service publishes every " +
      "command with its command id as message_id";
  }
  const { exchange, routingKey } = message.fields;
  if (exchange !== topology.commandsExchange) {
    return `Refused: it came from ${describeExchange(exchange)} (routing key "${routingKey}"), ` +
      `not through ${topology.commandsExchange}, so it may sit in another partition than its ` +
      "aggregate's other commands";
  }
  return undefined;
}

/**
 * Reads a message as a command. It is refused (refusalOf()) when it did not
 * come from the command service through the commands exchange; unreadable
 * when the body breaks the envelope's contract, or when the message's id, its
 * x-aggregate-id header or the payload's id disagree with the envelope. The
 * reason is the message that goes with its dead letter.
 *
 * @throws whatever is not a MalformedCommandError: a bug, not a bad message.
 */
export function readCommand(message: Message, trust: CommandTrust): CommandReading {
  const refusal = refusalOf(message, trust);
  if (refusal !== undefined) {
    try {
      return { kind: "refused", reason: refusal, envelope: envelopeOf(message) };
    } catch (error) {
      if (!(error instanceof MalformedCommandError)) throw error;
      return { kind: "refused", reason: refusal };
    }
  }
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
  refused: { message: M; reason: string; envelope?: CommandEnvelope }[];
}

/** Reads each message (readCommand()), keeping their order within each part. */
export function readCommands<M extends Message>(
  messages: readonly M[],
  trust: CommandTrust,
): CommandReadings<M> {
  const readings: CommandReadings<M> = { commands: [], unreadable: [], refused: [] };
  for (const message of messages) {
    const reading = readCommand(message, trust);
    if (reading.kind === "command") {
      readings.commands.push({ message, envelope: reading.envelope });
    } else if (reading.kind === "refused") {
      readings.refused.push({ message, reason: reading.reason, envelope: reading.envelope });
    } else readings.unreadable.push({ message, reason: reading.reason });
  }
  return readings;
}

/**
 * The command an accepted copy names, to show as ACCEPTED; undefined for a
 * copy that is no command (its partition's copy is dead-lettered with the
 * reason, so there is nothing to show) or that the worker refuses (which no
 * one may make look accepted).
 */
export function acceptedCommandOf(
  message: Message,
  trust: CommandTrust,
): AcceptedCommand | undefined {
  const reading = readCommand(message, trust);
  if (reading.kind !== "command") return undefined;
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
