import { createSchema, createYoga, type LogLevel, type YogaLogger } from "graphql-yoga";
import { useGraphQlJit } from "@envelop/graphql-jit";
import { Kind } from "graphql";
import { checkHealth, serviceNames } from "@catalog/proto";
import { categoryResolvers } from "./category.ts";
import { commandResolvers } from "./command.ts";
import type { GatewayConfig } from "./config.ts";
import { callMetadata, type CommandCalls, createContext, type QueryCalls } from "./context.ts";
import type { Backend } from "./grpc_errors.ts";
import type { ChangeSource } from "./change_feed.ts";
import { productResolvers } from "./product.ts";
import { typeDefs } from "./schema.ts";
import { subscriptionResolvers } from "./subscriptions.ts";

/** The gateway's version, as /health reports it. */
export const version = "0.1.0";

/** What GraphiQL shows on first visit: the seed's own example. */
const defaultQuery = `# The catalog's categories and products, each with its category.
{
  categories { id name }
  products { id name price category { id name } }
}
`;

/**
 * Asks one backend for its grpc.health.v1 status; "SERVING" means ready.
 * Rejects (or answers anything else) when it is not.
 */
export type BackendHealthCheck = (backend: Backend) => Promise<string>;

/** Options of createGateway(). */
export interface GatewayOptions {
  /** A CommandClient from @catalog/proto, or anything with its calls. */
  commands: CommandCalls;
  /** A QueryClient from @catalog/proto, or anything with its calls. */
  queries: QueryCalls;
  config: GatewayConfig;
  /**
   * How /ready checks a backend. Default: grpc.health.v1 Check of the
   * backend's service at its configured address, with a 1 s deadline.
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
  const addresses: Record<Backend, string> = {
    command: config.commandServiceAddress,
    query: config.queryServiceAddress,
  };
  return (backend) =>
    checkHealth(addresses[backend], serviceNames[backend], HEALTH_CHECK_TIMEOUT_MS);
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

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

  function health(): Response {
    return json({ status: "healthy", service: "gateway", version, timestamp: now().toISOString() });
  }

  async function check(backend: Backend): Promise<{ status: string; detail?: string }> {
    try {
      return { status: await checkBackend(backend) };
    } catch (error) {
      const detail = (error as { details?: string }).details ||
        (error instanceof Error ? error.message : String(error));
      return { status: "UNREACHABLE", detail };
    }
  }

  async function ready(): Promise<Response> {
    const [command, query] = await Promise.all([check("command"), check("query")]);
    const checks = { command, query };
    const notReady = (["command", "query"] as const).filter((b) => checks[b].status !== "SERVING");
    const base = { service: "gateway", version, timestamp: now().toISOString(), checks };
    if (notReady.length === 0) return json({ status: "ready", ...base });
    const why = notReady.map((backend) => `the ${backend} service is ${checks[backend].status}`);
    return json(
      { status: "not_ready", ...base, notReady, message: `Not ready: ${why.join(", ")}` },
      503,
    );
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
      if (read && pathname === "/health") return Promise.resolve(health());
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
