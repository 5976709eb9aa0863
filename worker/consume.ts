import { Buffer } from "node:buffer";
import amqp from "amqplib";
import {
  type CommandEnvelope,
  declareTopology,
  headers,
  MalformedCommandError,
  parseCommandEnvelope,
  redactUrl,
  topology,
} from "@catalog/proto";
import { backoffDelay, isTransient, messageOf, sleep } from "./faults.ts";
import type { Clock, CommandOutcome } from "./handle_command.ts";
import type { ProjectionReport } from "./project.ts";

/** Options of startConsumer(). */
export interface ConsumerOptions {
  /** RabbitMQ to consume from; the vhost is the URL's path. */
  amqpUrl: string;
  /** How many unacknowledged commands RabbitMQ may hand over at once. */
  prefetch: number;
  /** Applies one command to the write database (handleCommand). */
  handle: (envelope: CommandEnvelope) => Promise<CommandOutcome>;
  /** Brings the read database up to date (project). */
  project: () => Promise<ProjectionReport>;
  /** Stamps x-dead-lettered-at. Default: the system clock. */
  clock?: Clock;
  /** Receives one line per outcome and per connection change. Default: console.log. */
  log?: (line: string) => void;
  /** Aborting it gives up the first connection attempt, which otherwise retries forever. */
  signal?: AbortSignal;
}

/** A consumer of the commands queue. */
export interface Consumer {
  /**
   * Stops taking commands, lets the one in hand finish for up to graceMs
   * (default 10000), then closes the channel and the connection. Commands
   * not acknowledged by then go back to the queue. Each call to RabbitMQ
   * gets 2 s to answer, so stopping ends even while RabbitMQ does not.
   */
  stop(graceMs?: number): Promise<void>;
  /**
   * While stop() runs, what it is waiting for ("the command in hand", …), so
   * a caller that stops waiting can say what it gave up on.
   */
  readonly waitingFor: string | undefined;
}

/** Failures other than passing faults that a command gets before it is dead-lettered. */
const MAX_RETRIES = 3;

/**
 * How long stopping waits for RabbitMQ to answer one call (cancel, close)
 * before going on without the answer.
 */
const BROKER_CALL_MS = 2000;

/** The connection name RabbitMQ's management UI shows. */
const CONNECTION_NAME = "catalog-worker";

interface Session {
  connection: amqp.ChannelModel;
  channel: amqp.ConfirmChannel;
  consumerTag: string;
  /** Resolves, with why, once the connection or the channel has gone. */
  closed: Promise<string>;
  isClosed: boolean;
  /** Marks the session closed, with why, and resolves `closed`. */
  shut(why: string): void;
}

type Attempt<T> =
  | { kind: "ok"; value: T }
  | { kind: "failed"; error: unknown }
  /** Given up because the worker is stopping; the message stays unacknowledged. */
  | { kind: "abandoned" };

function short(id: string): string {
  return id.length > 8 ? `${id.slice(0, 8)}…` : id;
}

/** One readable line per handled command. */
function describe(envelope: CommandEnvelope, outcome: CommandOutcome): string {
  const command = `${envelope.type} ${short(envelope.commandId)}`;
  switch (outcome.status) {
    case "APPLIED":
      return `applied ${command} (${envelope.aggregateType} ${short(envelope.aggregateId)})`;
    case "REJECTED":
      return `rejected ${command}: ${outcome.rejection.code} ${outcome.rejection.message}`;
    case "DUPLICATE":
      return `skipped ${command}: already ${outcome.previous.status.toLowerCase()}`;
  }
}

/**
 * Reads a message as a command, or throws MalformedCommandError saying why it
 * never can be: the body breaks the contract, or the message's id or the
 * payload's id disagree with the envelope.
 */
function readCommand(message: amqp.ConsumeMessage): CommandEnvelope {
  const envelope = parseCommandEnvelope(message.content);
  const messageId = message.properties.messageId;
  if (messageId !== undefined && messageId !== envelope.commandId) {
    throw new MalformedCommandError(
      `Cannot read command: message_id "${messageId}" differs from commandId "${envelope.commandId}"`,
    );
  }
  const payloadId = (envelope.payload as { id?: string }).id;
  if (payloadId !== undefined && payloadId !== envelope.aggregateId) {
    throw new MalformedCommandError(
      `Cannot read ${envelope.type}: payload id "${payloadId}" differs from aggregateId "${envelope.aggregateId}"`,
    );
  }
  return envelope;
}

/** Whether the promise settles, either way, within ms milliseconds. */
function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms));
  return Promise.race([promise.then(() => true, () => true), timeout]).finally(() =>
    clearTimeout(timer)
  );
}

/**
 * Connects to RabbitMQ as `catalog-worker`, declares the topology and consumes
 * the commands queue with manual acknowledgements, one message at a time in
 * arrival order. Each command is handled, projected, then acknowledged.
 * Unreadable commands, and commands that keep failing for reasons other than a
 * passing fault, are dead-lettered with the reason. Passing faults are
 * retried in place, forever, with backoff. A lost connection is re-established
 * with backoff; unacknowledged messages come back and are recognised as
 * duplicates. Resolves once consuming has started.
 */
export async function startConsumer(options: ConsumerOptions): Promise<Consumer> {
  const log = options.log ?? ((line: string) => console.log(line));
  const clock = options.clock ?? (() => new Date());
  /** Aborted when stopping begins: no new connections, no new messages. */
  const stopping = new AbortController();
  /** Aborted when the grace period is over: retries of the message in hand give up. */
  const giveUp = new AbortController();
  /** Every message, handled one after the other in arrival order. */
  let chain: Promise<void> = Promise.resolve();

  async function attempt<T>(
    what: string,
    work: () => Promise<T>,
    abandon: () => boolean = () => false,
  ): Promise<Attempt<T>> {
    let failures = 0;
    let faults = 0;
    while (true) {
      if (giveUp.signal.aborted || abandon()) return { kind: "abandoned" };
      try {
        return { kind: "ok", value: await work() };
      } catch (error) {
        if (giveUp.signal.aborted || abandon()) return { kind: "abandoned" };
        let delay: number;
        if (isTransient(error)) {
          delay = backoffDelay(faults++);
          log(`cannot ${what} yet (${messageOf(error)}); retrying in ${delay} ms`);
        } else {
          failures += 1;
          if (failures > MAX_RETRIES) return { kind: "failed", error };
          delay = backoffDelay(failures - 1);
          log(
            `cannot ${what}: ${
              messageOf(error)
            }; retry ${failures} of ${MAX_RETRIES} in ${delay} ms`,
          );
        }
        await sleep(delay, giveUp.signal);
      }
    }
  }

  function ack(session: Session, message: amqp.ConsumeMessage): boolean {
    try {
      session.channel.ack(message);
      return true;
    } catch {
      // The channel is gone; RabbitMQ will deliver the message again.
      return false;
    }
  }

  function publishConfirmed(
    channel: amqp.ConfirmChannel,
    routingKey: string,
    content: Buffer,
    properties: amqp.Options.Publish,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      channel.publish(topology.deadLetterExchange, routingKey, content, properties, (error) => {
        if (error) reject(error instanceof Error ? error : new Error(String(error)));
        else resolve();
      });
    });
  }

  async function deadLetter(
    session: Session,
    message: amqp.ConsumeMessage,
    reason: string,
  ): Promise<void> {
    const original = message.properties;
    const properties: amqp.Options.Publish = {
      persistent: true,
      headers: {
        ...original.headers,
        [headers.deadLetterReason]: reason,
        [headers.deadLetteredAt]: clock().toISOString(),
        [headers.originalRoutingKey]: message.fields.routingKey,
      },
    };
    for (
      const key of [
        "messageId",
        "type",
        "correlationId",
        "appId",
        "timestamp",
        "contentType",
        "contentEncoding",
      ] as const
    ) {
      if (original[key] !== undefined) properties[key] = original[key];
    }
    const id = original.messageId ?? "(no message id)";
    const published = await attempt(
      `dead-letter ${id}`,
      () =>
        publishConfirmed(session.channel, message.fields.routingKey, message.content, properties),
      () => session.isClosed,
    );
    if (published.kind === "failed") {
      log(`cannot dead-letter ${id}: ${messageOf(published.error)}; leaving it unacknowledged`);
    }
    if (published.kind !== "ok" || !ack(session, message)) return;
    log(`dead-lettered ${id}: ${reason}`);
  }

  async function processMessage(session: Session, message: amqp.ConsumeMessage): Promise<void> {
    if (stopping.signal.aborted || session.isClosed) return;
    let envelope: CommandEnvelope;
    try {
      envelope = readCommand(message);
    } catch (error) {
      if (!(error instanceof MalformedCommandError)) throw error;
      return await deadLetter(session, message, error.message);
    }
    const command = `${envelope.type} ${short(envelope.commandId)}`;
    const handled = await attempt(`handle ${command}`, () => options.handle(envelope));
    if (handled.kind === "abandoned") return;
    if (handled.kind === "failed") {
      return await deadLetter(
        session,
        message,
        `Cannot handle ${envelope.type} ${envelope.commandId}: ${messageOf(handled.error)}`,
      );
    }
    const projected = await attempt(`project after ${command}`, options.project);
    if (projected.kind === "abandoned") return;
    if (projected.kind === "failed") {
      log(
        `cannot project after ${command}: ${
          messageOf(projected.error)
        }; the next projection will catch up`,
      );
    }
    if (ack(session, message)) log(describe(envelope, handled.value));
  }

  async function openSession(): Promise<Session> {
    let markClosed!: (why: string) => void;
    const connection = await amqp.connect(options.amqpUrl, {
      clientProperties: { connection_name: CONNECTION_NAME },
      timeout: 10_000,
    });
    const session: Session = {
      connection,
      channel: undefined as unknown as amqp.ConfirmChannel,
      consumerTag: "",
      closed: new Promise((resolve) => markClosed = resolve),
      isClosed: false,
      shut(why) {
        if (session.isClosed) return;
        session.isClosed = true;
        markClosed(why);
      },
    };
    let lastError: unknown;
    const close = (why: string) => {
      session.shut(lastError ? `${why}: ${messageOf(lastError)}` : why);
      connection.close().catch(() => {});
    };
    connection.on("error", (error: Error) => lastError = error);
    connection.on("close", (error?: Error) => {
      if (error) lastError = error;
      close("connection closed");
    });
    try {
      const channel = await connection.createConfirmChannel();
      session.channel = channel;
      channel.on("error", (error: Error) => lastError = error);
      channel.on("close", () => close("channel closed"));
      await declareTopology(channel);
      await channel.prefetch(options.prefetch);
      const { consumerTag } = await channel.consume(topology.commandsQueue, (message) => {
        if (message === null) return close("RabbitMQ cancelled the consumer");
        chain = chain
          .then(() => processMessage(session, message))
          .catch((error) => log(`cannot process message: ${messageOf(error)}`));
      }, { noAck: false });
      session.consumerTag = consumerTag;
      return session;
    } catch (error) {
      session.shut("setting up failed");
      await connection.close().catch(() => {});
      throw error;
    }
  }

  async function connect(signal: AbortSignal): Promise<Session | undefined> {
    for (let attempt = 0;; attempt++) {
      if (signal.aborted) return undefined;
      try {
        return await openSession();
      } catch (error) {
        if (signal.aborted) return undefined;
        const delay = backoffDelay(attempt);
        log(
          `cannot connect to RabbitMQ at ${redactUrl(options.amqpUrl)} (${
            messageOf(error)
          }); retrying in ${delay} ms`,
        );
        await sleep(delay, signal);
      }
    }
  }

  /** Closes the channel, then the connection; drops the connection if RabbitMQ does not answer. */
  async function closeSession(session: Session): Promise<void> {
    session.shut("stopped");
    const closing = session.channel?.close();
    if (closing && !(await within(closing, BROKER_CALL_MS))) {
      log(`gave up closing the RabbitMQ channel: no answer within ${BROKER_CALL_MS} ms`);
      return drop(session.connection);
    }
    if (!(await within(session.connection.close(), BROKER_CALL_MS))) {
      log(`gave up closing the RabbitMQ connection: no answer within ${BROKER_CALL_MS} ms`);
      drop(session.connection);
    }
  }

  const startSignal = options.signal
    ? AbortSignal.any([options.signal, stopping.signal])
    : stopping.signal;
  const first = await connect(startSignal);
  if (!first) throw new Error("Cannot start consuming: stopped before RabbitMQ answered");
  let current = first;

  const supervising = (async () => {
    while (true) {
      const why = await current.closed;
      if (stopping.signal.aborted) return;
      log(`lost RabbitMQ (${why}); reconnecting`);
      const next = await connect(stopping.signal);
      if (!next) return;
      if (stopping.signal.aborted) return await closeSession(next);
      current = next;
      log(`reconnected to RabbitMQ; consuming ${topology.commandsQueue} again`);
    }
  })();

  let stopped: Promise<void> | undefined;
  let waitingFor: string | undefined;
  return {
    get waitingFor() {
      return waitingFor;
    },
    stop(graceMs = 10_000) {
      stopped ??= (async () => {
        stopping.abort();
        const session = current;
        // Cancelling and finishing the command in hand overlap: once stopping,
        // no new delivery is processed, whether RabbitMQ confirms the cancel or not.
        const cancelling = (async () => {
          if (session.isClosed) return;
          const cancel = session.channel.cancel(session.consumerTag);
          if (!(await within(cancel, BROKER_CALL_MS))) {
            log(`gave up cancelling the consumer: no answer within ${BROKER_CALL_MS} ms`);
          }
        })();
        waitingFor = "the command in hand";
        if (!(await within(chain, graceMs))) {
          log(
            `stopping with a command still in hand after ${graceMs} ms; RabbitMQ will redeliver it`,
          );
        }
        giveUp.abort();
        await within(chain, 1000);
        waitingFor = "RabbitMQ to cancel the consumer";
        await cancelling;
        waitingFor = "RabbitMQ to close the channel and the connection";
        await closeSession(session);
        waitingFor = "the reconnection in progress";
        if (!(await within(supervising, BROKER_CALL_MS))) {
          log(`gave up waiting for the reconnection in progress after ${BROKER_CALL_MS} ms`);
        }
        waitingFor = undefined;
      })();
      return stopped;
    },
  };
}

/**
 * Closes the connection's socket without a word to RabbitMQ, which does not
 * answer. amqplib has no call for this; its socket is the connection's
 * `stream`. Without it the socket would stay open until the heartbeat times out.
 */
function drop(connection: amqp.ChannelModel): void {
  const socket = (connection.connection as unknown as { stream?: { destroy?: () => void } })
    .stream;
  socket?.destroy?.();
}
