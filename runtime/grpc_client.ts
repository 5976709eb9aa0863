/**
 * How the catalog's gRPC clients call: shared channels that reconnect
 * quickly and never idle, a wait for a connection while a service restarts,
 * one more try after a stopping service's refusal, and health checks.
 */
import {
  type CallOptions,
  type Change,
  changePositionMetadataKey,
  type CommandClient,
  commandServiceDefinition,
  grpc,
  healthServiceDefinition,
  type QueryClient,
  queryServiceDefinition,
  serviceNames,
  statusOriginMetadataKey,
  stoppingMetadataKey,
  type WatchChangesRequest,
} from "@catalog/proto";
import type { GrpcMetrics } from "./grpc_metrics.ts";

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
  /**
   * Metadata every call carries, under its own (such as an operator tool's
   * `authorization`). Default none.
   */
  metadata?: Record<string, string>;
  /** Counts and times every call, each try apart. Default: none. */
  metrics?: GrpcMetrics;
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
  serviceName: string,
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
    const timed = options.metrics?.start(serviceName, name);
    return new Promise((resolve, reject) => {
      let headers: grpc.Metadata | undefined;
      const call = calls[name]!.call(
        client,
        request,
        metadata,
        { deadline: new Date(deadline) },
        (error, response) => {
          timed?.(error ? error.code : grpc.status.OK);
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
      for (
        const [key, value] of Object.entries({ ...options.metadata, ...callOptions.metadata })
      ) {
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
  return createClient(
    commandServiceDefinition(),
    serviceNames.command,
    address,
    options,
  ) as unknown as CommandClient;
}

/** Connects (lazily) to a query service at host:port. */
export function createQueryClient(address: string, options?: ClientOptions): QueryClient {
  return createClient(queryServiceDefinition(), serviceNames.query, address, {
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
  const definition = healthServiceDefinition();
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

/** Options of watchChanges(). */
export interface WatchChangesOptions {
  /** Called once with the position the stream starts after. */
  onStart?: (position: string) => void;
  /** Called with each change, in order. */
  onChange: (change: Change) => void;
  /**
   * Called once when the stream ends: with the error that ended it, or with
   * undefined if the server ended it (it is stopping).
   */
  onEnd: (error?: grpc.ServiceError) => void;
}

/** A running WatchChanges call. */
export interface ChangeStream {
  /** Ends the call; onEnd is called with a CANCELLED error. */
  cancel(): void;
}

/** A client of QueryService's WatchChanges: one HTTP/2 connection for any number of calls. */
export interface ChangeFeedClient {
  watch(request: WatchChangesRequest, options: WatchChangesOptions): ChangeStream;
  close(): void;
}

type StreamingMethod = (request: WatchChangesRequest) => grpc.ClientReadableStream<Change>;

/** Options of createChangeFeedClient(). */
export interface ChangeFeedClientOptions {
  /** The metadata of each WatchChanges call, asked for at each one (a token that is renewed). */
  metadata?: () => Record<string, string>;
}

/** Connects (lazily) to a query service at host:port, for WatchChanges. */
export function createChangeFeedClient(
  address: string,
  clientOptions: ChangeFeedClientOptions = {},
): ChangeFeedClient {
  const Client = grpc.makeGenericClientConstructor(queryServiceDefinition(), "");
  const client = new Client(address, grpc.credentials.createInsecure(), clientChannelOptions);
  const watchChanges = (client as unknown as Record<string, StreamingMethod>).WatchChanges!
    .bind(client);
  return {
    watch(request, options) {
      const metadata = new grpc.Metadata();
      for (const [key, value] of Object.entries(clientOptions.metadata?.() ?? {})) {
        metadata.set(key, value);
      }
      const call = (watchChanges as unknown as (
        request: WatchChangesRequest,
        metadata: grpc.Metadata,
      ) => grpc.ClientReadableStream<Change>)(request, metadata);
      let ended = false;
      const end = (error?: grpc.ServiceError) => {
        if (ended) return;
        ended = true;
        options.onEnd(error);
      };
      call.on("metadata", (metadata: grpc.Metadata) => {
        const [position] = metadata.get(changePositionMetadataKey);
        if (position !== undefined) options.onStart?.(String(position));
      });
      call.on("data", (change: Change) => {
        if (!ended) options.onChange(change);
      });
      call.on("error", (error: grpc.ServiceError) => end(error));
      call.on("end", () => end());
      return { cancel: () => call.cancel() };
    },
    close: () => client.close(),
  };
}
