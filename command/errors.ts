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

/** RabbitMQ could not take a command durably (down, refused it, or did not confirm in time). */
export class BrokerUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BrokerUnavailableError";
  }
}
