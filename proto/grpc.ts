/**
 * The gRPC contracts: the catalog's service definitions, loaded from the
 * protos beside this file, the client types they give, and how a refusal
 * carries its field errors. How servers run and clients call lives in
 * @catalog/runtime (grpc_server.ts, grpc_client.ts).
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { CommandReceipt, CommandRequests, QueryRequests, QueryResponses } from "./catalog.ts";
import type { FieldError } from "./commands.ts";
import { fieldErrorsMetadataKey } from "./read_model.ts";

/** Fully qualified gRPC service names, as health checks and reflection know them. */
export const serviceNames = {
  command: "catalog.v1.CommandService",
  query: "catalog.v1.QueryService",
  /**
   * Not a gRPC service: the name under which the command service's
   * grpc.health.v1 says whether workers consume the commands it accepts
   * (SERVING while every partition queue has a consumer).
   */
  workers: "catalog.workers",
} as const;

const protoFiles = [
  "catalog/v1/command.proto",
  "catalog/v1/query.proto",
  "grpc/health/v1/health.proto",
];

let definition: protoLoader.PackageDefinition | undefined;

/** The catalog's protos (and the health protocol) loaded once, as proto-loader sees them. */
export function catalogPackageDefinition(): protoLoader.PackageDefinition {
  definition ??= protoLoader.loadSync(protoFiles, {
    includeDirs: [new URL(".", import.meta.url).pathname],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return definition;
}

function serviceDefinition(name: string): grpc.ServiceDefinition {
  const service = catalogPackageDefinition()[name];
  if (!service || "format" in service) {
    throw new TypeError(`Cannot load gRPC service ${name}: not in the catalog protos`);
  }
  return service as grpc.ServiceDefinition;
}

/** The definition of catalog.v1.CommandService, for servers and clients. */
export function commandServiceDefinition(): grpc.ServiceDefinition {
  return serviceDefinition(serviceNames.command);
}

/** The definition of grpc.health.v1.Health, for health clients. */
export function healthServiceDefinition(): grpc.ServiceDefinition {
  return serviceDefinition("grpc.health.v1.Health");
}

/** The definition of catalog.v1.QueryService, for servers and clients. */
export function queryServiceDefinition(): grpc.ServiceDefinition {
  return serviceDefinition(serviceNames.query);
}

/**
 * The status that refuses a request for breaking the input rules:
 * INVALID_ARGUMENT, with the fields at fault in the trailing metadata.
 */
export function invalidArgumentStatus(
  details: string,
  fieldErrors: FieldError[],
): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  metadata.set(fieldErrorsMetadataKey, asciiJson(fieldErrors));
  return { code: grpc.status.INVALID_ARGUMENT, details, metadata };
}

/** Metadata values must be printable ASCII, so anything else is escaped in the JSON. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[^\x20-\x7e]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Options of one client call. */
export interface CallOptions {
  /** Deadline in milliseconds from now. Default 5000. */
  timeoutMs?: number;
  /** Request metadata, such as x-correlation-id, x-actor or traceparent. */
  metadata?: Record<string, string>;
}

type UnaryMethod<Req, Res> = (request: Req, options?: CallOptions) => Promise<Res>;

/** A promise-based client of catalog.v1.CommandService. */
export type CommandClient =
  & { [K in keyof CommandRequests]: UnaryMethod<CommandRequests[K], CommandReceipt> }
  & { close(): void };

/** A promise-based client of catalog.v1.QueryService. */
export type QueryClient =
  & { [K in keyof QueryRequests]: UnaryMethod<QueryRequests[K], QueryResponses[K]> }
  & { close(): void };

export { grpc };
