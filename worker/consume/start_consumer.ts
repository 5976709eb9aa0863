import { type CommandEnvelope, partitionQueue } from "@catalog/proto";
import { type ConsumerMetrics, noConsumerMetrics } from "../metrics.ts";
import { amqpUserOf, backoffDelay, redactUrl, StopSteps } from "@catalog/runtime";
import type { AcceptedCommand } from "../command_status.ts";
import { messageOf, sleep, within } from "../faults.ts";
import type { Clock, CommandOutcome } from "../handle_command.ts";
import type { ProjectionReport } from "../project.ts";
import type { ConsumerContext } from "./consumer_context.ts";
import { ConsumerSession } from "./consumer_session.ts";
import { limiter } from "./limiter.ts";

/** Options of startConsumer(). */
export interface ConsumerOptions {
  /** RabbitMQ to consume from; the vhost is the URL's path. */
  amqpUrl: string;
  /** How many unacknowledged commands RabbitMQ may hand over per partition. */
  prefetch: number;
  /** How many partitions' commands are handled at the same time. Default 1. */
  concurrency?: number;
  /** Applies one command to the write database (handleCommand). */
  handle: (envelope: CommandEnvelope) => Promise<CommandOutcome>;
  /**
   * Applies commands in order in one write-database transaction, each with the
   * outcome it has alone (handleCommands). Without it, a partition's commands
   * are handled one at a time; with it, all of a partition's delivered
   * commands at once, or one at a time after a failure that is not a passing fault.
   */
  handleMany?: (envelopes: CommandEnvelope[]) => Promise<CommandOutcome[]>;
  /** Brings the read database up to date (project). */
  project: () => Promise<ProjectionReport>;
  /** Makes commands readable as ACCEPTED (recordAccepted). */
  recordAccepted: (commands: AcceptedCommand[]) => Promise<void>;
  /** Makes a dead-lettered command readable as FAILED, with the message clients see (recordFailed). */
  recordFailed: (envelope: CommandEnvelope, message: string) => Promise<void>;
  /**
   * Makes a refused command readable as FAILED, with the message clients
   * see, unless the read side knows it already (recordRefused).
   */
  recordRefused: (envelope: CommandEnvelope, message: string) => Promise<void>;
  /**
   * The command service's RabbitMQ user: commands whose user_id names anyone
   * else (or no one) are dead-lettered, never applied. Default: the user
   * amqpUrl logs in as.
   */
  publisherUser?: string;
  /** Stamps x-dead-lettered-at. Default: the system clock. */
  clock?: Clock;
  /** Receives one line per outcome and per connection change. Default: console.log. */
  log?: (line: string) => void;
  /** Told of each command delivered, finished and dead-lettered. Default: none. */
  metrics?: ConsumerMetrics;
  /** Aborting it gives up the first connection attempt, which otherwise retries forever. */
  signal?: AbortSignal;
}

/**
 * A consumer of the commands' partition queues and of the accepted copies.
 * Which partitions it consumes is decided outside (partition leases).
 */
export interface Consumer {
  /** Starts consuming a partition queue, now or once RabbitMQ answers. */
  consume(partition: number): void;
  /**
   * Stops consuming a partition: takes no more commands, finishes every
   * command already delivered, in order (for up to graceMs, default 10000),
   * then closes the partition's channel, which hands back to RabbitMQ only
   * what the grace period could not finish.
   */
  release(partition: number, graceMs?: number): Promise<void>;
  /**
   * Releases every partition, records the accepted copies in hand, then
   * closes the connection. Each call to RabbitMQ gets 2 s to answer, so
   * stopping ends even while RabbitMQ does not.
   */
  stop(graceMs?: number): Promise<void>;
  /** Partitions with an open consumer now. */
  readonly consuming: ReadonlySet<number>;
  /** Whether the connection to RabbitMQ is open now. */
  readonly connected: boolean;
  /**
   * While stop() runs, what it is waiting for ("the commands in hand", …), so
   * a caller that stops waiting can say what it gave up on.
   */
  readonly waitingFor: string | undefined;
}

/**
 * How long stopping waits for RabbitMQ to answer one call (cancel, close)
 * before going on without the answer.
 */
const BROKER_CALL_MS = 2000;

/**
 * Keeps one session (ConsumerSession) open at a time: opens another, with
 * backoff, whenever the current one closes, and consumes there every
 * partition wanted at that moment. What the partitions wanted are, and
 * whether stopping has begun, is its own state; everything else lives in the
 * session.
 */
class SupervisedConsumer implements Consumer {
  readonly #context: ConsumerContext;
  /** Aborted when stopping begins: no new connections, no new messages. */
  readonly #stopping = new AbortController();
  /** Partitions this consumer should consume, whether or not connected right now. */
  readonly #wanted = new Set<number>();
  #current: ConsumerSession;
  readonly #supervising: Promise<void>;
  #stopped: Promise<void> | undefined;
  readonly #steps = new StopSteps();

  /** Takes over the first session, and supervises it and the ones after it. */
  constructor(context: ConsumerContext, first: ConsumerSession) {
    this.#context = context;
    this.#current = first;
    this.#supervising = this.#superviseSessions();
  }

  get consuming(): ReadonlySet<number> {
    return this.#context.consuming;
  }

  get connected(): boolean {
    return !this.#current.isClosed;
  }

  get waitingFor(): string | undefined {
    return this.#steps.waitingFor;
  }

  /**
   * Opens a session, retrying with backoff until one opens or the signal
   * aborts (then undefined).
   */
  static async connect(
    context: ConsumerContext,
    signal: AbortSignal,
  ): Promise<ConsumerSession | undefined> {
    for (let attempt = 0;; attempt++) {
      if (signal.aborted) return undefined;
      try {
        return await ConsumerSession.open(context);
      } catch (error) {
        if (signal.aborted) return undefined;
        const delay = backoffDelay(attempt);
        context.log(
          `cannot connect to RabbitMQ at ${redactUrl(context.amqpUrl)} (${
            messageOf(error)
          }); retrying in ${delay} ms`,
        );
        await sleep(delay, signal);
      }
    }
  }

  consume(partition: number): void {
    if (this.#wanted.has(partition) || this.#stopping.signal.aborted) return;
    this.#wanted.add(partition);
    const session = this.#current;
    session.consume(partition).catch((error) =>
      session.shut(`cannot consume ${partitionQueue(partition)}: ${messageOf(error)}`)
    );
  }

  async release(partition: number, graceMs = 10_000): Promise<void> {
    this.#wanted.delete(partition);
    await this.#current.release(partition, graceMs);
  }

  stop(graceMs = 10_000): Promise<void> {
    this.#stopped ??= this.#stop(graceMs);
    return this.#stopped;
  }

  async #stop(graceMs: number): Promise<void> {
    const { log } = this.#context;
    const steps = this.#steps;
    const session = this.#current;
    await steps.step("the commands in hand", () => session.releaseAll(graceMs));
    this.#wanted.clear();
    this.#stopping.abort();
    await steps.step("the accepted commands in hand", () => session.finishAccepted(graceMs));
    await steps.step("RabbitMQ to close the connection", () => session.close());
    const reconnected = await steps.step(
      "the reconnection in progress",
      () => within(this.#supervising, BROKER_CALL_MS),
    );
    if (!reconnected) {
      log(`gave up waiting for the reconnection in progress after ${BROKER_CALL_MS} ms`);
    }
  }

  /** Reopens a session each time the current one closes, until stopping. */
  async #superviseSessions(): Promise<void> {
    const { log } = this.#context;
    const stopping = this.#stopping.signal;
    while (true) {
      const why = await this.#current.closed;
      if (stopping.aborted) return;
      log(`lost RabbitMQ (${why}); reconnecting`);
      const next = await SupervisedConsumer.connect(this.#context, stopping);
      if (!next) return;
      if (stopping.aborted) return await next.close();
      this.#current = next;
      // Every partition wanted now, including those taken or given back while reconnecting.
      for (const partition of this.#wanted) {
        await next.consume(partition).catch((error) =>
          next.shut(`cannot consume ${partitionQueue(partition)}: ${messageOf(error)}`)
        );
      }
      for (const partition of next.partitions) {
        if (!this.#wanted.has(partition)) await next.release(partition, 0);
      }
      log(
        `reconnected to RabbitMQ; consuming ${
          [...this.#wanted].map((partition) => partitionQueue(partition)).join(", ") ||
          "no partition"
        } again`,
      );
    }
  }
}

/**
 * Connects to RabbitMQ as `catalog-worker`, declares the topology, records
 * the accepted copies of commands, and consumes the partition queues it is
 * told to with manual acknowledgements. Within a partition, commands are
 * handled in arrival order, those delivered meanwhile together (handleMany),
 * while the ones before them are projected; up to `concurrency` partitions
 * are handled at once. Each command is handled, projected, then acknowledged.
 * Unreadable commands, commands that keep failing for reasons other than
 * a passing fault, and messages it refuses (not published by publisherUser,
 * without a message id, or not through the commands exchange) are
 * dead-lettered with the reason. Passing faults are retried in place,
 * forever, with backoff, so they never count a delivery.
 * A lost connection is re-established with backoff, and every partition
 * consumed before is consumed again; unacknowledged messages come back and
 * are recognised as duplicates. Resolves once connected.
 */
export async function startConsumer(options: ConsumerOptions): Promise<Consumer> {
  const context: ConsumerContext = {
    amqpUrl: options.amqpUrl,
    prefetch: options.prefetch,
    handle: options.handle,
    handleMany: options.handleMany,
    project: options.project,
    recordAccepted: options.recordAccepted,
    recordFailed: options.recordFailed,
    recordRefused: options.recordRefused,
    publisherUser: options.publisherUser ?? amqpUserOf(options.amqpUrl),
    clock: options.clock ?? (() => new Date()),
    log: options.log ?? ((line: string) => console.log(line)),
    runLimited: limiter(Math.max(1, options.concurrency ?? 1)),
    brokerCallMs: BROKER_CALL_MS,
    consuming: new Set(),
    metrics: options.metrics ?? noConsumerMetrics,
  };
  const signal = options.signal ?? new AbortController().signal;
  const first = await SupervisedConsumer.connect(context, signal);
  if (!first) throw new Error("Cannot start consuming: stopped before RabbitMQ answered");
  return new SupervisedConsumer(context, first);
}
