import {
  createSchema,
  createYoga,
  type LogLevel,
  type Plugin,
  type YogaLogger,
} from "graphql-yoga";
import { usePersistedOperations } from "@graphql-yoga/plugin-persisted-operations";
import { GraphQLError } from "graphql";
import { grpc, serviceNames } from "@catalog/proto";
import {
  createHealthClient,
  createServiceRegistry,
  createVerifier,
  type HealthClient,
  healthResponse,
  type Identity,
  metricsResponse,
  type ReadinessCheck,
  readinessResponse,
  type Registry,
  version,
} from "@catalog/runtime";
import { Admission, operationKind } from "./admission.ts";
import { type Breakers, createBreakers } from "./breakers.ts";
import { categoryResolvers } from "./category.ts";
import { commandResolvers } from "./command.ts";
import type { GatewayConfig } from "./config.ts";
import { callMetadata, type CommandCalls, createContext, type QueryCalls } from "./context.ts";
import { compiledExecution, documentCaches } from "./documents.ts";
import type { Backend } from "./grpc_errors.ts";
import type { ChangeSource } from "./change_feed.ts";
import {
  accessPlugin,
  type ClientInfo,
  clientKey,
  createDoor,
  onBodyEnd,
  SubscriptionCaps,
} from "./edge.ts";
import { limitPlugins } from "./limits.ts";
import { admissionMetrics, breakerMetrics, gatewayMetrics } from "./metrics.ts";
import { productResolvers } from "./product.ts";
import { typeDefs } from "./schema.ts";
import { subscriptionResolvers } from "./subscriptions.ts";

/** What GraphiQL shows on first visit: the seed's own example. */
const defaultQuery = `# The catalog's categories and products, each with its category.
{
  categories { id name }
  products { id name price category { id name } }
}
`;

/**
 * What /ready asks about: the command and query services, and whether
 * workers consume the commands (the command service's health of
 * serviceNames.workers).
 */
export type HealthTarget = Backend | "workers";

/**
 * Asks for one target's grpc.health.v1 status; "SERVING" means ready.
 * Rejects (or answers anything else) when it is not.
 */
export type BackendHealthCheck = (target: HealthTarget) => Promise<string>;

/** Options of createGateway(). */
export interface GatewayOptions {
  /** A CommandClient from @catalog/proto, or anything with its calls. */
  commands: CommandCalls;
  /** A QueryClient from @catalog/proto, or anything with its calls. */
  queries: QueryCalls;
  config: GatewayConfig;
  /**
   * How /ready checks a target. Default: grpc.health.v1 Check of the
   * target's service name at its backend's configured address, with a 1 s
   * deadline, on connections opened once.
   */
  checkBackend?: BackendHealthCheck;
  /** Yoga's logger (it logs masked errors). Default: yoga's console logger. */
  logging?: boolean | YogaLogger | LogLevel;
  /** The clock of /health and /ready timestamps. Default: the system clock. */
  now?: () => Date;
  /**
   * The read model's changes, for subscriptions: a GrpcChangeSource in
   * production. Without one, subscribing fails with SERVICE_UNAVAILABLE.
   */
  changes?: ChangeSource;
  /** Changes a subscription may have waiting for its client. Default SUBSCRIPTION_BUFFER (256). */
  subscriptionBufferSize?: number;
  /**
   * Operations clients may send by sha256 hash (see persisted_operations.ts);
   * config.persistedOperationsRequired refuses every other one.
   */
  persistedOperations?: ReadonlyMap<string, string>;
  /** Where unexpected errors are logged with their reference id. Default: yoga's logger. */
  logError?: (line: string) => void;
  /**
   * The registry of the gateway's metrics (see docs/observability.md), where main.ts
   * also puts those of its gRPC clients. Default: a new
   * createServiceRegistry("gateway").
   */
  metrics?: Registry;
  /**
   * The circuit breakers of the calls to the command and query services.
   * Default: createBreakers()'s defaults.
   */
  breakers?: Breakers;
  /**
   * The process's metrics (processRegistry()), served on /metrics before
   * the gateway's own. Default: none; only main.ts starts collecting them.
   */
  processMetrics?: Registry;
}

/** The HTTP handler of the gateway, ready for `Deno.serve`. */
export interface Gateway {
  /**
   * Answers /graphql (GraphiQL for a browser), /health, /ready and
   * /metrics; client names the remote address that anonymous rate limits
   * count by.
   */
  fetch(request: Request, client?: ClientInfo): Promise<Response>;
}

const HEALTH_CHECK_TIMEOUT_MS = 1000;

function defaultCheckBackend(config: GatewayConfig): BackendHealthCheck {
  const clients = new Map<Backend, HealthClient>();
  const clientOf = (backend: Backend) => {
    let client = clients.get(backend);
    if (!client) {
      client = createHealthClient(
        backend === "command" ? config.commandServiceAddress : config.queryServiceAddress,
      );
      clients.set(backend, client);
    }
    return client;
  };
  return (target) =>
    clientOf(target === "query" ? "query" : "command").check(
      serviceNames[target],
      HEALTH_CHECK_TIMEOUT_MS,
    );
}

const labels: Record<HealthTarget, string> = {
  command: "the command service",
  query: "the query service",
  workers: "a worker on every partition",
};

/**
 * Builds the gateway: GraphQL over the command and query gRPC services. Does
 * no I/O until it serves a request.
 */
export function createGateway(options: GatewayOptions): Gateway {
  const { commands, queries, config } = options;
  const checkBackend = options.checkBackend ?? defaultCheckBackend(config);
  const now = options.now ?? (() => new Date());

  const logError = options.logError ?? ((line: string) => yoga.logger.error(line));
  const door = createDoor({
    verify: createVerifier(config.auth),
    maxBodyBytes: config.maxBodyBytes,
    rateLimitPerMinute: config.rateLimitPerMinute,
  });
  const persisted = options.persistedOperations;
  const persistedOnly = {
    message:
      "Cannot run an operation that is not persisted: send only extensions.persistedQuery.sha256Hash",
    extensions: { code: "PERSISTED_QUERY_REQUIRED", http: { status: 400 } },
  };
  // deno-lint-ignore no-explicit-any
  const security: Plugin<any>[] = [
    ...limitPlugins(config.limits, { introspection: config.introspection }),
    accessPlugin() as Plugin,
    ...(persisted || config.persistedOperationsRequired
      ? [usePersistedOperations({
        getPersistedOperation: (hash) => persisted?.get(hash) ?? null,
        allowArbitraryOperations: !config.persistedOperationsRequired,
        customErrors: {
          notFound: {
            message: "Cannot find a persisted operation with this hash",
            extensions: { code: "PERSISTED_QUERY_NOT_FOUND", http: { status: 400 } },
          },
          keyNotFound: persistedOnly,
          persistedQueryOnly: persistedOnly,
        },
      }) as Plugin]
      : []),
  ];
  const origins = new Set(config.corsOrigins);
  const subscriptions = new SubscriptionCaps(
    config.subscriptionsPerClient,
    config.subscriptionsMax,
  );
  const metrics = options.metrics ?? createServiceRegistry("gateway");
  const breakers = options.breakers ?? createBreakers();
  breakerMetrics(metrics, breakers);
  // The gauges read the bulkheads at scrape time, once they exist.
  const counted = admissionMetrics(metrics, config.admission, (kind) => admission.inProgress(kind));
  const admission = new Admission(config.admission, counted);
  const documents = documentCaches(config.documentCacheSize);
  const scraped = options.processMetrics ? [options.processMetrics, metrics] : [metrics];

  // Beside each request, serveGraphql() hands yoga the metadata of its calls
  // and the caller its token names.
  const yoga = createYoga<{ callMetadata?: Record<string, string>; identity?: Identity }>({
    schema: createSchema({
      typeDefs,
      resolvers: [
        categoryResolvers,
        productResolvers,
        commandResolvers,
        subscriptionResolvers({
          changes: options.changes,
          bufferSize: options.subscriptionBufferSize,
        }),
      ],
    }),
    context: (initial) =>
      createContext(
        { commands, queries, config, breakers },
        initial.request,
        initial.callMetadata,
        initial.identity,
      ),
    graphqlEndpoint: "/graphql",
    parserAndValidationCache: documents,
    graphiql: config.graphiql ? { title: "Catalog GraphiQL", defaultQuery } : false,
    // Only the listed origins get CORS headers: a page of any other site can
    // neither read answers nor send a request that needs a preflight.
    cors: (request) => {
      const origin = request.headers.get("origin");
      if (!origin || !origins.has(origin)) return false;
      return {
        origin: [origin],
        credentials: false,
        methods: ["GET", "POST"],
        allowedHeaders: ["authorization", "content-type", "x-correlation-id", "traceparent"],
        exposedHeaders: ["x-correlation-id", "retry-after"],
        maxAge: 600,
      };
    },
    maskedErrors: {
      // An unexpected error shows the client only a reference; the log has the rest.
      maskError(error) {
        const original = error instanceof GraphQLError ? error.originalError : error;
        if (error instanceof GraphQLError && (!original || original instanceof GraphQLError)) {
          return error;
        }
        const reference = crypto.randomUUID();
        logError(
          `Unexpected error ${reference}: ${
            original instanceof Error ? original.stack ?? original.message : String(original)
          }`,
        );
        return new GraphQLError(`Unexpected error (reference ${reference})`, {
          ...(error instanceof GraphQLError
            ? {
              nodes: error.nodes,
              source: error.source,
              positions: error.positions,
              path: error.path,
            }
            : {}),
          extensions: { code: "INTERNAL_SERVER_ERROR", reference },
        });
      },
    },
    // GraphiQL's assets come inlined from the package, never from a CDN. The
    // package (a 9 MB bundle, about 35 MB of heap) is loaded on the first page
    // asked for, not by every gateway that never serves one.
    renderGraphiQL: async (graphiql) =>
      (await import("@graphql-yoga/render-graphiql")).renderGraphiQL(graphiql),
    landingPage: false,
    logging: options.logging ?? true,
    plugins: [
      // Each operation whose document parsed is counted and timed, whatever
      // answers it: a limit, the role check or the resolvers.
      ...gatewayMetrics(metrics, { openSubscriptions: () => subscriptions.open }),
      ...security,
      compiledExecution((errors) => yoga.logger.error("Cannot compile a query", errors)),
    ],
  });

  const identity = { service: "gateway", version, now };

  async function check(target: HealthTarget): Promise<ReadinessCheck> {
    const label = labels[target];
    try {
      const status = await checkBackend(target);
      if (target !== "workers") return { ready: status === "SERVING", status, label };
      // Commands accepted for a partition nobody consumes are not applied until someone does.
      return status === "SERVING" ? { ready: true, status: "present", label } : {
        ready: false,
        status: "missing",
        detail: "commands are accepted but not applied",
        label,
      };
    } catch (error) {
      // The client library's words name internal addresses: say only what failed.
      const late = (error as { code?: number }).code === grpc.status.DEADLINE_EXCEEDED;
      const detail = late
        ? `no answer within ${HEALTH_CHECK_TIMEOUT_MS} ms`
        : target === "workers"
        ? "the command service does not answer"
        : "it does not answer";
      return {
        ready: false,
        status: target === "workers" ? "UNKNOWN" : "UNREACHABLE",
        detail,
        label,
      };
    }
  }

  async function ready(): Promise<Response> {
    const [command, query, workers] = await Promise.all([
      check("command"),
      check("query"),
      check("workers"),
    ]);
    return readinessResponse(identity, { command, query, workers });
  }

  async function serveGraphql(request: Request, client?: ClientInfo): Promise<Response> {
    // Every call made for this request carries one correlation id, which the
    // client gets back even when it did not choose it.
    const admitted = await door(request, client);
    const metadata = callMetadata(
      request,
      admitted instanceof Response ? undefined : admitted.token,
    );
    const correlationId = metadata["x-correlation-id"]!;
    let response: Response;
    if (admitted instanceof Response) response = admitted;
    else {
      // A request that may become an event stream takes a subscription's place first.
      const streams = (request.headers.get("accept") ?? "").includes("text/event-stream");
      const place = streams ? subscriptions.take(clientKey(admitted.identity, client)) : undefined;
      if (place instanceof Response) response = place;
      else {
        const serve = () =>
          yoga.fetch(admitted.request, {
            callMetadata: metadata,
            ...(admitted.identity ? { identity: admitted.identity } : {}),
          });
        // A stream holds a subscription's place instead, for as long as it lasts.
        response = place ? await serve() : await admission.run(
          operationKind(admitted.request, admitted.body, documents.documentCache),
          serve,
        );
        if (place) {
          const isStream = response.headers.get("content-type")?.startsWith("text/event-stream");
          if (isStream) response = onBodyEnd(response, place);
          else place();
        }
      }
    }
    try {
      response.headers.set("x-correlation-id", correlationId);
      return response;
    } catch {
      // Immutable headers: a copy of the response carries the id.
      const headers = new Headers(response.headers);
      headers.set("x-correlation-id", correlationId);
      return new Response(response.body, {
        status: response.status,
        statusText: response.statusText,
        headers,
      });
    }
  }

  async function scrape(request: Request): Promise<Response> {
    const response = await metricsResponse(scraped);
    if (request.method !== "HEAD") return response;
    await response.body?.cancel();
    return new Response(null, { status: response.status, headers: response.headers });
  }

  return {
    fetch(request, client) {
      const { pathname } = new URL(request.url);
      const read = request.method === "GET" || request.method === "HEAD";
      if (read && pathname === "/health") return Promise.resolve(healthResponse(identity));
      if (read && pathname === "/ready") return ready();
      // Beside the door, as /health is: Prometheus scrapes with no token,
      // never meets the rate limit, and a scrape is no GraphQL operation.
      if (read && pathname === "/metrics") return scrape(request);
      if (read && pathname === "/") {
        return Promise.resolve(
          new Response(null, { status: 302, headers: { location: "/graphql" } }),
        );
      }
      return serveGraphql(request, client);
    },
  };
}
