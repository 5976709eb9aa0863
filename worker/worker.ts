import postgres from "postgres";
import { topology } from "@catalog/proto";
import {
  amqpUserOf,
  createServiceRegistry,
  databaseCheck,
  databaseMetrics,
  type ReadinessCheck,
  type Registry,
  stoppingCheck,
  StopSteps,
  traceStatement,
  tracingEnabled,
  watchDatabaseHealth,
} from "@catalog/runtime";
import { startCatchUp } from "./catch_up.ts";
import { recordAccepted, recordFailed, recordRefused } from "./command_status.ts";
import { defaultRetention, type RetentionConfig, type WorkerConfig } from "./config.ts";
import { startConsumer } from "./consume/start_consumer.ts";
import { type Clock, handleCommand, handleCommands } from "./handle_command.ts";
import { announceWorker, startPartitionLeases } from "./partition_leases.ts";
import { workerMetrics } from "./metrics.ts";
import { project, type ProjectionReport } from "./project.ts";
import { startPruning } from "./retention.ts";

/** Options of startWorker(). */
export interface StartWorkerOptions {
  /** Stamps handled commands, events and dead letters. Default: the system clock. */
  clock?: Clock;
  /** Receives the worker's log lines. Default: console.log. */
  log?: (line: string) => void;
  /** Aborting it gives up starting (while RabbitMQ does not answer yet). */
  signal?: AbortSignal;
  /** How often to count workers and rebalance partitions, in milliseconds. Default 1000. */
  rebalanceMs?: number;
}

/** A running worker. */
export interface Worker {
  /**
   * Stops consuming, lets the commands in hand finish (for up to 10 s),
   * gives its partitions back, and closes the RabbitMQ connection and both
   * database pools.
   */
  stop(): Promise<void>;
  /** Partitions this worker consumes now. */
  readonly partitions: ReadonlySet<number>;
  /** Its metrics (outcomes, projection, partitions, databases), for /metrics. */
  readonly metrics: Registry;
  /**
   * What it needs to do its job, as /ready reports it: both databases,
   * RabbitMQ, at least one partition held, and not stopping.
   */
  readiness(): Record<string, ReadinessCheck>;
  /**
   * While stop() runs, what it is waiting for ("the command in hand", …), so
   * a caller that stops waiting can say what it gave up on.
   */
  readonly waitingFor: string | undefined;
}

/** How long stop() lets the command in hand finish. */
const STOP_GRACE_MS = 10_000;

/** How long the lease session may stay quiet before PostgreSQL ends it (see startWorker()). */
const LEASE_SESSION_IDLE_MS = 10_000;

/**
 * Starts the worker on migrated databases: brings the read database up to
 * date, then consumes commands, handling and projecting each one. Resolves
 * once consuming has started, after logging "Worker ready".
 */
export async function startWorker(
  config: Omit<WorkerConfig, "httpHost" | "httpPort" | "retention" | "commandPublisherUser"> & {
    /** Default: defaultRetention. */
    retention?: RetentionConfig;
    /** Default: the user amqpUrl logs in as. */
    commandPublisherUser?: string;
  },
  options: StartWorkerOptions = {},
): Promise<Worker> {
  const log = options.log ?? ((line: string) => console.log(line));
  const clock = options.clock ?? (() => new Date());
  const publisherUser = config.commandPublisherUser ?? amqpUserOf(config.amqpUrl);
  const poolOptions = {
    // One connection per partition handled at once, and one for projecting
    // and recording statuses.
    max: config.concurrency + 1,
    // Every failed query is retried by the worker with its own backoff, so a
    // closed connection reconnects as soon as the next attempt needs it.
    // postgres.js's own backoff grows with each failure to 10-20 s, and after
    // an outage of half a minute held every command that long once the
    // database was back.
    backoff: () => 0,
    // A connection not ready within this many seconds is given up and the
    // query retried on a new one; the default, 30 s, held every command queued
    // behind a connection attempt that got no answer (seen right after an
    // outage ended).
    connect_timeout: 5,
    onnotice: () => {},
    // With tracing on, each statement is an event of its database work's span.
    debug: tracingEnabled ? traceStatement : false,
    connection: {
      application_name: "catalog-worker",
      // A transaction left open by a worker whose host vanished holds the
      // locks of what it touched; PostgreSQL ends it after this long (ms).
      // A worker's own transactions never sit idle between statements
      // for more than milliseconds.
      idle_in_transaction_session_timeout: 15_000,
    },
  };
  const write = postgres(config.writeDatabaseUrl, poolOptions);
  // The partition leases are locks of one session, so it is never recycled.
  const leaseSession = postgres(config.writeDatabaseUrl, {
    ...poolOptions,
    max: 1,
    max_lifetime: null,
    connection: {
      application_name: "catalog-worker-leases",
      // The leases rebalance every second: a session quiet for longer than
      // this (ms) belongs to a worker whose host vanished without closing
      // its socket, and PostgreSQL ends it, freeing its partitions for the
      // live workers at once rather than when TCP gives up, hours later.
      idle_session_timeout: LEASE_SESSION_IDLE_MS,
    },
  });
  const read = postgres(config.readDatabaseUrl, poolOptions);
  const registry = createServiceRegistry("worker");
  let partitionsOwned = () => 0;
  const metrics = workerMetrics(registry, {
    write,
    read,
    partitionsOwned: () => partitionsOwned(),
  });
  const onWrite = databaseMetrics(registry, "write", poolOptions.max);
  const onRead = databaseMetrics(registry, "read", poolOptions.max);
  const projectOptions = { clock, onBatch: metrics.projection.batch };
  const catchUp = startCatchUp(() => project({ write, read }, projectOptions), { log });
  async function projectOnce() {
    const report = await onRead.timed("project", () => project({ write, read }, projectOptions));
    if (report.heldBack) catchUp.poke();
    return report;
  }
  // Commands handled at once share projections: a caller whose commit may
  // be too late for the run in progress waits for the next one, which starts
  // after it and serves every caller that arrived meanwhile.
  let running: Promise<ProjectionReport> | undefined;
  let queued: Promise<ProjectionReport> | undefined;
  function projectNow(): Promise<ProjectionReport> {
    if (!running) {
      running = projectOnce().finally(() => running = undefined);
      return running;
    }
    queued ??= running.catch(() => {}).then(() => {
      queued = undefined;
      return projectNow();
    });
    return queued;
  }

  try {
    const caughtUp = await projectNow();
    if (caughtUp.events > 0 || caughtUp.commands > 0) {
      log(
        `caught up: projected ${caughtUp.events} events and ${caughtUp.commands} command outcomes`,
      );
    }
    await announceWorker(leaseSession);
    const consumer = await startConsumer({
      amqpUrl: config.amqpUrl,
      prefetch: config.prefetch,
      concurrency: config.concurrency,
      handle: (envelope) =>
        onWrite.timed("handle_commands", () => handleCommand(write, envelope, { clock })),
      handleMany: (envelopes) =>
        onWrite.timed("handle_commands", () => handleCommands(write, envelopes, { clock })),
      project: projectNow,
      recordAccepted: (commands) =>
        onRead.timed("record_accepted", () => recordAccepted(read, commands)),
      recordFailed: (envelope, message) =>
        onRead.timed("record_failed", () => recordFailed(read, envelope, message, clock)),
      recordRefused: (envelope, message) =>
        onRead.timed("record_failed", () => recordRefused(read, { envelope, message, clock })),
      publisherUser,
      clock,
      log,
      metrics: metrics.consumer,
      signal: options.signal,
    });
    const leases = startPartitionLeases(leaseSession, {
      partitions: topology.partitions,
      onAcquire: (partition) => consumer.consume(partition),
      onRelease: (partition) => consumer.release(partition, STOP_GRACE_MS),
      intervalMs: options.rebalanceMs,
      log,
    });
    partitionsOwned = () => leases.held.size;
    await leases.rebalance();
    log(
      `Worker ready: consuming partitions ${[...leases.held].join(", ") || "(none yet)"} of ` +
        `${topology.partitions} (prefetch ${config.prefetch}, concurrency ${config.concurrency}), ` +
        `taking commands published by RabbitMQ user "${publisherUser}"`,
    );
    const pruning = startPruning({ write, read }, {
      retention: config.retention ?? defaultRetention,
      clock,
      log,
    });
    const writeHealth = watchDatabaseHealth(write, {});
    const readHealth = watchDatabaseHealth(read, {});
    let stopped: Promise<void> | undefined;
    const steps = new StopSteps();
    return {
      partitions: consumer.consuming,
      metrics: registry,
      readiness() {
        const held = leases.held.size;
        return {
          worker: stoppingCheck(stopped !== undefined, "the worker"),
          writeDatabase: databaseCheck(writeHealth, "the write database"),
          readDatabase: databaseCheck(readHealth, "the read database"),
          rabbitmq: {
            ready: consumer.connected,
            status: consumer.connected ? "connected" : "disconnected",
            label: "RabbitMQ",
          },
          partitions: {
            ready: held > 0,
            status: `${held} of ${topology.partitions}`,
            label: "the partitions held",
          },
        };
      },
      get waitingFor() {
        return consumer.waitingFor ?? steps.waitingFor;
      },
      stop() {
        stopped ??= (async () => {
          writeHealth.stop();
          readHealth.stop();
          await pruning.stop();
          await steps.step("the partitions to be given back", () => leases.stop());
          await steps.step("the consumer to stop", () => consumer.stop(STOP_GRACE_MS));
          await steps.step("the projection in progress", () => catchUp.stop());
          await steps.step("the database pools to close", () =>
            Promise.all([
              write.end({ timeout: 5 }),
              read.end({ timeout: 5 }),
              leaseSession.end({ timeout: 5 }),
            ]));
          log("Worker stopped");
        })();
        return stopped;
      },
    };
  } catch (error) {
    await catchUp.stop();
    await Promise.all([
      write.end({ timeout: 5 }),
      read.end({ timeout: 5 }),
      leaseSession.end({ timeout: 5 }),
    ]);
    throw error;
  }
}
