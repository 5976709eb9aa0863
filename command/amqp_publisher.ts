import type { Channel, ChannelModel, ConfirmChannel, Options } from "amqplib";
import { Buffer } from "node:buffer";
import { declareTopology } from "@catalog/proto";
import {
  AmqpPublishError,
  amqpUserOf,
  backoffDelay,
  closeAmqp,
  connectAmqp,
  publishConfirmed,
  redactUrl,
} from "@catalog/runtime";
import { BrokerUnavailableError, PublishUnconfirmedError } from "./errors.ts";

/** Options of an AmqpPublisher. */
export interface AmqpPublisherOptions {
  /** Name of the connection in the management UI. Default "catalog-command". */
  connectionName?: string;
  /** How long to wait for the broker's confirm of one message. Default 3000. */
  confirmTimeoutMs?: number;
  /** How long one connection attempt may take. Default 5000. */
  connectTimeoutMs?: number;
  /**
   * Longest first wait before reconnecting; it doubles after each failure.
   * Each wait is jittered between half of it and all of it (backoffDelay()).
   * Default 250.
   */
  minReconnectDelayMs?: number;
  /** Longest wait between reconnection attempts. Default 10000. */
  maxReconnectDelayMs?: number;
  /** How long close() waits for the broker to acknowledge closing the connection. Default 1000. */
  closeTimeoutMs?: number;
  /**
   * How long the connection may go without publishing before it publishes a
   * probe (see AmqpPublisher). Default 1000.
   */
  probeIntervalMs?: number;
  /**
   * Told true when a connection is ready to publish, false when it is lost
   * or RabbitMQ blocks it (a memory or disk alarm), true again once unblocked.
   */
  onConnectionChange?: (connected: boolean) => void;
  /** Where to say what happens to the connection. Default console.log. */
  log?: (line: string) => void;
  /**
   * Told how long each sent publish waited for RabbitMQ's answer, and what
   * it was: "confirmed", or why not ("nacked", "closed", "timeout"). Default: none.
   */
  onAnswer?: (seconds: number, outcome: string) => void;
}

/** What RabbitMQ counts of one queue. */
export interface QueueCounts {
  consumers: number;
  /** Messages ready for delivery (those delivered and not yet acknowledged are not counted). */
  messages: number;
}

/** Heartbeats, so that a broker that stops answering is noticed in seconds rather than minutes. */
const HEARTBEAT_SECONDS = 10;

function reasonOf(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return error.message || (code !== undefined ? String(code) : error.name);
  }
  return String(error);
}

/**
 * Publishes messages on a confirm channel and keeps one connection to
 * RabbitMQ open: it connects in the background, declares the topology on every
 * (re)connection, and reconnects with backoff (backoffDelay(), jittered) when
 * the connection or its channel is lost. While it has no channel, publish() fails at once.
 *
 * RabbitMQ tells a connection that a memory or disk alarm blocks publishers
 * only once the connection publishes. So that a quiet command service knows
 * it too (and says so through health, and refuses commands at once instead
 * of letting them wait for a confirm), a connection that has published
 * nothing for probeIntervalMs publishes a probe: an empty message to the
 * default exchange with an empty routing key, which no queue takes and
 * RabbitMQ drops.
 *
 * Every message it publishes carries, as its `user_id`, the RabbitMQ user
 * the URL logs in as. RabbitMQ refuses a message whose user_id is not its
 * connection's user, so the worker can trust it to tell the command
 * service's commands from anyone else's.
 */
export class AmqpPublisher {
  readonly #url: string;
  readonly #userId: string;
  readonly #connectionName: string;
  readonly #confirmTimeoutMs: number;
  readonly #onAnswer: (seconds: number, outcome: string) => void;
  readonly #connectTimeoutMs: number;
  readonly #minDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #closeTimeoutMs: number;
  readonly #onConnectionChange: (connected: boolean) => void;
  readonly #log: (line: string) => void;

  #connection: ChannelModel | undefined;
  #channel: ConfirmChannel | undefined;
  /** A plain channel for passive checks, opened on first use; a failed check closes it. */
  #checks: Promise<Channel> | undefined;
  /** Why RabbitMQ blocks the connection, while it does. */
  #blocked: string | undefined;
  readonly #probeIntervalMs: number;
  #lastPublishAt = 0;
  #probeTimer: ReturnType<typeof setInterval> | undefined;
  /** Connection attempts failed in a row, which sets the next backoff. */
  #failures = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #attempt: Promise<void> | undefined;
  #closed = false;

  constructor(url: string, options: AmqpPublisherOptions = {}) {
    this.#url = url;
    this.#userId = amqpUserOf(url);
    this.#connectionName = options.connectionName ?? "catalog-command";
    this.#confirmTimeoutMs = options.confirmTimeoutMs ?? 3000;
    this.#onAnswer = options.onAnswer ?? (() => {});
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.#minDelayMs = options.minReconnectDelayMs ?? 250;
    this.#maxDelayMs = options.maxReconnectDelayMs ?? 10_000;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 1000;
    this.#probeIntervalMs = options.probeIntervalMs ?? 1000;
    this.#onConnectionChange = options.onConnectionChange ?? (() => {});
    this.#log = options.log ?? console.log;
  }

  /** Whether a confirm channel is open right now. */
  get connected(): boolean {
    return this.#channel !== undefined;
  }

  /** Whether messages can be published now: connected, and not blocked by RabbitMQ. */
  get ready(): boolean {
    return this.#channel !== undefined && this.#blocked === undefined;
  }

  /** Why RabbitMQ blocks publishing (a resource alarm), or undefined while it does not. */
  get blocked(): string | undefined {
    return this.#blocked;
  }

  /**
   * Starts connecting. Resolves when the first attempt has succeeded or
   * failed; after a failure it keeps trying in the background.
   */
  start(): Promise<void> {
    this.#attempt ??= this.#connect();
    return this.#attempt;
  }

  /**
   * Publishes one persistent message, stamped with the connection's user as
   * its user_id, and resolves once the broker has confirmed it. Rejects with BrokerUnavailableError, before sending
   * anything, when there is no connection or RabbitMQ blocks publishers, and
   * when the broker refuses the message; with PublishUnconfirmedError when
   * the message went out but no confirm came in time or before the channel
   * closed, so that it may be queued.
   */
  publish(
    exchange: string,
    routingKey: string,
    body: Uint8Array,
    properties: Options.Publish,
  ): Promise<void> {
    const channel = this.#channel;
    if (!channel) {
      return Promise.reject(
        new BrokerUnavailableError("Cannot publish the command: RabbitMQ is not connected"),
      );
    }
    if (this.#blocked !== undefined) {
      // A blocked connection is not read by RabbitMQ: the message would wait
      // in the socket, unconfirmed, until the alarm clears.
      return Promise.reject(
        new BrokerUnavailableError(
          `Cannot publish the command: RabbitMQ blocks publishers (${this.#blocked})`,
        ),
      );
    }
    this.#lastPublishAt = Date.now();
    const confirmTimeoutMs = this.#confirmTimeoutMs;
    const stamped = { ...properties, userId: this.#userId };
    const sentAt = performance.now();
    const answered = (outcome: string) =>
      this.#onAnswer((performance.now() - sentAt) / 1000, outcome);
    return publishConfirmed(channel, { exchange, routingKey, content: body, properties: stamped }, {
      timeoutMs: confirmTimeoutMs,
    }).then(() => answered("confirmed"), (error: unknown) => {
      if (!(error instanceof AmqpPublishError)) throw error;
      if (error.reason !== "unsent") answered(error.reason);
      const cause = error.cause;
      switch (error.reason) {
        case "unsent":
          throw new BrokerUnavailableError(`Cannot publish the command: ${reasonOf(cause)}`, {
            cause,
          });
        case "nacked":
          throw new BrokerUnavailableError(
            `Cannot publish the command: RabbitMQ did not accept it: ${reasonOf(cause)}`,
            { cause },
          );
        case "closed":
          throw new PublishUnconfirmedError(
            `RabbitMQ closed the channel before confirming it (${reasonOf(cause)})`,
            { cause },
          );
        case "timeout":
          throw new PublishUnconfirmedError(
            `RabbitMQ did not confirm it within ${confirmTimeoutMs} ms`,
          );
      }
    });
  }

  /**
   * How many consumers and ready messages each of these queues has, by name
   * (0 and 0 for a queue that does not exist). Rejects when RabbitMQ is not
   * connected.
   */
  async queueCounts(queues: readonly string[]): Promise<Map<string, QueueCounts>> {
    const connection = this.#connection;
    if (!connection) {
      throw new BrokerUnavailableError("Cannot check queues: RabbitMQ is not connected");
    }
    const counts = new Map<string, QueueCounts>();
    for (const queue of queues) {
      this.#checks ??= connection.createChannel().then((channel) => {
        channel.on("error", () => {});
        // A check of a missing queue closes the channel; the next one opens another.
        channel.on("close", () => this.#checks = undefined);
        return channel;
      });
      try {
        const { consumerCount, messageCount } = await (await this.#checks).checkQueue(queue);
        counts.set(queue, { consumers: consumerCount, messages: messageCount });
      } catch (error) {
        this.#checks = undefined;
        if (connection !== this.#connection) throw error;
        counts.set(queue, { consumers: 0, messages: 0 });
      }
    }
    return counts;
  }

  /** Stops reconnecting and closes the connection. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    clearInterval(this.#probeTimer);
    await this.#attempt?.catch(() => {});
    const connection = this.#connection;
    this.#connection = undefined;
    this.#channel = undefined;
    if (connection) await closeAmqp(connection, this.#closeTimeoutMs);
  }

  async #connect(): Promise<void> {
    let connection: ChannelModel | undefined;
    try {
      connection = await connectAmqp(this.#url, {
        name: this.#connectionName,
        heartbeatSeconds: HEARTBEAT_SECONDS,
        timeoutMs: this.#connectTimeoutMs,
      });
      const opened = connection;
      opened.on("error", (error: Error) => {
        this.#log(`RabbitMQ connection error: ${reasonOf(error)}`);
      });
      opened.on("close", () => this.#lost(opened, "the connection closed"));
      // While blocked, publishes would wait for confirms that come late or
      // not at all: they are refused at once instead, and health says so.
      opened.on(
        "blocked",
        (reason: string) => this.#setBlocked(opened, reason || "a resource alarm"),
      );
      opened.on("unblocked", () => this.#setBlocked(opened, undefined));
      if (this.#closed) {
        await closeAmqp(opened, this.#closeTimeoutMs);
        return;
      }
      const channel = await opened.createConfirmChannel();
      channel.on("error", (error: Error) => {
        this.#log(`RabbitMQ channel error: ${reasonOf(error)}`);
      });
      channel.on("close", () => this.#lost(opened, "the channel closed"));
      await declareTopology(channel);
      if (this.#closed) {
        await closeAmqp(opened, this.#closeTimeoutMs);
        return;
      }
      this.#connection = opened;
      this.#channel = channel;
      this.#failures = 0;
      this.#log(`Connected to RabbitMQ at ${redactUrl(this.#url)}`);
      this.#onConnectionChange(this.#blocked === undefined);
      this.#probeTimer ??= setInterval(() => this.#probe(), this.#probeIntervalMs);
    } catch (error) {
      if (connection) await closeAmqp(connection, this.#closeTimeoutMs);
      if (this.#closed) return;
      const delay = this.#scheduleReconnect();
      this.#log(
        `Cannot connect to RabbitMQ at ${redactUrl(this.#url)}: ${reasonOf(error)}; ` +
          `retrying in ${delay} ms`,
      );
    }
  }

  #lost(connection: ChannelModel, why: string): void {
    if (connection !== this.#connection) return;
    this.#connection = undefined;
    this.#channel = undefined;
    this.#checks = undefined;
    this.#blocked = undefined;
    this.#onConnectionChange(false);
    void closeAmqp(connection, this.#closeTimeoutMs);
    if (this.#closed) return;
    const delay = this.#scheduleReconnect();
    this.#log(`Lost RabbitMQ: ${why}; reconnecting in ${delay} ms`);
  }

  /**
   * Records that RabbitMQ blocks (reason) or unblocks (undefined) a
   * connection: the current one, or one still being set up.
   */
  #setBlocked(connection: ChannelModel, reason: string | undefined): void {
    if (this.#connection !== undefined && connection !== this.#connection) return;
    this.#blocked = reason;
    this.#log(reason ? `RabbitMQ blocks publishing: ${reason}` : "RabbitMQ unblocked publishing");
    if (connection === this.#connection) this.#onConnectionChange(reason === undefined);
  }

  #probe(): void {
    const channel = this.#channel;
    if (!channel || this.#blocked !== undefined) return;
    if (Date.now() - this.#lastPublishAt < this.#probeIntervalMs) return;
    this.#lastPublishAt = Date.now();
    try {
      channel.publish("", "", Buffer.alloc(0), {}, () => {});
    } catch {
      // The channel is closing; #lost() reconnects.
    }
  }

  /** Connects again after a backoff that grows with each failure in a row; answers the delay. */
  #scheduleReconnect(): number {
    const delay = backoffDelay(this.#failures++, {
      initialMs: this.#minDelayMs,
      maxMs: this.#maxDelayMs,
    });
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#closed) return;
      this.#attempt = this.#connect();
    }, delay);
    return delay;
  }
}
