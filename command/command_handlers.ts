import {
  aggregateTypeOf,
  COMMAND_SCHEMA_VERSION,
  type CommandEnvelope,
  type CommandReceipt,
  type CommandRequests,
  type CommandType,
  encodeCommandMessage,
  topology,
} from "@catalog/proto";
import type { Options } from "amqplib";
import { inSpan, SpanKind, traceparentOf } from "@catalog/runtime";
import {
  CallerGoneError,
  CommandOutcomeUnknownError,
  InvalidCommandError,
  PublishUnconfirmedError,
} from "./errors.ts";
import { fingerprintOf } from "./fingerprint.ts";
import { COMMAND_ID_NAMESPACE, uuidV5 } from "./uuid_v5.ts";
import { idempotencyKeyErrors, validateCommand } from "./validate_command.ts";

/** Who and what a request came from, read from its gRPC metadata. */
export interface RequestContext {
  /** The subject of the caller's verified token; default "anonymous". */
  actor?: string;
  /** From `x-correlation-id`; default the command id. */
  correlationId?: string;
  /** From `traceparent` (W3C trace context), passed on as is. */
  traceparent?: string;
  /**
   * Told the command id just before the command is published, so that the
   * caller knows it even if the answer never reaches it. Default: nobody.
   */
  announce?: (commandId: string) => void;
  /** Whether the caller has given up (cancelled, or past its deadline). Default: never. */
  abandoned?: () => boolean;
}

/** Where accepted commands go: resolves once the broker has them durably. */
export interface CommandPublisher {
  publish(
    exchange: string,
    routingKey: string,
    body: Uint8Array,
    properties: Options.Publish,
  ): Promise<void>;
}

/** What createCommandHandlers() needs. */
export interface CommandHandlersOptions {
  publisher: CommandPublisher;
  /** Stamps issuedAt and acceptedAt. */
  clock: () => Date;
  /** appId of published messages. Default "catalog-command". */
  appId?: string;
}

/** One handler per RPC of catalog.v1.CommandService. */
export type CommandHandlers = {
  [T in CommandType]: (
    request: CommandRequests[T],
    context: RequestContext,
  ) => Promise<CommandReceipt>;
};

/** Leaves out the fields that are undefined, so that absent means absent. */
function present(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

/**
 * Builds the handlers: each maps its request to the command's payload,
 * validates it, stamps it with ids and publishes it, answering with a receipt
 * only after the broker's confirm.
 */
export function createCommandHandlers(options: CommandHandlersOptions): CommandHandlers {
  const appId = options.appId ?? "catalog-command";

  async function accept<T extends CommandType>(
    type: T,
    fields: Record<string, unknown>,
    idempotencyKey: string | undefined,
    context: RequestContext,
  ): Promise<CommandReceipt> {
    const key = idempotencyKey ?? "";
    const keyErrors = idempotencyKeyErrors(key);
    let payload;
    try {
      payload = validateCommand(type, fields);
    } catch (error) {
      if (error instanceof InvalidCommandError && keyErrors.length > 0) {
        throw new InvalidCommandError(type, [...error.fieldErrors, ...keyErrors]);
      }
      throw error;
    }
    if (keyErrors.length > 0) throw new InvalidCommandError(type, keyErrors);
    const creates = type === "CreateCategory" || type === "CreateProduct";
    // The same key and the same request give the same command id, which the
    // worker applies once; the same key with another request (an expected
    // version included) gives another id, which the worker refuses as
    // IDEMPOTENCY_KEY_REUSED.
    const commandId = key
      ? await uuidV5(`${key}\n${await fingerprintOf(type, payload)}`, COMMAND_ID_NAMESPACE)
      : crypto.randomUUID();
    let aggregateId: string;
    if (!creates) aggregateId = (payload as { id: string }).id;
    else if (key) aggregateId = await uuidV5(`${type}:${key}:aggregate`, COMMAND_ID_NAMESPACE);
    else aggregateId = crypto.randomUUID();

    const envelope: CommandEnvelope<T> = {
      schemaVersion: COMMAND_SCHEMA_VERSION,
      commandId,
      type,
      aggregateType: aggregateTypeOf[type],
      aggregateId,
      payload,
      issuedAt: options.clock().toISOString(),
      actor: context.actor || "anonymous",
      correlationId: context.correlationId || commandId,
    };
    if (key) envelope.idempotencyKey = key;

    // A caller that gave up hears nothing more: publishing now would queue a
    // command it believes was never sent.
    if (context.abandoned?.()) throw new CallerGoneError(type);
    context.announce?.(commandId);
    try {
      await inSpan(`publish ${topology.commandsExchange}`, {
        kind: SpanKind.PRODUCER,
        attributes: {
          "messaging.system": "rabbitmq",
          "messaging.operation.type": "send",
          "messaging.destination.name": topology.commandsExchange,
          "messaging.rabbitmq.destination.routing_key": type,
          "messaging.message.id": commandId,
          "catalog.command.type": type,
        },
      }, async () => {
        // The worker's spans continue from the publish (or, with tracing
        // off, from the caller's own traceparent, passed on as is).
        const traceparent = traceparentOf() ?? context.traceparent;
        if (traceparent) envelope.traceparent = traceparent;
        const { body, properties } = encodeCommandMessage(envelope as CommandEnvelope, appId);
        await options.publisher.publish(topology.commandsExchange, type, body, properties);
      });
    } catch (error) {
      if (error instanceof PublishUnconfirmedError) {
        throw new CommandOutcomeUnknownError(commandId, error.message, { cause: error });
      }
      throw error;
    }
    // The receipt carries the envelope's issuedAt, so that it agrees with the
    // acceptedAt the read side later reports for the same command.
    return { commandId, type, aggregateId, status: "ACCEPTED", acceptedAt: envelope.issuedAt };
  }

  return {
    CreateCategory: (request, context) =>
      accept("CreateCategory", { name: request.name }, request.idempotencyKey, context),
    UpdateCategory: (request, context) =>
      accept(
        "UpdateCategory",
        present({ id: request.id, name: request.name, expectedVersion: request.expectedVersion }),
        request.idempotencyKey,
        context,
      ),
    DeleteCategory: (request, context) =>
      accept(
        "DeleteCategory",
        present({ id: request.id, expectedVersion: request.expectedVersion }),
        request.idempotencyKey,
        context,
      ),
    CreateProduct: (request, context) =>
      accept(
        "CreateProduct",
        { name: request.name, price: request.price, categoryId: request.categoryId },
        request.idempotencyKey,
        context,
      ),
    UpdateProduct: (request, context) =>
      accept(
        "UpdateProduct",
        present({
          id: request.id,
          name: request.name,
          price: request.price,
          categoryId: request.categoryId,
          expectedVersion: request.expectedVersion,
        }),
        request.idempotencyKey,
        context,
      ),
    DeleteProduct: (request, context) =>
      accept(
        "DeleteProduct",
        present({ id: request.id, expectedVersion: request.expectedVersion }),
        request.idempotencyKey,
        context,
      ),
  };
}
