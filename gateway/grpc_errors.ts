import { BrokenCircuitError } from "cockatiel";
import { GraphQLError } from "graphql";
import {
  commandIdMetadataKey,
  type FieldError,
  fieldErrorsMetadataKey,
  grpc,
  type ListTooLong,
  listTooLongMetadataKey,
  statusOriginMetadataKey,
} from "@catalog/proto";
import { isLostConnection } from "@catalog/runtime";

/** The two gRPC services the gateway talks to. */
export type Backend = "command" | "query";

interface MetadataLike {
  get(key: string): unknown[];
}

interface ServiceErrorLike {
  code: number;
  details?: string;
  message: string;
  metadata?: MetadataLike;
  /** The response headers the service sent before the call failed (a catalog client adds them). */
  headers?: MetadataLike;
}

function isServiceError(error: unknown): error is ServiceErrorLike {
  return error instanceof Error && typeof (error as { code?: unknown }).code === "number" &&
    "details" in error;
}

function fieldErrorsOf(error: ServiceErrorLike): FieldError[] {
  const values = error.metadata?.get(fieldErrorsMetadataKey) ?? [];
  const fields: FieldError[] = [];
  for (const value of values) {
    try {
      const parsed: unknown = JSON.parse(String(value));
      if (!Array.isArray(parsed)) continue;
      for (const entry of parsed) {
        if (typeof entry?.field === "string" && typeof entry?.message === "string") {
          fields.push({ field: entry.field, message: entry.message });
        }
      }
    } catch {
      // A malformed trailer loses the field detail, not the error itself.
    }
  }
  return fields;
}

function first(metadata: MetadataLike | undefined, key: string): string | undefined {
  const value = metadata?.get(key)[0];
  return value === undefined ? undefined : String(value);
}

/** The paginated field that serves each kind of list page by page. */
const connectionFields = {
  products: "productsConnection",
  categories: "categoriesConnection",
} as const;

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0;
}

/** The list a query service refused as too long, from its trailer; undefined if it has none. */
function listTooLongOf(error: ServiceErrorLike): ListTooLong | undefined {
  const value = first(error.metadata, listTooLongMetadataKey);
  if (value === undefined) return undefined;
  try {
    const list: unknown = JSON.parse(value);
    if (typeof list !== "object" || list === null) return undefined;
    const { entity, limit, categoryCount } = list as Record<string, unknown>;
    if (entity !== "products" && entity !== "categories") return undefined;
    if (!isCount(limit)) return undefined;
    if (categoryCount !== undefined && !isCount(categoryCount)) return undefined;
    return { entity, limit, ...(categoryCount === undefined ? {} : { categoryCount }) };
  } catch {
    return undefined;
  }
}

/**
 * LIST_TOO_LONG, in the words of the GraphQL API: the seed's unpaged lists
 * answer at most `limit` rows, and the message names the connection field
 * that pages through the same rows.
 */
function listTooLongError(list: ListTooLong): GraphQLError {
  const connection = connectionFields[list.entity];
  const most = `more than ${list.limit}, the most an unpaged list answers`;
  const count = list.categoryCount;
  const byCategory = `${connection}(filter: { categoryId })`;
  const message = count === undefined
    ? `Cannot list ${list.entity}: more than ${list.limit} match, the most an unpaged list ` +
      `answers; page through them with ${connection}`
    : count === 1
    ? `Cannot list the products of the category: it has ${most}; ` +
      `page through them with ${byCategory}`
    : `Cannot list the products of ${count} categories at once: together they have ${most}; ` +
      `page through each category's products with ${byCategory}`;
  return new GraphQLError(message, {
    extensions: { code: "LIST_TOO_LONG", limit: list.limit, connection },
  });
}

/**
 * Turns a failed gRPC call into the GraphQL error a client is meant to see:
 * INVALID_ARGUMENT (with the offending fields), NOT_FOUND, LIST_TOO_LONG
 * (with the connection field to page through instead) for an unpaged list
 * longer than the query service answers, COMMAND_OUTCOME_UNKNOWN (with the
 * commandId) when a command may have been queued but the call did not say
 * so, OVERLOADED (HTTP 503, Retry-After) when the command service refused a
 * command because too many wait for the workers, or SERVICE_UNAVAILABLE when
 * the backend cannot be reached or answer in time, or its circuit breaker
 * refuses the call (see breakers.ts). What a client sees never comes from the
 * client library (whose messages name internal addresses), only from the
 * catalog's services or from here. Anything else is returned unchanged, so
 * that yoga masks it as "Unexpected error." and logs it. The gRPC error is
 * not kept as `originalError`: yoga would mask any GraphQLError that wraps a
 * non-GraphQL error.
 */
export function translateGrpcError(error: unknown, backend: Backend): unknown {
  if (error instanceof BrokenCircuitError) {
    // The backend's circuit breaker refused the call at once: nothing was sent.
    return new GraphQLError(
      `Cannot reach the ${backend} service: it has failed repeatedly; calls resume once a probe succeeds`,
      { extensions: { code: "SERVICE_UNAVAILABLE" } },
    );
  }
  if (!isServiceError(error)) return error;
  const details = error.details || error.message;
  const fromService = first(error.metadata, statusOriginMetadataKey) !== undefined;
  const commandId = backend === "command"
    ? first(error.metadata, commandIdMetadataKey) ?? first(error.headers, commandIdMetadataKey)
    : undefined;
  switch (error.code) {
    case grpc.status.INVALID_ARGUMENT:
      return new GraphQLError(details, {
        extensions: { code: "INVALID_ARGUMENT", fields: fieldErrorsOf(error) },
      });
    case grpc.status.NOT_FOUND:
      return new GraphQLError(details, {
        extensions: { code: "NOT_FOUND" },
      });
    case grpc.status.FAILED_PRECONDITION: {
      const list = fromService ? listTooLongOf(error) : undefined;
      return list ? listTooLongError(list) : error;
    }
    case grpc.status.UNKNOWN:
      if (fromService && commandId) {
        return new GraphQLError(details, {
          extensions: { code: "COMMAND_OUTCOME_UNKNOWN", commandId },
        });
      }
      return error;
  }
  if (fromService && error.code === grpc.status.RESOURCE_EXHAUSTED) {
    // The command service refused before it queued anything: too much waits already.
    return new GraphQLError(details, {
      extensions: {
        code: "OVERLOADED",
        http: { status: 503, headers: { "retry-after": "1" } },
      },
    });
  }
  if (fromService && error.code === grpc.status.UNAVAILABLE) {
    return new GraphQLError(details, { extensions: { code: "SERVICE_UNAVAILABLE" } });
  }
  if (fromService && !commandId && error.code === grpc.status.DEADLINE_EXCEEDED) {
    // The service stopped its own work in time (the query service's statement
    // timeout), and says so in words meant for the caller.
    return new GraphQLError(details, { extensions: { code: "SERVICE_UNAVAILABLE" } });
  }
  const deadline = error.code === grpc.status.DEADLINE_EXCEEDED;
  if (!deadline && !isLostConnection(error)) return error;
  const why = deadline
    ? `the ${backend} service did not answer in time`
    : `the connection to the ${backend} service was lost`;
  if (commandId) {
    // The command service names the command before it publishes it: past
    // that point nobody here knows whether it was queued.
    return new GraphQLError(
      `Cannot tell whether command ${commandId} was queued: ${why}; follow it with ` +
        "command(id), or send it again with the same idempotency key",
      { extensions: { code: "COMMAND_OUTCOME_UNKNOWN", commandId } },
    );
  }
  return new GraphQLError(
    deadline
      ? `Cannot reach the ${backend} service: it did not answer in time`
      : `Cannot reach the ${backend} service: it is not answering`,
    { extensions: { code: "SERVICE_UNAVAILABLE" } },
  );
}
