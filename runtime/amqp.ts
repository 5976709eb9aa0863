/**
 * How every service talks to RabbitMQ at the connection level: opening a
 * connection (named, with heartbeats and a timeout), closing it within a
 * bound, and publishing a message that counts only once RabbitMQ confirms it.
 *
 * amqplib does most of it: heartbeats (the URL's `heartbeat`), the
 * connection's name (`clientProperties.connection_name`), the connect timeout
 * (`timeout`) and confirms (a ConfirmChannel's publish callback). What it does
 * not do is written here: a close that gives up, and a confirm with a
 * deadline and a failure that says which way it failed.
 *
 * amqplib 2's opt-in recovery (`connect(url, { recovery })`) is not used: its
 * close() waits for RabbitMQ without a bound, it dials again only once the
 * old connection has reported its close, and a dial in flight when it is
 * closed carries on unseen; the worker and the command service need to wait
 * for that dial when they stop, and to reopen their own channels and
 * consumers on a new connection anyway. They reconnect with a loop of their
 * own, waiting backoffDelay() between attempts.
 */
import amqp from "amqplib";
import type { ChannelModel, ConfirmChannel, Options } from "amqplib";
import { Buffer } from "node:buffer";

/**
 * An AMQP URL that asks for heartbeats every `seconds` unless it says
 * otherwise (`?heartbeat=`): a peer that stops answering, RabbitMQ or a
 * service whose host vanished, is then noticed by the other side within
 * about two heartbeats instead of when TCP gives up, hours later.
 */
export function withHeartbeat(url: string, seconds: number): string {
  try {
    const parsed = new URL(url);
    if (!parsed.searchParams.has("heartbeat")) {
      parsed.searchParams.set("heartbeat", String(seconds));
    }
    return parsed.toString();
  } catch {
    return url;
  }
}

/**
 * The RabbitMQ user an AMQP URL connects as: its user name, decoded, or
 * `guest` when the URL names neither a user nor a password (amqplib then
 * logs in as guest). RabbitMQ checks a message's `user_id` against it.
 *
 * @throws {TypeError} if url is not a URL.
 */
export function amqpUserOf(url: string): string {
  const parsed = new URL(url);
  if (parsed.username === "" && parsed.password === "") return "guest";
  return decodeURIComponent(parsed.username);
}

/** Options of connectAmqp(). */
export interface AmqpConnectOptions {
  /** The connection's name in RabbitMQ's management UI, such as "catalog-worker". */
  name: string;
  /**
   * Seconds between heartbeats, unless the URL says (`?heartbeat=`). A peer
   * that stops answering is noticed within about two of them. Default 10.
   */
  heartbeatSeconds?: number;
  /** How long opening the connection may take, in milliseconds. Default 10000. */
  timeoutMs?: number;
}

/**
 * Opens one connection to RabbitMQ (the vhost is the URL's path): one
 * attempt, which fails with amqplib's own error (its `code`, such as
 * ECONNREFUSED, says why) or with "connect ETIMEDOUT" after timeoutMs.
 */
export function connectAmqp(url: string, options: AmqpConnectOptions): Promise<ChannelModel> {
  return amqp.connect(withHeartbeat(url, options.heartbeatSeconds ?? 10), {
    clientProperties: { connection_name: options.name },
    timeout: options.timeoutMs ?? 10_000,
  });
}

/**
 * Closes the connection's socket without a word to RabbitMQ. amqplib has no
 * call for this; its socket is the connection's `stream`. Without it, a
 * connection whose broker does not answer would stay open until the heartbeat
 * times out.
 */
export function dropAmqp(connection: ChannelModel): void {
  const socket = (connection.connection as unknown as { stream?: { destroy?: () => void } })
    .stream;
  socket?.destroy?.();
}

/**
 * Closes the connection politely, or drops its socket (dropAmqp()) when
 * RabbitMQ does not answer within timeoutMs: a stalled broker would otherwise
 * keep close() waiting forever. Resolves whether RabbitMQ answered in time (a
 * connection that was closed already counts as answered); never rejects.
 */
export async function closeAmqp(connection: ChannelModel, timeoutMs: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  // amqplib throws at once, rather than rejecting, when the connection is closed already.
  const closed = Promise.resolve().then(() => connection.close()).then(() => true, () => true);
  const late = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), timeoutMs));
  const inTime = await Promise.race([closed, late]);
  clearTimeout(timer);
  if (!inTime) dropAmqp(connection);
  return inTime;
}

/** One message to publish. */
export interface AmqpMessage {
  exchange: string;
  routingKey: string;
  content: Uint8Array;
  /** AMQP properties and headers. Default none. */
  properties?: Options.Publish;
}

/** Options of publishConfirmed(). */
export interface PublishConfirmedOptions {
  /** How long to wait for RabbitMQ's confirm, in milliseconds. Default: as long as the channel lives. */
  timeoutMs?: number;
}

/**
 * How a publish failed to be confirmed:
 * - "unsent": the channel refused it at once (closed already); nothing went out.
 * - "nacked": RabbitMQ refused it; it is not queued.
 * - "closed": the channel closed before RabbitMQ answered; it may be queued.
 * - "timeout": no answer within the time given; it may be queued.
 */
export type AmqpPublishFailure = "unsent" | "nacked" | "closed" | "timeout";

/** A message that RabbitMQ did not confirm; `reason` says how, `cause` is amqplib's error. */
export class AmqpPublishError extends Error {
  readonly reason: AmqpPublishFailure;

  constructor(reason: AmqpPublishFailure, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AmqpPublishError";
    this.reason = reason;
  }
}

/**
 * The reason of a confirm callback's error. amqplib tells a nack (RabbitMQ
 * refused the message) from a channel that closed before the confirm only by
 * the error's message.
 */
function publishFailureOf(error: unknown): "nacked" | "closed" {
  return error instanceof Error && error.message === "message nacked" ? "nacked" : "closed";
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/**
 * Publishes one message on a confirm channel and resolves once RabbitMQ has
 * confirmed it. Rejects with AmqpPublishError otherwise, its `reason`
 * telling a message that surely was not queued ("unsent", "nacked") from
 * one that may be ("closed", "timeout").
 */
export function publishConfirmed(
  channel: ConfirmChannel,
  message: AmqpMessage,
  options: PublishConfirmedOptions = {},
): Promise<void> {
  const { exchange, routingKey } = message;
  const where = `to ${exchange === "" ? "the default exchange" : exchange} as "${routingKey}"`;
  return new Promise<void>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve();
    };
    if (options.timeoutMs !== undefined) {
      const ms = options.timeoutMs;
      timer = setTimeout(() => {
        settle(
          new AmqpPublishError(
            "timeout",
            `Cannot publish ${where}: RabbitMQ did not confirm it within ${ms} ms`,
          ),
        );
      }, ms);
    }
    const content = Buffer.isBuffer(message.content)
      ? message.content
      : Buffer.from(message.content.buffer, message.content.byteOffset, message.content.byteLength);
    try {
      channel.publish(exchange, routingKey, content, message.properties ?? {}, (error) => {
        if (!error) return settle();
        const reason = publishFailureOf(error);
        settle(
          new AmqpPublishError(
            reason,
            reason === "nacked"
              ? `Cannot publish ${where}: RabbitMQ refused it (${messageOf(error)})`
              : `Cannot publish ${where}: the channel closed before RabbitMQ confirmed it (${
                messageOf(error)
              })`,
            { cause: error },
          ),
        );
      });
    } catch (error) {
      settle(
        new AmqpPublishError("unsent", `Cannot publish ${where}: ${messageOf(error)}`, {
          cause: error,
        }),
      );
    }
  });
}
