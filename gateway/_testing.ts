/**
 * In-memory stand-ins for the command and query services, and helpers to
 * post GraphQL to a gateway in process. For this folder's tests only.
 */
import {
  type CallOptions,
  type Category,
  type CommandReceipt,
  type CommandRequests,
  type CommandStatus,
  grpc,
  type Product,
} from "@catalog/proto";
import type { YogaLogger } from "graphql-yoga";
import { signDevelopmentToken } from "@catalog/runtime/auth";
import { defaultConfig, type GatewayConfig } from "./config.ts";
import type { CommandCalls, QueryCalls } from "./context.ts";
import { createGateway, type Gateway, type GatewayOptions } from "./gateway.ts";

/** One recorded call to a fake service. */
export interface Call {
  method: string;
  request: unknown;
  options?: CallOptions;
}

/**
 * What the fake worker does with the next commands: apply them (refusing a
 * stale expected version as the real one does), leave them ACCEPTED, reject
 * them, or give up on them (FAILED, with the reason as message).
 */
export type Outcome =
  | { status: "APPLIED" }
  | { status: "ACCEPTED" }
  | { status: "REJECTED"; code: string; message: string; currentVersion?: number }
  | { status: "FAILED"; message: string };

/** The versions a conditional command expected and found, for the fake's version check. */
interface Versions {
  expected?: number;
  current?: number;
}

const clock = () => "2026-01-02T03:04:05.000Z";

function cents(price: string): number {
  const [whole, fraction = ""] = price.split(".");
  return Number(whole) * 100 + Number(fraction.padEnd(2, "0"));
}

function page<T>(items: T[], request: { page?: { page?: number; perPage?: number } }): T[] {
  const perPage = request.page?.perPage ?? 0;
  if (perPage === 0) return items;
  const start = (Math.max(request.page?.page ?? 1, 1) - 1) * perPage;
  return items.slice(start, start + perPage);
}

/**
 * A keyset page as the fake serves it: sorted by the field (ties by id), after
 * the row whose id the cursor holds ("c:<id>"), first rows (20 by default).
 */
function keysetPage<T extends { id: string }>(
  items: T[],
  request: { first?: number; after?: string; sort?: string; direction?: string },
  keyOf: (item: T, sort: string) => string | number,
) {
  const sort = request.sort || "NAME";
  const sign = request.direction === "DESC" ? -1 : 1;
  const sorted = [...items].sort((a, b) => {
    const [x, y] = [keyOf(a, sort), keyOf(b, sort)];
    return sign * (x < y ? -1 : x > y ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  });
  const start = request.after
    ? sorted.findIndex((item) => `c:${item.id}` === request.after) + 1
    : 0;
  const first = request.first ?? 20;
  const edges = sorted.slice(start, start + first).map((node) => ({
    cursor: `c:${node.id}`,
    node,
  }));
  return {
    edges,
    pageInfo: {
      hasNextPage: start + first < sorted.length,
      hasPreviousPage: start > 0,
      startCursor: edges[0]?.cursor ?? "",
      endCursor: edges.at(-1)?.cursor ?? "",
    },
    totalCount: sorted.length,
  };
}

/** A gRPC ServiceError as @grpc/grpc-js makes them. */
export function serviceError(
  code: grpc.status,
  details: string,
  trailers: Record<string, string> = {},
): Error {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(trailers)) metadata.set(key, value);
  return Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), {
    code,
    details,
    metadata,
  });
}

/**
 * A catalog kept in memory, served through the query service's calls and
 * changed through the command service's calls, recording every call.
 */
export class FakeBackends {
  categories = new Map<string, Category>();
  products = new Map<string, Product>();
  statuses = new Map<string, CommandStatus>();
  calls: Call[] = [];
  /** What happens to the commands sent from now on. */
  outcome: Outcome = { status: "APPLIED" };
  /** Errors that a method throws instead of answering, by method name. */
  failures = new Map<string, unknown>();
  /** Methods whose calls wait until released; see hold(). */
  readonly #held = new Map<string, Promise<void>>();

  /** Calls of one method, in order. */
  callsOf(method: string): Call[] {
    return this.calls.filter((call) => call.method === method);
  }

  addCategory(name: string, id = crypto.randomUUID()): Category {
    const category = {
      id,
      name,
      version: 1,
      productCount: 0,
      createdAt: clock(),
      updatedAt: clock(),
    };
    this.categories.set(id, category);
    return category;
  }

  addProduct(name: string, price: string, categoryId: string, id = crypto.randomUUID()): Product {
    const category = this.categories.get(categoryId)!;
    category.productCount++;
    const product = {
      id,
      name,
      price,
      categoryId,
      categoryName: category.name,
      version: 1,
      createdAt: clock(),
      updatedAt: clock(),
    };
    this.products.set(id, product);
    return product;
  }

  /**
   * Makes every call of method, from now on, wait to answer until the
   * function returned is called: a backend that is slow for as long as a
   * test wants.
   */
  hold(method: string): () => void {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#held.set(method, promise);
    return () => {
      this.#held.delete(method);
      resolve();
    };
  }

  #record<T>(method: string, request: unknown, options: CallOptions | undefined, answer: () => T) {
    this.calls.push({ method, request, options });
    const failure = this.failures.get(method);
    if (failure !== undefined) return Promise.reject(failure);
    // A copy, as gRPC gives: a later change must not reach an answer already given.
    return (this.#held.get(method) ?? Promise.resolve()).then(answer)
      .then((value) => structuredClone(value));
  }

  #sortedCategories(): Category[] {
    return [...this.categories.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  #sortedProducts(): Product[] {
    return [...this.products.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  #send(
    type: keyof CommandRequests,
    aggregateId: string,
    apply: () => void,
    versions: Versions = {},
  ): CommandReceipt {
    const commandId = crypto.randomUUID();
    let outcome = this.outcome;
    const { expected, current } = versions;
    if (
      outcome.status === "APPLIED" && expected !== undefined && current !== undefined &&
      expected !== current
    ) {
      outcome = {
        status: "REJECTED",
        code: "VERSION_CONFLICT",
        message: `Cannot apply ${type} to "${aggregateId}": expected version ${expected}, ` +
          `but it is at version ${current}`,
        currentVersion: current,
      };
    }
    if (outcome.status === "APPLIED") apply();
    const status: CommandStatus = {
      commandId,
      type,
      aggregateId,
      status: outcome.status,
      code: outcome.status === "REJECTED"
        ? outcome.code
        : outcome.status === "FAILED"
        ? "DEAD_LETTERED"
        : "",
      message: outcome.status === "REJECTED" || outcome.status === "FAILED" ? outcome.message : "",
      acceptedAt: clock(),
      handledAt: outcome.status === "ACCEPTED" ? "" : clock(),
    };
    if (outcome.status === "REJECTED" && outcome.currentVersion !== undefined) {
      status.currentVersion = outcome.currentVersion;
    }
    this.statuses.set(commandId, status);
    return { commandId, type, aggregateId, status: "ACCEPTED", acceptedAt: clock() };
  }

  /** The query service's calls. */
  readonly queries: QueryCalls = {
    GetCategories: (request, options) =>
      this.#record("GetCategories", request, options, () => {
        const categories = request.ids.flatMap((id) => this.categories.get(id) ?? []);
        return { categories, totalCount: categories.length };
      }),
    ListCategories: (request, options) =>
      this.#record("ListCategories", request, options, () => {
        const matches = this.#sortedCategories().filter((category) =>
          (request.name === undefined ||
            category.name.toLowerCase() === request.name.toLowerCase()) &&
          (request.nameContains === undefined ||
            category.name.toLowerCase().includes(request.nameContains.toLowerCase()))
        );
        return { categories: page(matches, request), totalCount: matches.length };
      }),
    GetCategoryStatistics: (request, options) =>
      this.#record("GetCategoryStatistics", request, options, () => {
        const all = [...this.categories.values()];
        const withProducts = all.filter((category) => category.productCount > 0).length;
        return {
          totalCount: all.length,
          withProductsCount: withProducts,
          emptyCount: all.length - withProducts,
        };
      }),
    GetProducts: (request, options) =>
      this.#record("GetProducts", request, options, () => {
        const products = request.ids.flatMap((id) => this.products.get(id) ?? []);
        return { products, totalCount: products.length };
      }),
    ListProducts: (request, options) =>
      this.#record("ListProducts", request, options, () => {
        const matches = this.#sortedProducts().filter((product) =>
          (request.name === undefined ||
            product.name.toLowerCase() === request.name.toLowerCase()) &&
          (request.nameContains === undefined ||
            product.name.toLowerCase().includes(request.nameContains.toLowerCase())) &&
          (!request.categoryIds?.length || request.categoryIds.includes(product.categoryId)) &&
          (request.minPrice === undefined || cents(product.price) >= cents(request.minPrice)) &&
          (request.maxPrice === undefined || cents(product.price) <= cents(request.maxPrice))
        );
        return { products: page(matches, request), totalCount: matches.length };
      }),
    GetProductStatistics: (request, options) =>
      this.#record("GetProductStatistics", request, options, () => {
        const prices = [...this.products.values()].map((product) => cents(product.price));
        const format = (value: number) => (value / 100).toFixed(2);
        const total = prices.reduce((sum, value) => sum + value, 0);
        return {
          totalCount: prices.length,
          averagePrice: prices.length ? format(Math.round(total / prices.length)) : "",
          totalValue: prices.length ? format(total) : "",
          minPrice: prices.length ? format(Math.min(...prices)) : "",
          maxPrice: prices.length ? format(Math.max(...prices)) : "",
        };
      }),
    PageProducts: (request, options) =>
      this.#record("PageProducts", request, options, () => {
        const filter = request.filter ?? {};
        const matches = [...this.products.values()].filter((product) =>
          (filter.categoryId === undefined || product.categoryId === filter.categoryId) &&
          (filter.nameContains === undefined ||
            product.name.toLowerCase().includes(filter.nameContains.toLowerCase())) &&
          (filter.minPrice === undefined || cents(product.price) >= cents(filter.minPrice)) &&
          (filter.maxPrice === undefined || cents(product.price) <= cents(filter.maxPrice))
        );
        return keysetPage(matches, request, (product, sort) =>
          sort === "PRICE"
            ? cents(product.price)
            : sort === "CREATED_AT"
            ? product.createdAt
            : product.name);
      }),
    PageCategories: (request, options) =>
      this.#record("PageCategories", request, options, () => {
        const term = request.filter?.nameContains?.toLowerCase();
        const matches = [...this.categories.values()].filter((category) =>
          term === undefined || category.name.toLowerCase().includes(term)
        );
        return keysetPage(
          matches,
          request,
          (category, sort) => sort === "CREATED_AT" ? category.createdAt : category.name,
        );
      }),
    GetCommand: (request, options) =>
      this.#record("GetCommand", request, options, () => {
        const status = this.statuses.get(request.commandId);
        if (!status) throw serviceError(grpc.status.NOT_FOUND, "Cannot find the command");
        return status;
      }),
    WaitForCommand: (request, options) =>
      this.#record("WaitForCommand", request, options, () => {
        const status = this.statuses.get(request.commandId);
        if (!status) throw serviceError(grpc.status.NOT_FOUND, "Cannot find the command");
        return status;
      }),
  };

  /** The command service's calls; with outcome APPLIED they change the catalog at once. */
  readonly commands: CommandCalls = {
    CreateCategory: (request, options) =>
      this.#record("CreateCategory", request, options, () => {
        const id = crypto.randomUUID();
        return this.#send("CreateCategory", id, () => this.addCategory(request.name.trim(), id));
      }),
    UpdateCategory: (request, options) =>
      this.#record(
        "UpdateCategory",
        request,
        options,
        () =>
          this.#send("UpdateCategory", request.id, () => {
            const category = this.categories.get(request.id)!;
            category.name = request.name.trim();
            category.version++;
            // As the projector does: a product's row carries its category's name.
            for (const product of this.products.values()) {
              if (product.categoryId === category.id) product.categoryName = category.name;
            }
          }, {
            expected: request.expectedVersion,
            current: this.categories.get(request.id)?.version,
          }),
      ),
    DeleteCategory: (request, options) =>
      this.#record(
        "DeleteCategory",
        request,
        options,
        () =>
          this.#send("DeleteCategory", request.id, () => this.categories.delete(request.id), {
            expected: request.expectedVersion,
            current: this.categories.get(request.id)?.version,
          }),
      ),
    CreateProduct: (request, options) =>
      this.#record("CreateProduct", request, options, () => {
        const id = crypto.randomUUID();
        return this.#send("CreateProduct", id, () => {
          const [whole, fraction = ""] = request.price.split(".");
          this.addProduct(
            request.name,
            `${whole}.${fraction.padEnd(2, "0")}`,
            request.categoryId,
            id,
          );
        });
      }),
    UpdateProduct: (request, options) =>
      this.#record(
        "UpdateProduct",
        request,
        options,
        () =>
          this.#send("UpdateProduct", request.id, () => {
            const product = this.products.get(request.id)!;
            if (request.name !== undefined) product.name = request.name;
            if (request.price !== undefined) product.price = request.price;
            if (request.categoryId !== undefined) {
              product.categoryId = request.categoryId;
              product.categoryName = this.categories.get(request.categoryId)!.name;
            }
            product.version++;
          }, {
            expected: request.expectedVersion,
            current: this.products.get(request.id)?.version,
          }),
      ),
    DeleteProduct: (request, options) =>
      this.#record(
        "DeleteProduct",
        request,
        options,
        () =>
          this.#send("DeleteProduct", request.id, () => this.products.delete(request.id), {
            expected: request.expectedVersion,
            current: this.products.get(request.id)?.version,
          }),
      ),
  };
}

/** A logger that keeps what it is told to log as an error. */
export function recordingLogger(): YogaLogger & { errors: unknown[] } {
  const errors: unknown[] = [];
  return {
    errors,
    debug() {},
    info() {},
    warn() {},
    error(...args: unknown[]) {
      errors.push(...args);
    },
  };
}

/** Test config: the defaults, with a short wait for commands. */
export const testConfig: GatewayConfig = { ...defaultConfig, commandWaitTimeoutMs: 50 };

/** A gateway over fake backends, with helpers to post GraphQL to it in process. */
export interface TestGateway {
  gateway: Gateway;
  backends: FakeBackends;
  logger: ReturnType<typeof recordingLogger>;
  /** Posts one operation and parses the JSON answer, whatever its errors. */
  gql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
  ): Promise<GraphQLResponse<T>>;
  /** Like gql(), but throws unless the answer has data and no errors. */
  gqlData<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
  ): Promise<T>;
}

/** A GraphQL response as JSON. */
export interface GraphQLResponse<T = Record<string, unknown>> {
  data?: T | null;
  errors?: {
    message: string;
    path?: (string | number)[];
    extensions?: Record<string, unknown>;
  }[];
}

/** The subject of the token testGateway()'s requests carry by default. */
export const TEST_WRITER = "test-writer";

/** A development token of TEST_WRITER with catalog:write, signed once. */
export const writerToken: Promise<string> = signDevelopmentToken({
  subject: TEST_WRITER,
  role: "catalog:write",
});

/** Options of testGateway(): the gateway's, and the token its requests carry. */
export type TestGatewayOptions = Partial<GatewayOptions> & {
  /** Bearer token of every request; null sends none. Default: writerToken. */
  token?: string | null;
};

/**
 * A gateway over fresh fake backends, logging into a recordingLogger(); its
 * requests carry a writer's token unless options.token says otherwise.
 */
export function testGateway(options: TestGatewayOptions = {}): TestGateway {
  const backends = new FakeBackends();
  const logger = recordingLogger();
  const gateway = createGateway({
    commands: backends.commands,
    queries: backends.queries,
    config: testConfig,
    checkBackend: () => Promise.resolve("SERVING"),
    logging: logger,
    ...options,
  });
  async function gql<T>(query: string, variables?: Record<string, unknown>) {
    const token = options.token === undefined ? await writerToken : options.token;
    const response = await gateway.fetch(
      new Request("http://localhost/graphql", {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
      }),
    );
    return await response.json() as GraphQLResponse<T>;
  }
  async function gqlData<T>(query: string, variables?: Record<string, unknown>) {
    const result = await gql<T>(query, variables);
    if (result.errors?.length || !result.data) {
      throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
    }
    return result.data;
  }
  return { gateway, backends, logger, gql, gqlData };
}
