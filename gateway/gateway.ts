import { createSchema, createYoga, type LogLevel, type YogaLogger } from "graphql-yoga";
import { useGraphQlJit } from "@envelop/graphql-jit";
import { Kind } from "graphql";
import { grpc, serviceNames } from "@catalog/proto";
import {
  createHealthClient,
  type HealthClient,
  healthResponse,
  type ReadinessCheck,
  readinessResponse,
  version,
} from "@catalog/runtime";
import { categoryResolvers } from "./category.ts";
import { commandResolvers } from "./command.ts";
import type { GatewayConfig } from "./config.ts";
import { callMetadata, type CommandCalls, createContext, type QueryCalls } from "./context.ts";
import type { Backend } from "./grpc_errors.ts";
import type { ChangeSource } from "./change_feed.ts";
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
}

/** The HTTP handler of the gateway, ready for `Deno.serve`. */
export interface Gateway {
  /** Answers /graphql (GraphiQL for a browser), /health and /ready. */
  fetch(request: Request): Promise<Response>;
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

  // Beside each request, serveGraphql() hands yoga the metadata of its calls.
  const yoga = createYoga<{ callMetadata?: Record<string, string> }>({
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
      createContext({ commands, queries, config }, initial.request, initial.callMetadata),
    graphqlEndpoint: "/graphql",
    graphiql: { title: "Catalog GraphiQL", defaultQuery },
    // GraphiQL's assets come inlined from the package, never from a CDN. The
    // package (a 9 MB bundle, about 35 MB of heap) is loaded on the first page
    // asked for, not by every gateway that never serves one.
    renderGraphiQL: async (graphiql) =>
      (await import("@graphql-yoga/render-graphiql")).renderGraphiQL(graphiql),
    landingPage: false,
    logging: options.logging ?? true,
    plugins: [
      // Queries and mutations run as JavaScript compiled once per document
      // (documents come from yoga's parser cache, so a repeated query compiles
      // once): a list of products costs the executor several times less.
      // Subscriptions keep graphql-js: each event is one small execution.
      useGraphQlJit({}, {
        enableIf: ({ document }) =>
          document.definitions.every((definition) =>
            definition.kind !== Kind.OPERATION_DEFINITION || definition.operation !== "subscription"
          ),
        onError: (result) => yoga.logger.error("Cannot compile a query", result.errors),
      }),
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

  async function serveGraphql(request: Request): Promise<Response> {
    // Every call made for this request carries one correlation id, which the
    // client gets back even when it did not choose it.
    const metadata = callMetadata(request);
    const correlationId = metadata["x-correlation-id"]!;
    // A fresh request, because yoga reads request.signal, and reading it on a
    // Deno.serve request prints a warning about its legacy abort behaviour.
    const forwarded = new Request(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
    });
    const response = await yoga.fetch(forwarded, { callMetadata: metadata });
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

  return {
    fetch(request) {
      const { pathname } = new URL(request.url);
      const read = request.method === "GET" || request.method === "HEAD";
      if (read && pathname === "/health") return Promise.resolve(healthResponse(identity));
      if (read && pathname === "/ready") return ready();
      if (read && pathname === "/") {
        return Promise.resolve(
          new Response(null, { status: 302, headers: { location: "/graphql" } }),
        );
      }
      return serveGraphql(request);
    },
  };
}
