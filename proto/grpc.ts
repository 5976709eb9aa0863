import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import type { CommandReceipt, CommandRequests, QueryRequests, QueryResponses } from "./catalog.ts";
import type { FieldError } from "./commands.ts";
import { fieldErrorsMetadataKey } from "./read_model.ts";

/** Fully qualified gRPC service names, as health checks and reflection know them. */
export const serviceNames = {
  command: "catalog.v1.CommandService",
  query: "catalog.v1.QueryService",
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

/** The definition of catalog.v1.QueryService, for servers and clients. */
export function queryServiceDefinition(): grpc.ServiceDefinition {
  return serviceDefinition(serviceNames.query);
}

/** Options of startGrpcServer(). */
export interface GrpcServerOptions {
  /** Address to listen on. Default "0.0.0.0". */
  host?: string;
  port: number;
  /** Fully qualified name of the service, for health checks. */
  serviceName: string;
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
}

/** A running gRPC server with health checking and reflection. */
export interface GrpcServer {
  /** The bound port (useful when asked for port 0). */
  port: number;
  /** Reports SERVING or NOT_SERVING through grpc.health.v1 for the service and the server. */
  setServing(serving: boolean): void;
  /** Stops taking calls, lets running ones finish for up to graceMs, then cuts them. */
  shutdown(graceMs: number): Promise<void>;
}

/** Starts a server for one catalog service, plus grpc.health.v1 and server reflection. */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServer> {
  const server = new grpc.Server();
  server.addService(options.definition, options.implementation);
  const health = new HealthImplementation({ "": "SERVING", [options.serviceName]: "SERVING" });
  health.addToServer(server);
  new ReflectionService(catalogPackageDefinition()).addToServer(server);

  const address = `${options.host ?? "0.0.0.0"}:${options.port}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, bound) => {
      if (error) {
        reject(new Error(`Cannot listen on ${address}: ${error.message}`, { cause: error }));
      } else resolve(bound);
    });
  });

  return {
    port,
    setServing(serving) {
      const status = serving ? "SERVING" : "NOT_SERVING";
      health.setStatus("", status);
      health.setStatus(options.serviceName, status);
    },
    async shutdown(graceMs) {
      health.setStatus("", "NOT_SERVING");
      health.setStatus(options.serviceName, "NOT_SERVING");
      const timer = setTimeout(() => server.forceShutdown(), graceMs);
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      clearTimeout(timer);
    },
  };
}

/**
 * A unary method from a handler that answers a promise: the handler's answer,
 * or the status that toStatus makes of its error, thrown or rejected.
 */
export function unaryMethod<Req, Res>(
  handle: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
  toStatus: (error: unknown) => Partial<grpc.StatusObject>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    let answer: Promise<Res>;
    try {
      answer = handle(call.request, call);
    } catch (error) {
      answer = Promise.reject(error);
    }
    answer.then(
      (response) => callback(null, response),
      (error) => callback(toStatus(error)),
    );
  };
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

function createClient(definition: grpc.ServiceDefinition, address: string) {
  const Client = grpc.makeGenericClientConstructor(definition, "");
  const client = new Client(address, grpc.credentials.createInsecure()) as unknown as Record<
    string,
    (
      request: unknown,
      metadata: grpc.Metadata,
      options: grpc.CallOptions,
      callback: (error: grpc.ServiceError | null, response: unknown) => void,
    ) => void
  >;
  const methods: Record<string, unknown> = {
    close: () => (client as unknown as grpc.Client).close(),
  };
  for (const name of Object.keys(definition)) {
    methods[name] = (request: unknown, options: CallOptions = {}) => {
      const metadata = new grpc.Metadata();
      for (const [key, value] of Object.entries(options.metadata ?? {})) metadata.set(key, value);
      const deadline = new Date(Date.now() + (options.timeoutMs ?? 5000));
      return new Promise((resolve, reject) => {
        client[name]!.call(client, request, metadata, { deadline }, (error, response) => {
          if (error) reject(error);
          else resolve(response);
        });
      });
    };
  }
  return methods;
}

/** Connects (lazily) to a command service at host:port. */
export function createCommandClient(address: string): CommandClient {
  return createClient(commandServiceDefinition(), address) as unknown as CommandClient;
}

/** Connects (lazily) to a query service at host:port. */
export function createQueryClient(address: string): QueryClient {
  return createClient(queryServiceDefinition(), address) as unknown as QueryClient;
}

/** Asks a server's grpc.health.v1 for the status of a service ("" for the whole server). */
export function checkHealth(address: string, service = "", timeoutMs = 1000): Promise<string> {
  const definition = serviceDefinition("grpc.health.v1.Health");
  const Client = grpc.makeGenericClientConstructor(definition, "");
  const client = new Client(address, grpc.credentials.createInsecure()) as unknown as
    & grpc.Client
    & Record<
      string,
      (
        request: unknown,
        options: grpc.CallOptions,
        callback: (error: grpc.ServiceError | null, response?: { status: string }) => void,
      ) => void
    >;
  return new Promise<string>((resolve, reject) => {
    client.Check!({ service }, { deadline: new Date(Date.now() + timeoutMs) }, (error, res) => {
      client.close();
      if (error) reject(error);
      else resolve(res?.status ?? "UNKNOWN");
    });
  });
}

export { grpc };
