import postgres from "postgres";
import {
  type Change,
  type GetByIdsRequest,
  type GetCommandRequest,
  grpc,
  invalidArgumentStatus,
  type ListCategoriesRequest,
  type ListProductsRequest,
  type PageCategoriesRequest,
  type PageProductsRequest,
  type QueryRequests,
  type QueryResponses,
  queryServiceDefinition,
  serviceNames,
  type WaitForCommandRequest,
  type WatchChangesRequest,
} from "@catalog/proto";
import {
  databaseCheck,
  type ReadinessCheck,
  redactUrl,
  startGrpcServer,
  type StopOptions,
  stoppingCheck,
  StopSteps,
  unaryMethod,
  watchDatabaseHealth,
} from "@catalog/runtime";
import {
  getCategories,
  getCategoryStatistics,
  listCategories,
  pageCategories,
} from "./categories.ts";
import { ChangeFeed } from "./change_feed.ts";
import { CommandWaiter } from "./command_waiter.ts";
import { findCommandStatus, pendingStatus } from "./commands.ts";
import type { QueryConfig } from "./config.ts";
import { InvalidArgumentError, NotFoundError, OutOfRangeError } from "./errors.ts";
import { isUuid } from "./filters.ts";
import { getProducts, getProductStatistics, listProducts, pageProducts } from "./products.ts";

/** Options of startQueryService(), mostly for tests. */
export interface QueryServiceOptions {
  /** Where to log. Default console.log. */
  log?: (line: string) => void;
  /** Time between read-database health checks. Default 2000 ms. */
  healthIntervalMs?: number;
  /** Longest WaitForCommand wait, whatever the caller asks. Default 30000 ms. */
  maxWaitMs?: number;
  /** How long stop() lets running calls finish. Default 4000 ms. */
  shutdownGraceMs?: number;
}

/** A running query service. */
export interface QueryService {
  /** The port it listens on (useful when configured with port 0). */
  port: number;
  /**
   * Reports NOT_SERVING, refuses new calls, answers waiting calls and ends
   * the change streams, lets running calls finish, closes the pool, and then
   * the gRPC connections unless the process is exiting.
   */
  stop(options?: StopOptions): Promise<void>;
  /** What it needs to serve, as /ready reports it: the read database, and not stopping. */
  readiness(): Record<string, ReadinessCheck>;
  /** While stop() runs, the step it waits on. */
  readonly waitingFor: string | undefined;
}

/**
 * Whether an error means the database is away rather than the query wrong:
 * a driver or socket error (ECONNREFUSED, CONNECT_TIMEOUT, CONNECTION_CLOSED…),
 * or a server error of a connection or shutdown class.
 */
function databaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  if (severity === undefined) return typeof code === "string";
  const state = String(code ?? "");
  return state.startsWith("08") || state.startsWith("57P") || state === "3D000" ||
    state === "53300";
}

/** The one place where errors become gRPC statuses. */
function toGrpcError(
  method: string,
  error: unknown,
  log: (line: string) => void,
): Partial<grpc.StatusObject> {
  if (error instanceof InvalidArgumentError) {
    return invalidArgumentStatus(error.message, error.fieldErrors);
  }
  if (error instanceof NotFoundError) {
    return { code: grpc.status.NOT_FOUND, details: error.message };
  }
  if (error instanceof OutOfRangeError) {
    return { code: grpc.status.OUT_OF_RANGE, details: error.message };
  }
  const reason = error instanceof Error ? error.message : String(error);
  if (databaseUnavailable(error)) {
    log(`${method} failed: the read database is unavailable: ${reason}`);
    return {
      code: grpc.status.UNAVAILABLE,
      details: `Cannot answer ${method}: the read database is unavailable`,
    };
  }
  log(`${method} failed: ${error instanceof Error ? error.stack : reason}`);
  return { code: grpc.status.INTERNAL, details: `Cannot answer ${method}: internal error` };
}

function requireCommandId(action: string, commandId: string): string {
  if (!isUuid(commandId)) {
    throw new InvalidArgumentError(action, [{ field: "commandId", message: "Must be a UUID" }]);
  }
  return commandId.toLowerCase();
}

/**
 * Starts the query service: a gRPC server for catalog.v1.QueryService (with
 * health and reflection) that answers from the read database only. It reports
 * NOT_SERVING while the database cannot be reached.
 */
export async function startQueryService(
  config: Omit<QueryConfig, "httpHost" | "httpPort">,
  options: QueryServiceOptions = {},
): Promise<QueryService> {
  const log = options.log ?? console.log;
  const maxWaitMs = options.maxWaitMs ?? 30_000;
  const connect = (max: number) =>
    postgres(config.readDatabaseUrl, {
      max,
      connect_timeout: 2,
      // A closed connection reconnects at the next query, so that a request
      // during a database outage fails at once and the first one after it
      // succeeds: postgres.js's own backoff grows with each failure to 10-20 s,
      // and requests would wait that long after the database was back.
      backoff: () => 0,
      onnotice: () => {},
      connection: { application_name: "catalog-query" },
    });
  const sql = connect(10);
  const waiter = new CommandWaiter({
    connect: () => connect(1),
    lookup: (commandId) => findCommandStatus(sql, commandId),
  });

  type Handler<K extends keyof QueryRequests> = (
    request: QueryRequests[K],
    call: grpc.ServerUnaryCall<QueryRequests[K], QueryResponses[K]>,
  ) => Promise<QueryResponses[K]>;

  const handlers: { [K in keyof QueryRequests]: Handler<K> } = {
    GetCategories: (request: GetByIdsRequest) => getCategories(sql, request.ids ?? []),
    ListCategories: (request: ListCategoriesRequest) => listCategories(sql, request),
    GetCategoryStatistics: () => getCategoryStatistics(sql),
    GetProducts: (request: GetByIdsRequest) => getProducts(sql, request.ids ?? []),
    ListProducts: (request: ListProductsRequest) => listProducts(sql, request),
    GetProductStatistics: () => getProductStatistics(sql),
    PageProducts: (request: PageProductsRequest) => pageProducts(sql, request),
    PageCategories: (request: PageCategoriesRequest) => pageCategories(sql, request),
    async GetCommand(request: GetCommandRequest) {
      const commandId = requireCommandId("get command", request.commandId);
      const status = await findCommandStatus(sql, commandId);
      if (!status) {
        throw new NotFoundError(
          `Cannot find command ${commandId}: the read side has not heard of it`,
        );
      }
      return status;
    },
    async WaitForCommand(request: WaitForCommandRequest, call) {
      const commandId = requireCommandId("wait for command", request.commandId);
      let timeoutMs = Math.min(Math.max(request.timeoutMs ?? 0, 0), maxWaitMs);
      // Answer a little before the caller's own deadline rather than letting it expire.
      const deadline = call.getDeadline();
      const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
      if (Number.isFinite(deadlineMs)) {
        timeoutMs = Math.max(0, Math.min(timeoutMs, deadlineMs - Date.now() - 100));
      }
      const cancelled = new AbortController();
      call.once("cancelled", () => cancelled.abort());
      const status = await waiter.wait(commandId, timeoutMs, cancelled.signal);
      return status ?? pendingStatus(commandId);
    },
  };

  const implementation: grpc.UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(handlers)) {
    const handle = handler as (
      request: unknown,
      call: grpc.ServerUnaryCall<unknown, unknown>,
    ) => Promise<unknown>;
    implementation[method] = unaryMethod(handle, (error) => toGrpcError(method, error, log));
  }
  const changes = new ChangeFeed({ sql, connect: () => connect(1) });
  implementation.WatchChanges = (call: grpc.ServerWritableStream<WatchChangesRequest, Change>) => {
    changes.watch(call).catch((error) =>
      call.emit("error", toGrpcError("WatchChanges", error, log))
    );
  };

  const server = await startGrpcServer({
    host: config.grpcHost,
    port: config.grpcPort,
    serviceName: serviceNames.query,
    label: "the query service",
    definition: queryServiceDefinition(),
    implementation,
  });
  server.setServing(false);

  let everHealthy = false;
  let verifying: Promise<void> | undefined;
  const health = watchDatabaseHealth(sql, {
    intervalMs: options.healthIntervalMs,
    onChange(healthy) {
      server.setServing(healthy);
      const where = redactUrl(config.readDatabaseUrl);
      if (!healthy) {
        log(`Cannot reach the read database at ${where}; reporting NOT_SERVING`);
        return;
      }
      if (everHealthy) log(`Read database at ${where} is back; reporting SERVING`);
      // Start (or, after an outage, start over) the LISTEN for command outcomes.
      const listening = everHealthy ? waiter.restart() : waiter.listen();
      (everHealthy ? changes.restart() : changes.listen()).catch((error) =>
        log(`Cannot listen for changes: ${error instanceof Error ? error.message : error}`)
      );
      everHealthy = true;
      listening.catch((error) =>
        log(`Cannot listen for command outcomes: ${error instanceof Error ? error.message : error}`)
      );
    },
    onCheck(healthy) {
      if (!healthy || verifying) return;
      verifying = waiter.verify((channel, payload) => sql.notify(channel, payload))
        .catch((error) =>
          log(
            `Cannot verify the LISTEN for command outcomes: ${
              error instanceof Error ? error.message : error
            }`,
          )
        )
        .finally(() => verifying = undefined);
    },
  });
  await health.first;
  log(`Query service ready on :${server.port}`);

  let stopping: Promise<void> | undefined;
  const steps = new StopSteps();
  return {
    port: server.port,
    readiness() {
      return {
        service: stoppingCheck(stopping !== undefined, "the query service"),
        readDatabase: databaseCheck(health, "the read database"),
      };
    },
    get waitingFor() {
      return steps.waitingFor;
    },
    stop(stopOptions = {}) {
      stopping ??= (async () => {
        // New calls are refused from here on; the long ones still running
        // (WaitForCommand, WatchChanges) are answered now rather than waited for.
        const drained = server.drain(options.shutdownGraceMs ?? 4000);
        health.stop();
        await steps.step("the read model's check", () => verifying);
        await steps.step("the command waits to be answered", () => waiter.close());
        await steps.step("the change streams to end", () => changes.close());
        await steps.step("the calls in hand", () => drained);
        await steps.step("the read database pool to close", () => sql.end({ timeout: 1 }));
        if (!stopOptions.exiting) await steps.step("the gRPC connections", () => server.close());
      })();
      return stopping;
    },
  };
}
