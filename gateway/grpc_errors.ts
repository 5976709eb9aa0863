import { GraphQLError } from "graphql";
import {
  commandIdMetadataKey,
  type FieldError,
  fieldErrorsMetadataKey,
  grpc,
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

/**
 * Turns a failed gRPC call into the GraphQL error a client is meant to see:
 * INVALID_ARGUMENT (with the offending fields), NOT_FOUND,
 * COMMAND_OUTCOME_UNKNOWN (with the commandId) when a command may have been
 * queued but the call did not say so, or SERVICE_UNAVAILABLE when the
 * backend cannot be reached in time. What a client sees never comes from the
 * client library (whose messages name internal addresses), only from the
 * catalog's services or from here. Anything else is returned unchanged, so
 * that yoga masks it as "Unexpected error." and logs it. The gRPC error is
 * not kept as `originalError`: yoga would mask any GraphQLError that wraps a
 * non-GraphQL error.
 */
export function translateGrpcError(error: unknown, backend: Backend): unknown {
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
    case grpc.status.UNKNOWN:
      if (fromService && commandId) {
        return new GraphQLError(details, {
          extensions: { code: "COMMAND_OUTCOME_UNKNOWN", commandId },
        });
      }
      return error;
  }
  if (fromService && error.code === grpc.status.UNAVAILABLE) {
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
