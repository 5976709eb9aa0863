import { z } from "zod";
import {
  type AggregateType,
  aggregateTypeOf,
  type CommandPayloads,
  commandPayloads,
  type CommandType,
  commandTypes,
  idempotencyKey,
} from "./commands.ts";
import { COMMAND_SCHEMA_VERSION, headers } from "./topology.ts";

/**
 * The RabbitMQ message contract for commands: a JSON envelope in the body,
 * and AMQP properties that let a person read the message in the management UI.
 */
export interface CommandEnvelope<T extends CommandType = CommandType> {
  schemaVersion: typeof COMMAND_SCHEMA_VERSION;
  commandId: string;
  type: T;
  aggregateType: AggregateType;
  aggregateId: string;
  payload: CommandPayloads[T];
  /** ISO-8601 time the command service accepted the command. */
  issuedAt: string;
  actor: string;
  correlationId: string;
  /** W3C trace context of the request that issued the command, if any. */
  traceparent?: string;
  idempotencyKey?: string;
}

const envelopeShape = z.object({
  schemaVersion: z.literal(COMMAND_SCHEMA_VERSION),
  commandId: z.uuid(),
  type: z.enum(commandTypes as [CommandType, ...CommandType[]]),
  aggregateType: z.enum(["category", "product"]),
  aggregateId: z.uuid(),
  payload: z.unknown(),
  issuedAt: z.iso.datetime({ offset: true }),
  actor: z.string(),
  correlationId: z.string(),
  traceparent: z.string().optional(),
  // Held to the command service's rule, so that a key it would refuse is
  // dead-lettered on sight rather than reach the write database.
  idempotencyKey: idempotencyKey.optional(),
});

/** Why a message could not be read as a command. */
export class MalformedCommandError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MalformedCommandError";
  }
}

/** Reads a message body as a command envelope, or throws MalformedCommandError saying why. */
export function parseCommandEnvelope(body: Uint8Array): CommandEnvelope {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(body));
  } catch (cause) {
    throw new MalformedCommandError("Cannot read command: body is not JSON", { cause });
  }
  const envelope = envelopeShape.safeParse(json);
  if (!envelope.success) {
    throw new MalformedCommandError(
      `Cannot read command: ${z.prettifyError(envelope.error).replaceAll("\n", " ")}`,
    );
  }
  const { type, aggregateType, payload } = envelope.data;
  if (aggregateType !== aggregateTypeOf[type]) {
    throw new MalformedCommandError(
      `Cannot read command: ${type} addresses a ${aggregateTypeOf[type]}, not a ${aggregateType}`,
    );
  }
  const parsed = commandPayloads[type].safeParse(payload);
  if (!parsed.success) {
    throw new MalformedCommandError(
      `Cannot read ${type} payload: ${z.prettifyError(parsed.error).replaceAll("\n", " ")}`,
    );
  }
  return { ...envelope.data, payload: parsed.data } as CommandEnvelope;
}

/** The AMQP properties a command message is published with. */
export interface CommandMessageProperties {
  persistent: true;
  contentType: "application/json";
  messageId: string;
  type: CommandType;
  correlationId: string;
  appId: string;
  /** Seconds since the epoch, as AMQP wants it. */
  timestamp: number;
  headers: Record<string, string | number>;
}

/** The body and properties to publish for an envelope; appId names the publishing service. */
export function encodeCommandMessage(
  envelope: CommandEnvelope,
  appId: string,
): { body: Uint8Array; properties: CommandMessageProperties } {
  const messageHeaders: Record<string, string | number> = {
    [headers.schemaVersion]: envelope.schemaVersion,
    [headers.aggregateId]: envelope.aggregateId,
    [headers.actor]: envelope.actor,
  };
  if (envelope.traceparent) messageHeaders[headers.traceparent] = envelope.traceparent;
  return {
    body: new TextEncoder().encode(JSON.stringify(envelope)),
    properties: {
      persistent: true,
      contentType: "application/json",
      messageId: envelope.commandId,
      type: envelope.type,
      correlationId: envelope.correlationId,
      appId,
      timestamp: Math.floor(Date.parse(envelope.issuedAt) / 1000),
      headers: messageHeaders,
    },
  };
}
