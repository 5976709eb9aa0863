import type {
  CallOptions,
  Category,
  CommandClient,
  CommandRequests,
  Product,
  QueryClient,
  QueryRequests,
} from "@catalog/proto";
import { type Identity, tracingEnabled } from "@catalog/runtime";
import { BatchLoader } from "./batch_loader.ts";
import type { Breakers } from "./breakers.ts";
import type { GatewayConfig } from "./config.ts";
import { type Backend, translateGrpcError } from "./grpc_errors.ts";

/** The command service's calls, without `close`. */
export type CommandCalls = Omit<CommandClient, "close">;
/** The query service's calls, without `close`. */
export type QueryCalls = Omit<QueryClient, "close">;

/** What every resolver receives, made afresh for each HTTP request. */
export interface GatewayContext {
  /** Calls carrying this request's metadata and deadline, failing with GraphQL errors. */
  commands: CommandCalls;
  /** Calls carrying this request's metadata and deadline, failing with GraphQL errors. */
  queries: QueryCalls;
  config: GatewayConfig;
  loaders: Loaders;
  /** The caller its token names; undefined when it sent none. */
  identity?: Identity;
  /** Whether reads need no token (AUTH_PUBLIC_READS). */
  publicReads: boolean;
}

/** Per-request batch loaders; see BatchLoader. */
export interface Loaders {
  /** Categories by id, through one GetCategories call per batch. */
  categoryById: BatchLoader<string, Category>;
  /** A category's products, through one ListProducts({ categoryIds }) call per batch. */
  productsByCategoryId: BatchLoader<string, Product[]>;
  /** Products by id, through one GetProducts call per batch. */
  productById: BatchLoader<string, Product>;
  /** Forgets what was loaded, after a write. */
  clearAll(): void;
}

/** Options of createContext(). */
export interface ContextOptions {
  commands: CommandCalls;
  queries: QueryCalls;
  config: GatewayConfig;
  /** The circuit breakers every request's calls go through. Default: none. */
  breakers?: Breakers;
}

/** The command service's calls, by name. */
export const commandMethods = [
  "CreateCategory",
  "UpdateCategory",
  "DeleteCategory",
  "CreateProduct",
  "UpdateProduct",
  "DeleteProduct",
] as const satisfies readonly (keyof CommandRequests)[];

const queryMethods = [
  "GetCategories",
  "ListCategories",
  "GetCategoryStatistics",
  "GetProducts",
  "ListProducts",
  "GetProductStatistics",
  "PageProducts",
  "PageCategories",
  "GetCommand",
  "WaitForCommand",
] as const satisfies readonly (keyof QueryRequests)[];

type AnyCall = (request: unknown, options?: CallOptions) => Promise<unknown>;

/**
 * Wraps each call so that it carries the request's metadata and deadline,
 * goes through the backend's circuit breaker when there is one, and so that
 * its failures become the GraphQL errors of translateGrpcError(): the single
 * place where gRPC errors meet GraphQL.
 */
function bind<T>(
  client: T,
  methods: readonly string[],
  backend: Backend,
  defaults: CallOptions,
  breaker?: Breakers[Backend],
): T {
  const bound: Record<string, AnyCall> = {};
  for (const method of methods) {
    const call = (client as Record<string, AnyCall>)[method];
    if (typeof call !== "function") {
      throw new TypeError(`Cannot use the ${backend} client: it has no ${method} method`);
    }
    bound[method] = async (request, options = {}) => {
      const send = () =>
        call.call(client, request, {
          timeoutMs: options.timeoutMs ?? defaults.timeoutMs,
          metadata: { ...defaults.metadata, ...options.metadata },
        });
      try {
        return await (breaker ? breaker.execute(send) : send());
      } catch (error) {
        throw translateGrpcError(error, backend);
      }
    };
  }
  return bound as T;
}

const PRINTABLE = /^[\x20-\x7e]{1,200}$/;

function header(request: Request, name: string): string | undefined {
  const value = request.headers.get(name)?.trim();
  // gRPC metadata takes printable ASCII only; anything else is dropped, not forwarded.
  return value && PRINTABLE.test(value) ? value : undefined;
}

/**
 * The gRPC metadata of the calls made for one HTTP request: its
 * x-correlation-id (or a new UUID), its traceparent if it has one (when the
 * gateway does not trace itself), and the
 * caller's bearer token, which the command and query services verify again.
 * Who the caller is comes only from that token: an x-actor header is never
 * forwarded.
 */
export function callMetadata(request: Request, token?: string): Record<string, string> {
  const metadata: Record<string, string> = {
    "x-correlation-id": header(request, "x-correlation-id") ?? crypto.randomUUID(),
  };
  // With tracing on, Deno sends the traceparent of the gateway's own span of
  // the call (a child of the request's), and the client's is not passed on.
  const traceparent = tracingEnabled ? undefined : header(request, "traceparent");
  if (traceparent) metadata.traceparent = traceparent;
  if (token) metadata.authorization = `Bearer ${token}`;
  return metadata;
}

function createLoaders(queries: QueryCalls): Loaders {
  const categoryById = new BatchLoader<string, Category>(async (ids) => {
    const { categories } = await queries.GetCategories({ ids });
    return new Map(categories.map((category) => [category.id, category]));
  });
  const productsByCategoryId = new BatchLoader<string, Product[]>(async (categoryIds) => {
    const { products } = await queries.ListProducts({ categoryIds });
    const byCategory = new Map<string, Product[]>(categoryIds.map((id) => [id, []]));
    for (const product of products) byCategory.get(product.categoryId)?.push(product);
    return byCategory;
  });
  const productById = new BatchLoader<string, Product>(async (ids) => {
    const { products } = await queries.GetProducts({ ids });
    return new Map(products.map((product) => [product.id, product]));
  });
  return {
    categoryById,
    productsByCategoryId,
    productById,
    clearAll() {
      categoryById.clearAll();
      productsByCategoryId.clearAll();
      productById.clearAll();
    },
  };
}

/**
 * The context of one GraphQL request, whose calls carry `metadata` (by
 * default, callMetadata() of the request).
 */
export function createContext(
  options: ContextOptions,
  request: Request,
  metadata: Record<string, string> = callMetadata(request),
  identity?: Identity,
): GatewayContext {
  const defaults: CallOptions = { timeoutMs: options.config.grpcDeadlineMs, metadata };
  const { breakers } = options;
  const queries = bind(options.queries, queryMethods, "query", defaults, breakers?.query);
  return {
    commands: bind(options.commands, commandMethods, "command", defaults, breakers?.command),
    queries,
    config: options.config,
    loaders: createLoaders(queries),
    ...(identity ? { identity } : {}),
    publicReads: options.config.auth.publicReads,
  };
}
