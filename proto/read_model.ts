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

/**
 * gRPC metadata key of the command service: the command id, sent in the
 * response headers before the command is published, so that a caller whose
 * call then fails (a lost connection, a deadline) knows which command may
 * have been queued; and in the trailers of an UNKNOWN status (the broker's
 * confirm did not come).
 */
export const commandIdMetadataKey = "x-command-id";

/**
 * gRPC trailing metadata key of every status a catalog service chose itself,
 * valued with the service's name: it tells a status of the service (its
 * details meant for the caller) from one the client library made of a lost
 * connection or a deadline (whose details name internal addresses).
 */
export const statusOriginMetadataKey = "x-catalog-service";

/**
 * gRPC trailing metadata key of the UNAVAILABLE a stopping service answers
 * before a call does anything: the caller may send the call again, to the
 * service's next copy, without risk.
 */
export const stoppingMetadataKey = "x-catalog-stopping";

/**
 * gRPC trailing metadata key of the FAILED_PRECONDITION a query service
 * answers for an unpaged list (ListProducts or ListCategories without a page)
 * that has more rows than it serves in one answer: JSON of ListTooLong, so
 * that a caller can tell the client what to page through instead.
 */
export const listTooLongMetadataKey = "x-list-too-long";

/** What the trailer listTooLongMetadataKey holds. */
export interface ListTooLong {
  /** What the refused list holds. */
  entity: "products" | "categories";
  /** The most rows an unpaged list answers (the query service's MAX_LIST_ITEMS). */
  limit: number;
  /**
   * For the products of given categories (ListProducts with category_ids):
   * how many categories the request named, the limit counting their
   * products together. Absent for any other list.
   */
  categoryCount?: number;
}
