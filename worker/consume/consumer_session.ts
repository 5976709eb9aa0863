import type { ChannelModel, ConfirmChannel } from "amqplib";
import { declareTopology } from "@catalog/proto";
import { closeAmqp, connectAmqp } from "@catalog/runtime";
import { messageOf, within } from "../faults.ts";
import { AcceptedCopies } from "./accepted_copies.ts";
import type { ConsumerContext } from "./consumer_context.ts";
import { moveLegacyQueue } from "./move_legacy_queue.ts";
import { PartitionConsumer } from "./partition_consumer.ts";

/**
 * Heartbeats of the worker's connection: if the worker's host vanishes
 * without closing its sockets, RabbitMQ closes the connection within about
 * two of them, and its partitions' commands go to the worker that took them
 * over (partition queues are single-active-consumer: the next consumer
 * becomes active only then).
 */
const HEARTBEAT_SECONDS = 5;

/** The connection name RabbitMQ's management UI shows. */
const CONNECTION_NAME = "catalog-worker";

/** How long opening the connection may take. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * One connection to RabbitMQ and what the consumer does on it: its own
 * confirm channel (which declares the topology, consumes the accepted copies
 * and publishes dead letters) and one channel per partition consumed. It
 * closes as a whole when the connection or any of its channels goes (shut());
 * the consumer then opens another.
 */
export class ConsumerSession {
  readonly connection: ChannelModel;
  /** Resolves, with why, once the connection or a channel has gone. */
  readonly closed: Promise<string>;
  readonly #context: ConsumerContext;
  readonly #partitions = new Map<number, PartitionConsumer>();
  /** Aborted when the session closes: its retries are pointless. */
  readonly #gone = new AbortController();
  #markClosed!: (why: string) => void;
  #isClosed = false;
  /** The last error RabbitMQ reported, to say why the session closed. */
  #lastError: unknown;
  #channel: ConfirmChannel | undefined;
  #accepted: AcceptedCopies | undefined;

  /**
   * Connects as `catalog-worker`, declares the topology, moves what the old
   * single queue holds into the partitions, and consumes the accepted
   * copies. Consumes no partition yet (consume()).
   */
  static async open(context: ConsumerContext): Promise<ConsumerSession> {
    const connection = await connectAmqp(context.amqpUrl, {
      name: CONNECTION_NAME,
      heartbeatSeconds: HEARTBEAT_SECONDS,
      timeoutMs: CONNECT_TIMEOUT_MS,
    });
    const session = new ConsumerSession(connection, context);
    await session.#setUp();
    return session;
  }

  /** Takes a connection just opened; open() builds sessions. */
  constructor(connection: ChannelModel, context: ConsumerContext) {
    this.connection = connection;
    this.#context = context;
    this.closed = new Promise((resolve) => this.#markClosed = resolve);
    connection.on("error", (error: Error) => this.#lastError = error);
    connection.on("close", (error?: Error) => {
      if (error) this.#lastError = error;
      this.#lost("connection closed");
    });
  }

  /** The session's own confirm channel. */
  get channel(): ConfirmChannel {
    if (!this.#channel) {
      throw new TypeError("Cannot use the session's channel: the session is not set up");
    }
    return this.#channel;
  }

  /** Whether the connection or one of its channels has gone. */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** The partitions this session consumes, or is opening or releasing. */
  get partitions(): number[] {
    return [...this.#partitions.keys()];
  }

  /** Marks the session closed, with why, gives up what its partitions hold, and closes the connection. */
  shut(why: string): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#context.consuming.clear();
    for (const part of this.#partitions.values()) part.abandon();
    this.#gone.abort();
    this.#markClosed(why);
    this.connection.close().catch(() => {});
  }

  /** Starts consuming a partition queue on a channel of its own, unless it does already. */
  async consume(partition: number): Promise<void> {
    if (this.#partitions.has(partition) || this.#isClosed) return;
    const channel = await this.connection.createConfirmChannel();
    // Asked twice while the channel was being opened (a lease and a reconnection): one consumer.
    if (this.#partitions.has(partition) || this.#isClosed) {
      await channel.close().catch(() => {});
      return;
    }
    const part = new PartitionConsumer({
      partition,
      channel,
      session: this,
      context: this.#context,
    });
    this.#partitions.set(partition, part);
    await part.start();
    this.#context.consuming.add(partition);
  }

  /**
   * Stops consuming a partition: lets it finish the commands delivered (for
   * up to graceMs, see PartitionConsumer.finish()), then closes its channel.
   */
  async release(partition: number, graceMs: number): Promise<void> {
    const part = this.#partitions.get(partition);
    if (!part || !(await part.finish(graceMs))) return;
    this.#context.consuming.delete(partition);
    this.#partitions.delete(partition);
    if (!this.#isClosed && !(await part.closeChannel())) {
      this.#context.log(
        `gave up closing partition ${partition}'s channel: no answer within ${this.#context.brokerCallMs} ms`,
      );
      this.shut("a channel did not close");
    }
  }

  /** Releases every partition at once. */
  async releaseAll(graceMs: number): Promise<void> {
    await Promise.all(this.partitions.map((partition) => this.release(partition, graceMs)));
  }

  /** Stops taking accepted copies and records those in hand, for up to graceMs. */
  async finishAccepted(graceMs: number): Promise<void> {
    const accepted = this.#accepted;
    if (this.#isClosed || !accepted) return;
    await within(accepted.cancel(), this.#context.brokerCallMs);
    await within(accepted.flush(), graceMs);
  }

  /** Closes the connection; drops it if RabbitMQ does not answer in time. */
  async close(): Promise<void> {
    if (!(await closeAmqp(this.connection, this.#context.brokerCallMs))) {
      this.#context.log(
        `gave up closing the RabbitMQ connection: no answer within ${this.#context.brokerCallMs} ms`,
      );
    }
    this.shut("stopped");
  }

  #lost(why: string): void {
    this.shut(this.#lastError ? `${why}: ${messageOf(this.#lastError)}` : why);
  }

  async #setUp(): Promise<void> {
    try {
      const channel = await this.connection.createConfirmChannel();
      this.#channel = channel;
      channel.on("error", (error: Error) => this.#lastError = error);
      channel.on("close", () => this.#lost("channel closed"));
      await declareTopology(channel);
      await moveLegacyQueue(this.connection, this.#context.log);
      const accepted = new AcceptedCopies({
        channel,
        gone: this.#gone.signal,
        context: this.#context,
      });
      this.#accepted = accepted;
      await accepted.start(() => this.#lost("RabbitMQ cancelled the accepted-copies consumer"));
    } catch (error) {
      this.shut("setting up failed");
      throw error;
    }
  }
}
