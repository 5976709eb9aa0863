import { GraphQLError } from "graphql";
import type { CommandReceipt, CommandRequests, CommandStatus } from "@catalog/proto";
import type { GatewayContext } from "./context.ts";
import { uuidOf } from "./validation.ts";

/** How much longer than the wait itself a WaitForCommand call may take to answer. */
const WAIT_DEADLINE_MARGIN_MS = 1000;

/** The idempotency key of a mutation as a request field, when the client gave one. */
export function idempotencyOf(key: string | null | undefined): { idempotencyKey?: string } {
  return key ? { idempotencyKey: key } : {};
}

/**
 * The expected version of a mutation as a request field, when the client gave
 * one; the command service judges its value, so that a bad one is refused
 * like any other bad field.
 */
export function expectedVersionOf(
  version: number | null | undefined,
): { expectedVersion?: number } {
  return version == null ? {} : { expectedVersion: version };
}

/** One command to send: its type and the command service's request for it. */
export type CatalogCommand = {
  [T in keyof CommandRequests]: { type: T; request: CommandRequests[T] };
}[keyof CommandRequests];

/**
 * Sends one command and answers the command service's receipt as soon as the
 * command is durably queued, without waiting for the worker.
 *
 * @throws {GraphQLError} the translated gRPC error: INVALID_ARGUMENT with the
 *   offending fields, SERVICE_UNAVAILABLE, ...
 */
export async function submitCommand(
  context: GatewayContext,
  command: CatalogCommand,
): Promise<CommandReceipt> {
  const send = context.commands[command.type] as (request: unknown) => Promise<CommandReceipt>;
  return await send(command.request);
}

/**
 * Sends one command and waits, up to COMMAND_WAIT_TIMEOUT_MS, until its
 * effects are readable, so that the mutation can answer with what the read
 * side now shows (read-your-writes).
 *
 * @returns the status of the APPLIED command; the loaders are cleared, since
 *   what they hold may be stale now.
 * @throws {GraphQLError} with the rejection's code (CATEGORY_NAME_TAKEN, ...)
 *   and `commandId` if the command was REJECTED, plus `currentVersion` for a
 *   VERSION_CONFLICT; COMMAND_FAILED and `commandId` if it could not be
 *   processed; COMMAND_PENDING and `commandId` if it is not handled in time;
 *   the translated gRPC error (with `commandId` once the command has been
 *   accepted) if a service fails.
 */
export async function executeCommand(
  context: GatewayContext,
  command: CatalogCommand,
): Promise<CommandStatus> {
  const receipt = await submitCommand(context, command);
  const commandId = receipt.commandId;
  const timeoutMs = context.config.commandWaitTimeoutMs;

  let status: CommandStatus;
  try {
    status = await context.queries.WaitForCommand(
      { commandId, timeoutMs },
      { timeoutMs: timeoutMs + WAIT_DEADLINE_MARGIN_MS },
    );
  } catch (error) {
    if (!(error instanceof GraphQLError)) throw error;
    // The read side has not heard of the command yet: it is still queued.
    if (error.extensions.code === "NOT_FOUND") throw pending(commandId);
    throw new GraphQLError(
      `Cannot read the outcome of command ${commandId}: ${error.message}; ` +
        "it was accepted, so follow it with command(id)",
      { extensions: { ...error.extensions, commandId } },
    );
  }

  switch (status.status) {
    case "APPLIED":
      context.loaders.clearAll();
      return status;
    case "REJECTED": {
      const extensions: Record<string, unknown> = { code: status.code || "REJECTED", commandId };
      if (status.currentVersion !== undefined) extensions.currentVersion = status.currentVersion;
      throw new GraphQLError(status.message || `Command ${commandId} was rejected`, {
        extensions,
      });
    }
    case "FAILED":
      throw new GraphQLError(
        `Cannot apply command ${commandId}: it could not be processed: ${
          status.message || "no reason given"
        }`,
        { extensions: { code: "COMMAND_FAILED", commandId, reason: status.message } },
      );
    default:
      // ACCEPTED (the worker has not handled it yet) or PENDING (not even seen).
      throw pending(commandId);
  }
}

function pending(commandId: string): GraphQLError {
  return new GraphQLError(
    `Cannot return the result yet: command ${commandId} is accepted but not applied yet; follow it with command(id)`,
    { extensions: { code: "COMMAND_PENDING", commandId } },
  );
}

/**
 * Reads the entity an applied command made or changed, for the mutation's
 * answer. The command happened whatever the read does: when the read fails
 * (the query service late or away), the answer says so, APPLIED_NOT_READABLE
 * with the command's and the entity's ids, never a bare SERVICE_UNAVAILABLE
 * that a client would take for "nothing happened" and retry.
 */
export async function readApplied<T>(
  status: CommandStatus,
  read: () => Promise<T | undefined>,
): Promise<T> {
  let found: T | undefined;
  try {
    found = await read();
  } catch (error) {
    if (!(error instanceof GraphQLError)) throw error;
    throw new GraphQLError(
      `Command ${status.commandId} was applied, but its result cannot be read now: ` +
        `${error.message}; read ${status.aggregateId} again later`,
      {
        extensions: {
          code: "APPLIED_NOT_READABLE",
          commandId: status.commandId,
          aggregateId: status.aggregateId,
        },
      },
    );
  }
  if (found === undefined) throw vanished(status);
  return found;
}

/**
 * The error of an applied command whose entity the read side no longer shows
 * (a later command removed it in the meantime).
 */
export function vanished(status: CommandStatus): GraphQLError {
  return new GraphQLError(
    `Cannot read ${status.aggregateId} after command ${status.commandId}: it no longer exists`,
    { extensions: { code: "NOT_FOUND", commandId: status.commandId } },
  );
}

function orNull(text: string): string | null {
  return text === "" ? null : text;
}

/**
 * A command's status as the Command type shows it, the same for command(id)
 * and commandUpdated(id): the fields the read side leaves empty are null.
 */
export function commandOf(status: CommandStatus) {
  return {
    id: status.commandId,
    type: status.type,
    aggregateId: status.aggregateId,
    status: status.status,
    code: orNull(status.code),
    message: orNull(status.message),
    currentVersion: status.currentVersion ?? null,
    acceptedAt: status.acceptedAt,
    handledAt: orNull(status.handledAt),
  };
}

async function command(
  _parent: unknown,
  args: { id: string },
  context: GatewayContext,
) {
  const commandId = uuidOf(args.id);
  if (!commandId) return null;
  let status: CommandStatus;
  try {
    status = await context.queries.GetCommand({ commandId });
  } catch (error) {
    if (error instanceof GraphQLError && error.extensions.code === "NOT_FOUND") return null;
    throw error;
  }
  // GetCommand answers only what the read side has stored; PENDING would mean it knows nothing.
  if (status.status === "PENDING") return null;
  return commandOf(status);
}

/** The `command(id)` query, which follows a command after a submit mutation or COMMAND_PENDING. */
export const commandResolvers = {
  Query: { command },
};
