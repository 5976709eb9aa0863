import { GraphQLError } from "graphql";
import { type FieldError, fieldErrorsMetadataKey, grpc } from "@catalog/proto";

/** The two gRPC services the gateway talks to. */
export type Backend = "command" | "query";

interface ServiceErrorLike {
  code: number;
  details?: string;
  message: string;
  metadata?: { get(key: string): unknown[] };
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

/**
 * Turns a failed gRPC call into the GraphQL error a client is meant to see:
 * INVALID_ARGUMENT (with the offending fields), NOT_FOUND, or
 * SERVICE_UNAVAILABLE when the backend cannot be reached in time. Anything
 * else is returned unchanged, so that yoga masks it as "Unexpected error." and
 * logs it. The gRPC error is not kept as `originalError`: yoga would mask any
 * GraphQLError that wraps a non-GraphQL error.
 */
export function translateGrpcError(error: unknown, backend: Backend): unknown {
  if (!isServiceError(error)) return error;
  const details = error.details || error.message;
  switch (error.code) {
    case grpc.status.INVALID_ARGUMENT:
      return new GraphQLError(details, {
        extensions: { code: "INVALID_ARGUMENT", fields: fieldErrorsOf(error) },
      });
    case grpc.status.NOT_FOUND:
      return new GraphQLError(details, {
        extensions: { code: "NOT_FOUND" },
      });
    case grpc.status.UNAVAILABLE:
    case grpc.status.DEADLINE_EXCEEDED:
      return new GraphQLError(`Cannot reach the ${backend} service: ${details}`, {
        extensions: { code: "SERVICE_UNAVAILABLE" },
      });
    default:
      return error;
  }
}
