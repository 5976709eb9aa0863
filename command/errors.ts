import type { CommandType, FieldError } from "@catalog/proto";

/** A command request that breaks the input rules; nothing was published. */
export class InvalidCommandError extends Error {
  readonly type: CommandType;
  readonly fieldErrors: FieldError[];

  constructor(type: CommandType, fieldErrors: FieldError[]) {
    const details = fieldErrors.map(({ field, message }) => `${field}: ${message}`).join("; ");
    super(`Cannot accept ${type}: ${details}`);
    this.name = "InvalidCommandError";
    this.type = type;
    this.fieldErrors = fieldErrors;
  }
}

/**
 * RabbitMQ did not take a message, and certainly has not queued it: it is
 * not connected, it blocks publishers (a memory or disk alarm), or it
 * refused the message (a nack).
 */
export class BrokerUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BrokerUnavailableError";
  }
}

/**
 * More commands wait for the workers than COMMAND_BACKLOG_LIMIT allows: this
 * one was refused before it was published, so "accepted" keeps meaning
 * "applied soon".
 */
export class BacklogFullError extends Error {
  constructor(type: CommandType, waiting: number, limit: number) {
    super(
      `Cannot accept ${type}: ${waiting} commands wait for the workers, at most ${limit}; ` +
        "nothing was queued, try again later",
    );
    this.name = "BacklogFullError";
  }
}

/**
 * A message was handed to RabbitMQ but its confirm did not come (in time, or
 * before the channel closed): it may have been queued, or not.
 */
export class PublishUnconfirmedError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PublishUnconfirmedError";
  }
}

/**
 * A command whose fate is unknown: it may be queued (and then will be
 * applied) or not. The caller learns its id, to follow it with command(id)
 * or to send it again with the same idempotency key.
 */
export class CommandOutcomeUnknownError extends Error {
  readonly commandId: string;

  constructor(commandId: string, reason: string, options?: ErrorOptions) {
    super(
      `Cannot tell whether command ${commandId} was queued: ${reason}; follow it with ` +
        "command(id), or send it again with the same idempotency key",
      options,
    );
    this.name = "CommandOutcomeUnknownError";
    this.commandId = commandId;
  }
}

/** The caller cancelled the call, or its deadline passed, before the command was published. */
export class CallerGoneError extends Error {
  constructor(type: CommandType) {
    super(`Cannot accept ${type}: the caller gave up before it was published`);
    this.name = "CallerGoneError";
  }
}
