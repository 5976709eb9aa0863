import postgres from "postgres";
import {
  type Change,
  type GetByIdsRequest,
  type GetCommandRequest,
  grpc,
  invalidArgumentStatus,
  type ListCategoriesRequest,
  type ListProductsRequest,
  listTooLongMetadataKey,
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
  createServiceRegistry,
  createVerifier,
  databaseCheck,
  databaseMetrics,
  developmentAuth,
  grpcServerMetrics,
  type ReadinessCheck,
  redactUrl,
  type Registry,
  startGrpcServer,
  type StopOptions,
  stoppingCheck,
  StopSteps,
  traceStatement,
  tracingEnabled,
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
import { type QueryConfig, queryLimitDefaults } from "./config.ts";
import {
  CallCancelledError,
  InvalidArgumentError,
  ListTooLongError,
  NotFoundError,
  OutOfRangeError,
} from "./errors.ts";
import { isUuid, type ReadOptions } from "./filters.ts";
import { getProducts, getProductStatistics, listProducts, pageProducts } from "./products.ts";

/**
 * What startQueryService() serves from: the configuration without the HTTP
 * port (runService() serves that), the limits defaulting to queryLimitDefaults.
 */
export type QueryServiceConfig =
  & Omit<
    QueryConfig,
    "httpHost" | "httpPort" | "maxListItems" | "statementTimeoutMs" | "auth" | "production"
  >
  & Partial<Pick<QueryConfig, "maxListItems" | "statementTimeoutMs" | "auth" | "production">>;

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
  /** Its metrics (gRPC calls, reads), for /metrics. */
  metrics: Registry;
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

/**
 * Whether PostgreSQL cancelled the statement (SQLSTATE 57014, query_canceled):
 * it ran past the statement timeout, or an operator cancelled it. A statement
 * the service cancelled itself, for a cancelled call, is a CallCancelledError
 * by the time it gets here.
 */
function statementCancelled(error: unknown): boolean {
  return error instanceof Error && (error as { code?: unknown }).code === "57014";
}

/** What toGrpcError() needs beside the error: where to log, and the statement timeout to name. */
interface StatusContext {
  log: (line: string) => void;
  statementTimeoutMs: number;
}

/** The one place where errors become gRPC statuses. */
function toGrpcError(
  method: string,
  error: unknown,
  { log, statementTimeoutMs }: StatusContext,
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
  if (error instanceof ListTooLongError) {
    const metadata = new grpc.Metadata();
    metadata.set(listTooLongMetadataKey, JSON.stringify(error.list));
    return { code: grpc.status.FAILED_PRECONDITION, details: error.message, metadata };
  }
  if (error instanceof CallCancelledError) {
    // Nobody reads this answer: the caller has gone. The log says what was stopped.
    log(`${method} cancelled by its caller; its reads were stopped`);
    return {
      code: grpc.status.CANCELLED,
      details: `Cannot answer ${method}: the call was cancelled`,
    };
  }
  const reason = error instanceof Error ? error.message : String(error);
  if (statementCancelled(error)) {
    // PostgreSQL's words stay in the log: the caller learns only what happened.
    log(`${method} failed: the read database cancelled a statement: ${reason}`);
    return {
      code: grpc.status.DEADLINE_EXCEEDED,
      details: `Cannot answer ${method}: the read took longer than ${statementTimeoutMs} ms ` +
        "and was stopped",
    };
  }
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

/** An AbortSignal that aborts when the call is cancelled: by its caller, or at its deadline. */
function cancellationOf(call: grpc.ServerUnaryCall<unknown, unknown>): AbortSignal {
  const cancelled = new AbortController();
  if (call.cancelled) cancelled.abort();
  else call.once("cancelled", () => cancelled.abort());
  return cancelled.signal;
}

/**
 * Starts the query service: a gRPC server for catalog.v1.QueryService (with
 * health and reflection) that answers from the read database only. It reports
 * NOT_SERVING while the database cannot be reached. Every statement of a call
 * runs under the statement timeout and is cancelled when the call is; an
 * unpaged list answers at most config.maxListItems rows.
 */
export async function startQueryService(
  config: QueryServiceConfig,
  options: QueryServiceOptions = {},
): Promise<QueryService> {
  const log = options.log ?? console.log;
  const auth = config.auth ?? developmentAuth;
  const maxWaitMs = options.maxWaitMs ?? 30_000;
  const maxListItems = config.maxListItems ?? queryLimitDefaults.maxListItems;
  const statementTimeoutMs = config.statementTimeoutMs ?? queryLimitDefaults.statementTimeoutMs;
  const statusContext: StatusContext = { log, statementTimeoutMs };
  const connect = (max: number, statementTimeout?: number) =>
    postgres(config.readDatabaseUrl, {
      max,
      connect_timeout: 2,
      // A closed connection reconnects at the next query, so that a request
      // during a database outage fails at once and the first one after it
      // succeeds: postgres.js's own backoff grows with each failure to 10-20 s,
      // and requests would wait that long after the database was back.
      backoff: () => 0,
      onnotice: () => {},
      // With tracing on, each statement is an event of its read's span.
      debug: tracingEnabled ? traceStatement : false,
      connection: {
        application_name: "catalog-query",
        ...(statementTimeout === undefined ? {} : { statement_timeout: statementTimeout }),
      },
    });
  // The reads' pool: every statement on it is stopped by PostgreSQL once it
  // has run statementTimeoutMs, below the callers' deadline, so that work
  // nobody waits for does not go on.
  const poolSize = 10;
  const sql = connect(poolSize, statementTimeoutMs);
  const registry = createServiceRegistry("query");
  const onRead = databaseMetrics(registry, "read", poolSize);
  // The LISTEN connections (the command waiter's and the change feed's) run
  // nothing but their LISTEN, which waits for as long as the service runs:
  // they keep the server's default, the timeout being for reads a caller waits on.
  const waiter = new CommandWaiter({
    connect: () => connect(1),
    lookup: (commandId) => findCommandStatus(sql, commandId),
  });

  type Handler<K extends keyof QueryRequests> = (
    request: QueryRequests[K],
    call: grpc.ServerUnaryCall<QueryRequests[K], QueryResponses[K]>,
    reads: ReadOptions,
  ) => Promise<QueryResponses[K]>;

  const handlers: { [K in keyof QueryRequests]: Handler<K> } = {
    GetCategories: (request: GetByIdsRequest, _, reads) =>
      getCategories(sql, request.ids ?? [], reads),
    ListCategories: (request: ListCategoriesRequest, _, reads) =>
      listCategories(sql, request, reads),
    GetCategoryStatistics: () => getCategoryStatistics(sql),
    GetProducts: (request: GetByIdsRequest, _, reads) => getProducts(sql, request.ids ?? [], reads),
    ListProducts: (request: ListProductsRequest, _, reads) => listProducts(sql, request, reads),
    GetProductStatistics: () => getProductStatistics(sql),
    PageProducts: (request: PageProductsRequest, _, reads) => pageProducts(sql, request, reads),
    PageCategories: (request: PageCategoriesRequest, _, reads) =>
      pageCategories(sql, request, reads),
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
      reads: ReadOptions,
    ) => Promise<unknown>;
    implementation[method] = unaryMethod(
      async (request, call) => {
        const signal = cancellationOf(call);
        try {
          // A wait holds no connection while it waits: it is no database work.
          if (method === "WaitForCommand") {
            return await handle(request, call, { maxListItems, signal });
          }
          return await onRead.timed(method, () => handle(request, call, { maxListItems, signal }));
        } catch (error) {
          // Whatever a cancelled statement failed with, the call was cancelled first.
          if (signal.aborted) throw new CallCancelledError(undefined, { cause: error });
          throw error;
        }
      },
      (error) => toGrpcError(method, error, statusContext),
    );
  }
  const changes = new ChangeFeed({ sql, connect: () => connect(1) });
  implementation.WatchChanges = (call: grpc.ServerWritableStream<WatchChangesRequest, Change>) => {
    changes.watch(call).catch((error) =>
      call.emit("error", toGrpcError("WatchChanges", error, statusContext))
    );
  };

  const server = await startGrpcServer({
    host: config.grpcHost,
    port: config.grpcPort,
    serviceName: serviceNames.query,
    label: "the query service",
    definition: queryServiceDefinition(),
    implementation,
    metrics: grpcServerMetrics(registry),
    // With public reads anyone may call; otherwise a reader's token is needed,
    // the gateway forwarding its caller's (and its own for the change feed).
    access: {
      verify: createVerifier(auth),
      needs: () => auth.publicReads ? undefined : "catalog:read",
    },
    ...(config.production ? { reflectionRole: "catalog:admin" as const } : {}),
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
    metrics: registry,
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
