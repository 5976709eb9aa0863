import type { FieldError, ListTooLong } from "@catalog/proto";

/** A request the service cannot answer as asked, with the fields at fault. */
export class InvalidArgumentError extends Error {
  readonly fieldErrors: FieldError[];

  constructor(action: string, fieldErrors: FieldError[]) {
    const details = fieldErrors.map(({ field, message }) => `${field}: ${message}`).join("; ");
    super(`Cannot ${action}: ${details}`);
    this.name = "InvalidArgumentError";
    this.fieldErrors = fieldErrors;
  }
}

/** Something the caller asked for by id that the read side does not have. */
export class NotFoundError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NotFoundError";
  }
}

/** A position or range the read side cannot serve, such as changes already pruned. */
export class OutOfRangeError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "OutOfRangeError";
  }
}

/**
 * An unpaged list with more rows than the service answers at once
 * (MAX_LIST_ITEMS): the caller is to page through it instead.
 */
export class ListTooLongError extends Error {
  readonly list: ListTooLong;

  constructor(message: string, list: ListTooLong) {
    super(message);
    this.name = "ListTooLongError";
    this.list = list;
  }
}

/** A read given up because its caller cancelled the call or let its deadline pass. */
export class CallCancelledError extends Error {
  constructor(message = "Cannot finish the read: the call was cancelled", options?: ErrorOptions) {
    super(message, options);
    this.name = "CallCancelledError";
  }
}
