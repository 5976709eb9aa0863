/**
 * What the worker's projector and the query service agree on about the read
 * database, beyond its tables (whose SQL lives in worker/migrations/read).
 */

/**
 * PostgreSQL NOTIFY channel on the read database. The projector sends one
 * notification per command whose outcome it has just made readable, with the
 * command id as payload, inside the transaction that made it readable.
 */
export const commandOutcomeChannel = "catalog_command_outcomes";

/** gRPC trailing metadata key of an INVALID_ARGUMENT: JSON array of FieldError. */
export const fieldErrorsMetadataKey = "x-field-errors";
