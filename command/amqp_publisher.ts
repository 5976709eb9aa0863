import amqp from "amqplib";
import type { ChannelModel, ConfirmChannel, Options } from "amqplib";
import { Buffer } from "node:buffer";
import { declareTopology, redactUrl } from "@catalog/proto";
import { BrokerUnavailableError } from "./errors.ts";

/** Options of an AmqpPublisher. */
export interface AmqpPublisherOptions {
  /** Name of the connection in the management UI. Default "catalog-command". */
  connectionName?: string;
  /** How long to wait for the broker's confirm of one message. Default 3000. */
  confirmTimeoutMs?: number;
  /** How long one connection attempt may take. Default 5000. */
  connectTimeoutMs?: number;
  /** First wait before reconnecting; it doubles after each failure. Default 250. */
  minReconnectDelayMs?: number;
  /** Longest wait between reconnection attempts. Default 10000. */
  maxReconnectDelayMs?: number;
  /** How long close() waits for the broker to acknowledge closing the connection. Default 1000. */
  closeTimeoutMs?: number;
  /** Told true when a connection is ready to publish, false when it is lost. */
  onConnectionChange?: (connected: boolean) => void;
  /** Where to say what happens to the connection. Default console.log. */
  log?: (line: string) => void;
}

/**
 * Asks for 10-second heartbeats unless the URL says otherwise, so that a
 * broker that stops answering is noticed in seconds rather than minutes.
 */
function withHeartbeat(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.searchParams.has("heartbeat")) parsed.searchParams.set("heartbeat", "10");
    return parsed.toString();
  } catch {
    return url;
  }
}

function reasonOf(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return error.message || (code !== undefined ? String(code) : error.name);
  }
  return String(error);
}

/**
 * Closes a connection politely, or drops its socket if the broker does not
 * answer in time (a stalled broker would otherwise keep close() waiting forever).
 */
async function closeWithin(connection: ChannelModel, timeoutMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const closed = connection.close().then(() => true, () => true);
  const late = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), timeoutMs));
  const inTime = await Promise.race([closed, late]);
  clearTimeout(timer);
  if (!inTime) {
    const stream = (connection.connection as unknown as { stream?: { destroy?(): void } }).stream;
    stream?.destroy?.();
  }
}

/**
 * Publishes messages on a confirm channel and keeps one connection to
 * RabbitMQ open: it connects in the background, declares the topology on every
 * (re)connection, and reconnects with exponential backoff when the connection
 * or its channel is lost. While it has no channel, publish() fails at once.
 */
export class AmqpPublisher {
  readonly #url: string;
  readonly #connectionName: string;
  readonly #confirmTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #minDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #closeTimeoutMs: number;
  readonly #onConnectionChange: (connected: boolean) => void;
  readonly #log: (line: string) => void;

  #connection: ChannelModel | undefined;
  #channel: ConfirmChannel | undefined;
  #delayMs: number;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #attempt: Promise<void> | undefined;
  #closed = false;

  constructor(url: string, options: AmqpPublisherOptions = {}) {
    this.#url = url;
    this.#connectionName = options.connectionName ?? "catalog-command";
    this.#confirmTimeoutMs = options.confirmTimeoutMs ?? 3000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.#minDelayMs = options.minReconnectDelayMs ?? 250;
    this.#maxDelayMs = options.maxReconnectDelayMs ?? 10_000;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 1000;
    this.#onConnectionChange = options.onConnectionChange ?? (() => {});
    this.#log = options.log ?? console.log;
    this.#delayMs = this.#minDelayMs;
  }

  /** Whether a confirm channel is open right now. */
  get connected(): boolean {
    return this.#channel !== undefined;
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
   * Publishes one persistent message and resolves once the broker has
   * confirmed it. Rejects with BrokerUnavailableError when there is no
   * connection, the broker refuses the message, or no confirm comes in time.
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
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      };
      const timer = setTimeout(() => {
        settle(
          new BrokerUnavailableError(
            `Cannot publish the command: RabbitMQ did not confirm it within ${this.#confirmTimeoutMs} ms`,
          ),
        );
      }, this.#confirmTimeoutMs);
      try {
        channel.publish(exchange, routingKey, Buffer.from(body), properties, (error) => {
          if (error) {
            settle(
              new BrokerUnavailableError(
                `Cannot publish the command: RabbitMQ did not accept it: ${reasonOf(error)}`,
                { cause: error },
              ),
            );
          } else settle();
        });
      } catch (error) {
        settle(
          new BrokerUnavailableError(`Cannot publish the command: ${reasonOf(error)}`, {
            cause: error,
          }),
        );
      }
    });
  }

  /** Stops reconnecting and closes the connection. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    await this.#attempt?.catch(() => {});
    const connection = this.#connection;
    this.#connection = undefined;
    this.#channel = undefined;
    if (connection) await closeWithin(connection, this.#closeTimeoutMs);
  }

  async #connect(): Promise<void> {
    let connection: ChannelModel | undefined;
    try {
      connection = await amqp.connect(withHeartbeat(this.#url), {
        timeout: this.#connectTimeoutMs,
        clientProperties: { connection_name: this.#connectionName },
      });
      const opened = connection;
      opened.on("error", (error: Error) => {
        this.#log(`RabbitMQ connection error: ${reasonOf(error)}`);
      });
      opened.on("close", () => this.#lost(opened, "the connection closed"));
      // While blocked, publishes wait for confirms that come late or not at all.
      opened.on("blocked", (reason: string) => this.#log(`RabbitMQ blocked publishing: ${reason}`));
      opened.on("unblocked", () => this.#log("RabbitMQ unblocked publishing"));
      if (this.#closed) {
        await closeWithin(opened, this.#closeTimeoutMs);
        return;
      }
      const channel = await opened.createConfirmChannel();
      channel.on("error", (error: Error) => {
        this.#log(`RabbitMQ channel error: ${reasonOf(error)}`);
      });
      channel.on("close", () => this.#lost(opened, "the channel closed"));
      await declareTopology(channel);
      if (this.#closed) {
        await closeWithin(opened, this.#closeTimeoutMs);
        return;
      }
      this.#connection = opened;
      this.#channel = channel;
      this.#delayMs = this.#minDelayMs;
      this.#log(`Connected to RabbitMQ at ${redactUrl(this.#url)}`);
      this.#onConnectionChange(true);
    } catch (error) {
      if (connection) await closeWithin(connection, this.#closeTimeoutMs);
      if (this.#closed) return;
      this.#log(
        `Cannot connect to RabbitMQ at ${redactUrl(this.#url)}: ${reasonOf(error)}; ` +
          `retrying in ${this.#delayMs} ms`,
      );
      this.#scheduleReconnect();
    }
  }

  #lost(connection: ChannelModel, why: string): void {
    if (connection !== this.#connection) return;
    this.#connection = undefined;
    this.#channel = undefined;
    this.#onConnectionChange(false);
    void closeWithin(connection, this.#closeTimeoutMs);
    if (this.#closed) return;
    this.#log(`Lost RabbitMQ: ${why}; reconnecting in ${this.#delayMs} ms`);
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    const delay = this.#delayMs;
    this.#delayMs = Math.min(this.#delayMs * 2, this.#maxDelayMs);
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#closed) return;
      this.#attempt = this.#connect();
    }, delay);
  }
}
