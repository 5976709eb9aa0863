import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import type { CommandReceipt, CommandRequests, QueryRequests, QueryResponses } from "./catalog.ts";
import type { FieldError } from "./commands.ts";
import {
  fieldErrorsMetadataKey,
  statusOriginMetadataKey,
  stoppingMetadataKey,
} from "./read_model.ts";

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
  /** How the service is named in errors: "the query service" is stopping. */
  label: string;
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
  /**
   * More grpc.health.v1 service names, each with its own status, beside
   * "" and serviceName (which follow setServing()). Default: none.
   */
  healthServices?: string[];
}

/** A running gRPC server with health checking and reflection. */
export interface GrpcServer {
  /** The bound port (useful when asked for port 0). */
  port: number;
  /** Reports SERVING or NOT_SERVING through grpc.health.v1 for the service and the server. */
  setServing(serving: boolean): void;
  /** Sets the grpc.health.v1 status of one of the options' healthServices. */
  setHealth(service: string, serving: boolean): void;
  /**
   * Stops serving without closing a connection: reports NOT_SERVING, answers
   * every new call UNAVAILABLE at once (marked stoppingMetadataKey, so that
   * clients send it again to the next copy), ends each running stream with
   * UNAVAILABLE, and resolves once the running calls have finished (or after
   * graceMs) and a short linger more. The connections stay open, idle, until
   * close() or the process exits.
   */
  drain(graceMs: number): Promise<void>;
  /** Stops listening and closes every connection, cutting what still runs. */
  close(): Promise<void>;
}

type AnyHandler = (...args: unknown[]) => void;

/** How long a drained server goes on refusing calls before drain() resolves. */
const DRAIN_LINGER_MS = 250;

/**
 * Starts a server for one catalog service, plus grpc.health.v1 and server
 * reflection.
 *
 * How it stops is shaped by Deno's node:http2: a client session that
 * receives a GOAWAY while it has streams open can abort the whole client
 * process inside nghttp2, before any JavaScript runs (denoland/deno#36788,
 * Deno 2.9.6; here the gateway died on about one restart of a backend in
 * ten). So a stopping server never sends one: drain() finishes every call
 * on connections it leaves open, and the process then exits, letting the
 * system close the idle connections (a plain TCP close, which the client
 * treats as a lost connection and recovers from).
 */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServer> {
  const server = new grpc.Server();
  let draining = false;
  let unary = 0;
  const streams = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  let onIdle: (() => void)[] = [];
  const ended = () => {
    if (unary > 0 || streams.size > 0) return;
    for (const resolve of onIdle) resolve();
    onIdle = [];
  };
  const stopping = () => {
    const metadata = new grpc.Metadata();
    metadata.set(stoppingMetadataKey, "1");
    return withOrigin({
      code: grpc.status.UNAVAILABLE,
      details: `Cannot serve the call: ${options.label} is stopping`,
      metadata,
    });
  };
  /** Marks a status as the service's own (statusOriginMetadataKey), in place. */
  function withOrigin(status: Partial<grpc.StatusObject>): Partial<grpc.StatusObject> {
    status.metadata ??= new grpc.Metadata();
    status.metadata.set(statusOriginMetadataKey, options.serviceName);
    return status;
  }

  const implementation: grpc.UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(options.implementation)) {
    const streaming = options.definition[method]?.responseStream === true;
    const handle = handler as unknown as AnyHandler;
    implementation[method] = streaming
      ? (call: grpc.ServerWritableStream<unknown, unknown>) => {
        if (draining) {
          call.emit("error", stopping());
          return;
        }
        streams.add(call);
        const done = () => {
          streams.delete(call);
          ended();
        };
        call.once("finish", done);
        call.once("cancelled", done);
        call.once("error", done);
        handle(call);
      }
      : (call: unknown, callback: grpc.sendUnaryData<unknown>) => {
        if (draining) {
          callback(stopping());
          return;
        }
        unary++;
        let answered = false;
        const answer: grpc.sendUnaryData<unknown> = (error, ...rest) => {
          if (!answered) {
            answered = true;
            unary--;
            ended();
          }
          if (error) callback(withOrigin(error as Partial<grpc.StatusObject>), ...rest);
          else callback(error, ...rest);
        };
        handle(call, answer);
      };
  }
  server.addService(options.definition, implementation);
  const extra = options.healthServices ?? [];
  const health = new HealthImplementation({
    "": "SERVING",
    [options.serviceName]: "SERVING",
    ...Object.fromEntries(extra.map((name) => [name, "NOT_SERVING"])),
  });
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

  function setServing(serving: boolean) {
    // A draining server stays NOT_SERVING, whatever its dependencies say.
    if (draining && serving) return;
    const status = serving ? "SERVING" : "NOT_SERVING";
    health.setStatus("", status);
    health.setStatus(options.serviceName, status);
  }

  return {
    port,
    setServing,
    setHealth(service, serving) {
      if (!extra.includes(service)) {
        throw new RangeError(`Cannot set the health of ${service}: it is not a health service`);
      }
      health.setStatus(service, serving ? "SERVING" : "NOT_SERVING");
    },
    async drain(graceMs) {
      draining = true;
      setServing(false);
      for (const call of streams) call.emit("error", stopping());
      if (unary > 0 || streams.size > 0) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          new Promise<void>((resolve) => onIdle.push(resolve)),
          new Promise<void>((resolve) => timer = setTimeout(resolve, graceMs)),
        ]);
        clearTimeout(timer);
      }
      // Still refusing for a moment: a call already on its way when the
      // last one finished is refused (and sent again by the client once this
      // connection is gone) rather than cut off by the exit.
      await new Promise((resolve) => setTimeout(resolve, DRAIN_LINGER_MS));
    },
    close() {
      draining = true;
      server.forceShutdown();
      return Promise.resolve();
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

/**
 * The channel options of every catalog client. Clients of one address with
 * the same options share one connection (grpc-js pools them).
 */
export const clientChannelOptions: grpc.ChannelOptions = Object.freeze({
  // Back within a fraction of a second once a restarted backend listens
  // again, instead of after grpc-js's default backoff (1 s, growing to 120 s).
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1000,
  // Never idle: an idle channel closes its connection with a GOAWAY, and
  // Deno's node:http2 can abort the process that receives one (see
  // startGrpcServer()). The connections are few and cost nothing while quiet.
  "grpc.client_idle_timeout_ms": 2_147_483_647,
});

/** Options of createCommandClient() and createQueryClient(). */
export interface ClientOptions {
  /**
   * How long a call may wait, within its deadline, for a connection while
   * there is none (the service restarting), and then for a new one after a
   * stopping service refused it. Default 2000 ms; 0 fails at once.
   */
  connectWaitMs?: number;
  /**
   * The service's calls have no effect (reads): a call whose connection was
   * lost under it goes once more, as a refused one does. Default false.
   */
  idempotent?: boolean;
}

/**
 * Whether grpc-js made this status of a lost connection rather than the
 * service choosing it: UNAVAILABLE or CANCELLED without the service's mark,
 * or INTERNAL when grpc-js reset the call's stream because the connection
 * failed under it ("Received RST_STREAM with code 2 triggered by internal
 * client error: write EPIPE").
 */
export function isLostConnection(error: unknown): boolean {
  const { code, details, metadata } = error as {
    code?: number;
    details?: string;
    metadata?: grpc.Metadata;
  };
  if (metadata instanceof grpc.Metadata && metadata.get(statusOriginMetadataKey).length > 0) {
    return false;
  }
  switch (code) {
    case grpc.status.UNAVAILABLE:
    case grpc.status.CANCELLED:
      return true;
    case grpc.status.INTERNAL:
      return (details ?? "").startsWith("Received RST_STREAM");
    default:
      return false;
  }
}

/** Whether a status is a stopping service's refusal, given before the call did anything. */
function refusedWhileStopping(error: unknown): boolean {
  const metadata = (error as { metadata?: grpc.Metadata }).metadata;
  return (error as { code?: number }).code === grpc.status.UNAVAILABLE &&
    metadata instanceof grpc.Metadata && metadata.get(stoppingMetadataKey).length > 0;
}

/** Resolves once the callback of a grpc-js wait is called, whatever it says. */
function waited(wait: (done: () => void) => void): Promise<void> {
  return new Promise((resolve) => wait(() => resolve()));
}

function createClient(
  definition: grpc.ServiceDefinition,
  address: string,
  options: ClientOptions = {},
) {
  const Client = grpc.makeGenericClientConstructor(definition, "");
  const client = new Client(
    address,
    grpc.credentials.createInsecure(),
    clientChannelOptions,
  );
  const calls = client as unknown as Record<
    string,
    (
      request: unknown,
      metadata: grpc.Metadata,
      options: grpc.CallOptions,
      callback: (error: grpc.ServiceError | null, response: unknown) => void,
    ) => grpc.ClientUnaryCall
  >;
  const channel = client.getChannel();
  const connectWaitMs = options.connectWaitMs ?? 2000;
  /** Set from a stopping service's first refusal until its connection is gone. */
  let draining: Promise<void> | undefined;
  const waitUntil = (deadline: number) => new Date(Math.min(deadline, Date.now() + connectWaitMs));

  /**
   * While the service restarts there is no connection, and grpc-js would
   * fail the call at once; it waits a little instead, so that a restart
   * costs only the calls it was holding.
   */
  async function connected(deadline: number): Promise<void> {
    if (connectWaitMs === 0) return;
    if (channel.getConnectivityState(true) === grpc.connectivityState.READY) return;
    await waited((done) => client.waitForReady(waitUntil(deadline), done));
  }

  function callOnce(
    name: string,
    request: unknown,
    metadata: grpc.Metadata,
    deadline: number,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let headers: grpc.Metadata | undefined;
      const call = calls[name]!.call(
        client,
        request,
        metadata,
        { deadline: new Date(deadline) },
        (error, response) => {
          // With the response headers the server had sent, if any (such as
          // commandIdMetadataKey), for the caller to read as `headers`.
          if (error) reject(Object.assign(error, { headers }));
          else resolve(response);
        },
      );
      call.on("metadata", (received: grpc.Metadata) => headers = received);
    });
  }

  const methods: Record<string, unknown> = { close: () => client.close() };
  for (const name of Object.keys(definition)) {
    methods[name] = async (request: unknown, callOptions: CallOptions = {}) => {
      const metadata = new grpc.Metadata();
      for (const [key, value] of Object.entries(callOptions.metadata ?? {})) {
        metadata.set(key, value);
      }
      const deadline = Date.now() + (callOptions.timeoutMs ?? 5000);
      // While the service is known to be stopping, nothing more is sent on
      // its connection: the call waits for the next one.
      if (draining) await draining;
      await connected(deadline);
      try {
        return await callOnce(name, request, metadata, deadline);
      } catch (error) {
        const refused = refusedWhileStopping(error);
        const again = refused || (options.idempotent === true && isLostConnection(error));
        if (connectWaitMs === 0 || !again || Date.now() >= deadline) throw error;
        // The service refused the call before doing anything (it is draining
        // and will close its connection as it exits), or the call, which
        // changes nothing, lost its connection. Once the connection is gone,
        // the call goes once more, to whichever copy of the service answers.
        if (refused) {
          draining ??= waited((done) =>
            channel.watchConnectivityState(
              grpc.connectivityState.READY,
              new Date(Date.now() + connectWaitMs),
              done,
            )
          ).finally(() => draining = undefined);
        }
        if (draining) await draining;
        await connected(deadline);
        return await callOnce(name, request, metadata, deadline);
      }
    };
  }
  return methods;
}

/** Connects (lazily) to a command service at host:port. */
export function createCommandClient(address: string, options?: ClientOptions): CommandClient {
  return createClient(commandServiceDefinition(), address, options) as unknown as CommandClient;
}

/** Connects (lazily) to a query service at host:port. */
export function createQueryClient(address: string, options?: ClientOptions): QueryClient {
  return createClient(queryServiceDefinition(), address, {
    idempotent: true,
    ...options,
  }) as unknown as QueryClient;
}

/** A client of a server's grpc.health.v1, on the connection its other clients share. */
export interface HealthClient {
  /** The status of a service ("" for the whole server): "SERVING", "NOT_SERVING", … */
  check(service: string, timeoutMs?: number): Promise<string>;
  close(): void;
}

/** Connects (lazily) to the grpc.health.v1 of a server at host:port. */
export function createHealthClient(address: string): HealthClient {
  const definition = serviceDefinition("grpc.health.v1.Health");
  const Client = grpc.makeGenericClientConstructor(definition, "");
  const client = new Client(
    address,
    grpc.credentials.createInsecure(),
    clientChannelOptions,
  ) as unknown as
    & grpc.Client
    & Record<
      string,
      (
        request: unknown,
        options: grpc.CallOptions,
        callback: (error: grpc.ServiceError | null, response?: { status: string }) => void,
      ) => void
    >;
  return {
    check(service, timeoutMs = 1000) {
      return new Promise<string>((resolve, reject) => {
        client.Check!({ service }, { deadline: new Date(Date.now() + timeoutMs) }, (error, res) => {
          if (error) reject(error);
          else resolve(res?.status ?? "UNKNOWN");
        });
      });
    },
    close: () => client.close(),
  };
}

/** Asks a server's grpc.health.v1 once for the status of a service ("" for the whole server). */
export async function checkHealth(
  address: string,
  service = "",
  timeoutMs = 1000,
): Promise<string> {
  const client = createHealthClient(address);
  try {
    return await client.check(service, timeoutMs);
  } finally {
    client.close();
  }
}

export { grpc };
