/**
 * How a catalog gRPC server runs and stops: health checking, reflection,
 * the marks on its statuses, and a drain that never sends a GOAWAY.
 */
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import {
  catalogPackageDefinition,
  grpc,
  statusOriginMetadataKey,
  stoppingMetadataKey,
} from "@catalog/proto";
import {
  AuthError,
  bearerToken,
  type Identity,
  requireRole,
  type Role,
  type Verifier,
} from "./auth.ts";
import type { GrpcMetrics } from "./grpc_metrics.ts";
import { contextOf, tracingEnabled, withContext } from "./tracing.ts";

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
  /**
   * Who may call which method: the bearer token of each call's
   * `authorization` metadata is verified for each method whose role `needs`
   * names (asked once per method, when the server starts), and the call is
   * refused UNAUTHENTICATED without a token and PERMISSION_DENIED with too
   * low a role. Handlers read the caller with callerOf(call); a method that
   * needs no role is served at once, its caller unverified (undefined).
   * Default: every call is served, anonymously.
   */
  access?: { verify: Verifier; needs(method: string): Role | undefined };
  /**
   * The role server reflection (grpcurl, buf curl, Postman) needs, checked
   * with access.verify; undefined serves it to everyone. Default undefined.
   */
  reflectionRole?: Role;
  /** Counts and times every call of the service's methods. Default: none. */
  metrics?: GrpcMetrics;
}

const REFLECTION_PATH = /^\/grpc\.reflection\.v1(alpha)?\.ServerReflection\//;

/**
 * Refuses reflection calls whose token lacks role. An interceptor, because
 * the reflection service's handlers are @grpc/reflection's own.
 */
function reflectionGuard(verify: Verifier, role: Role): grpc.ServerInterceptor {
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, pass) {
            if (!REFLECTION_PATH.test(method.path)) return pass(metadata);
            admit(verify, role, "reflection", { metadata }).then((refused) => {
              if (!refused) pass(metadata);
              else {call.sendStatus({
                  code: refused.code!,
                  details: refused.details!,
                  metadata: new grpc.Metadata(),
                });}
            });
          },
        });
      },
    });
}

const callers = new WeakMap<object, Identity>();

/** The caller a call's token names (see GrpcServerOptions.access); undefined if anonymous. */
export function callerOf(call: object): Identity | undefined {
  return callers.get(call);
}

/** The first value of a call's metadata key, as trimmed text; undefined if absent or empty. */
export function metadataValue(metadata: grpc.Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  if (value === undefined) return undefined;
  const text = (typeof value === "string" ? value : new TextDecoder().decode(value)).trim();
  return text === "" ? undefined : text;
}

/**
 * Verifies the caller of one call and checks its role; answers the status
 * to refuse it with, or undefined to serve it.
 */
async function admit(
  verify: Verifier,
  needed: Role,
  method: string,
  call: { metadata: grpc.Metadata },
): Promise<Partial<grpc.StatusObject> | undefined> {
  try {
    const authorization = metadataValue(call.metadata, "authorization");
    const token = bearerToken(authorization);
    if (authorization !== undefined && !token) {
      throw new AuthError(
        "UNAUTHENTICATED",
        'Cannot read the authorization metadata: send "Bearer <token>"',
      );
    }
    const identity = token ? await verify(token) : undefined;
    if (identity) callers.set(call, identity);
    requireRole(identity, needed, `call ${method}`);
    return undefined;
  } catch (error) {
    if (!(error instanceof AuthError)) {
      return { code: grpc.status.INTERNAL, details: "Cannot check the caller's token" };
    }
    return {
      code: error.code === "UNAUTHENTICATED"
        ? grpc.status.UNAUTHENTICATED
        : grpc.status.PERMISSION_DENIED,
      details: error.message,
    };
  }
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
  const guard = options.reflectionRole && options.access
    ? [reflectionGuard(options.access.verify, options.reflectionRole)]
    : [];
  const server = new grpc.Server({ interceptors: guard });
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
    const access = options.access;
    // A method anyone may call is served at once, with no token verified.
    const needed = access?.needs(method);
    const admitted: AnyHandler = access && needed
      ? (call, answer) => {
        admit(access.verify, needed, method, call as { metadata: grpc.Metadata }).then(
          (refused) => {
            // A drain begun while the token was checked finds the call not
            // started yet: it is refused as any new call, and sent again elsewhere.
            if (!refused && draining) refused = stopping();
            if (!refused) (handler as unknown as AnyHandler)(call, answer);
            else if (answer) (answer as grpc.sendUnaryData<unknown>)(refused, null);
            else {(call as grpc.ServerWritableStream<unknown, unknown>).emit(
                "error",
                withOrigin(refused),
              );}
          },
        );
      }
      : handler as unknown as AnyHandler;
    // Deno traces the HTTP/2 stream, but grpc-js runs the handler outside
    // that span's context: the handler's own spans continue, instead, from
    // the caller's traceparent, which Deno sent with the call.
    const handle: AnyHandler = tracingEnabled
      ? (call, answer) =>
        withContext(
          contextOf(metadataValue((call as { metadata: grpc.Metadata }).metadata, "traceparent")),
          () => admitted(call, answer),
        )
      : admitted;
    const metrics = options.metrics;
    implementation[method] = streaming
      ? (call: grpc.ServerWritableStream<unknown, unknown>) => {
        const timed = metrics?.start(options.serviceName, method);
        if (timed) {
          call.once("finish", () => timed(grpc.status.OK));
          call.once("cancelled", () => timed(grpc.status.CANCELLED));
          call.once(
            "error",
            (error: { code?: number }) => timed(error.code ?? grpc.status.UNKNOWN),
          );
        }
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
      : (call: unknown, sent: grpc.sendUnaryData<unknown>) => {
        const timed = metrics?.start(options.serviceName, method);
        const callback: grpc.sendUnaryData<unknown> = timed
          ? (error, ...rest) => {
            timed(
              error ? (error as { code?: number }).code ?? grpc.status.UNKNOWN : grpc.status.OK,
            );
            sent(error, ...rest);
          }
          : sent;
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
