import { Buffer } from "node:buffer";
import amqp from "amqplib";
import {
  type CommandEnvelope,
  declareTopology,
  headers,
  MalformedCommandError,
  parseCommandEnvelope,
  partitionQueue,
  redactUrl,
  topology,
} from "@catalog/proto";
import { withHeartbeat } from "@catalog/runtime";
import type { AcceptedCommand } from "./command_status.ts";
import { backoffDelay, isTransient, messageOf, sleep, within } from "./faults.ts";
import type { Clock, CommandOutcome } from "./handle_command.ts";
import type { ProjectionReport } from "./project.ts";

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
  /** Makes a dead-lettered command readable as FAILED (recordFailed). */
  recordFailed: (envelope: CommandEnvelope, reason: string) => Promise<void>;
  /** Stamps x-dead-lettered-at. Default: the system clock. */
  clock?: Clock;
  /** Receives one line per outcome and per connection change. Default: console.log. */
  log?: (line: string) => void;
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

/** Failures other than passing faults that a command gets before it is dead-lettered. */
const MAX_RETRIES = 3;

/**
 * How long stopping waits for RabbitMQ to answer one call (cancel, close)
 * before going on without the answer.
 */
const BROKER_CALL_MS = 2000;

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

/** Accepted copies recorded in one statement at most, and held unacknowledged at most. */
const ACCEPTED_BATCH = 500;
/** How long an accepted copy may wait for others to share its statement. */
const ACCEPTED_LINGER_MS = 5;

/** One partition queue being consumed on its own channel. */
interface Partition {
  partition: number;
  channel: amqp.ConfirmChannel;
  consumerTag: string;
  /** Every message of the partition, handled one after the other in arrival order. */
  chain: Promise<void>;
  /** Messages delivered and not yet taken up by the chain. */
  pending: amqp.ConsumeMessage[];
  /** Whether a step of the chain will take up the pending messages. */
  scheduled: boolean;
  /**
   * Handled commands waiting for the projection that makes their outcome
   * readable, after which each is acknowledged. The next command is handled
   * meanwhile.
   */
  settling: Set<Promise<void>>;
  /** Set once releasing the partition has begun. */
  closing: boolean;
  /** Set when releasing ran out of time: start no new message. */
  draining: boolean;
  /** Aborted once the grace period of a release is over: give up the retries in hand. */
  leaving: AbortController;
}

interface Session {
  connection: amqp.ChannelModel;
  /** Declares the topology, publishes dead letters, consumes the accepted copies. */
  channel: amqp.ConfirmChannel;
  acceptedTag: string;
  /** Aborted when the session closes: its retries are pointless. */
  gone: AbortController;
  partitions: Map<number, Partition>;
  /** Resolves, with why, once the connection or a channel has gone. */
  closed: Promise<string>;
  isClosed: boolean;
  /** Marks the session closed, with why, and resolves `closed`. */
  shut(why: string): void;
}

type Attempt<T> =
  | { kind: "ok"; value: T }
  | { kind: "failed"; error: unknown }
  /** Given up because the partition or the worker is stopping; the message stays unacknowledged. */
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
 * never can be: the body breaks the contract, or the message's id, its
 * x-aggregate-id header or the payload's id disagree with the envelope.
 */
function readCommand(message: amqp.Message): CommandEnvelope {
  const envelope = parseCommandEnvelope(message.content);
  const messageId = message.properties.messageId;
  if (messageId !== undefined && messageId !== envelope.commandId) {
    throw new MalformedCommandError(
      `Cannot read command: message_id "${messageId}" differs from commandId "${envelope.commandId}"`,
    );
  }
  // The partition was chosen by this header: a command whose header names
  // another aggregate (or none) may sit in another partition than the rest of
  // its aggregate's commands, so applying it could break their order.
  const headerId = message.properties.headers?.[headers.aggregateId];
  if (headerId !== envelope.aggregateId) {
    throw new MalformedCommandError(
      headerId === undefined
        ? `Cannot read ${envelope.type}: the message has no ${headers.aggregateId} header`
        : `Cannot read ${envelope.type}: ${headers.aggregateId} "${headerId}" differs from aggregateId "${envelope.aggregateId}"`,
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

/** Lets at most `limit` tasks run at once; the others wait in arrival order. */
function limiter(limit: number) {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async function run<T>(task: () => Promise<T>): Promise<T> {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else running++;
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}

/**
 * Connects to RabbitMQ as `catalog-worker`, declares the topology, records
 * the accepted copies of commands, and consumes the partition queues it is
 * told to with manual acknowledgements. Within a partition, commands are
 * handled in arrival order, those delivered meanwhile together (handleMany),
 * while the ones before them are projected; up to `concurrency` partitions
 * are handled at once. Each command is handled, projected, then acknowledged.
 * Unreadable commands, and commands that keep failing for reasons other than
 * a passing fault, are dead-lettered with the reason. Passing faults are
 * retried in place, forever, with backoff, so they never count a delivery.
 * A lost connection is re-established with backoff, and every partition
 * consumed before is consumed again; unacknowledged messages come back and
 * are recognised as duplicates. Resolves once connected.
 */
export async function startConsumer(options: ConsumerOptions): Promise<Consumer> {
  const log = options.log ?? ((line: string) => console.log(line));
  const clock = options.clock ?? (() => new Date());
  const runLimited = limiter(Math.max(1, options.concurrency ?? 1));
  /** Aborted when stopping begins: no new connections, no new messages. */
  const stopping = new AbortController();
  /** Partitions this consumer should consume, whether or not connected right now. */
  const wanted = new Set<number>();
  /** Partitions with an open consumer in the current session. */
  const consuming = new Set<number>();
  /** Accepted copies received and not yet recorded. */
  let accepted: { message: amqp.Message; command?: AcceptedCommand }[] = [];
  let acceptedTimer: ReturnType<typeof setTimeout> | undefined;
  let recording: Promise<void> = Promise.resolve();

  async function attempt<T>(
    what: string,
    work: () => Promise<T>,
    abandon: AbortSignal,
    retries = MAX_RETRIES,
  ): Promise<Attempt<T>> {
    let failures = 0;
    let faults = 0;
    while (true) {
      if (abandon.aborted) return { kind: "abandoned" };
      try {
        return { kind: "ok", value: await work() };
      } catch (error) {
        if (abandon.aborted) return { kind: "abandoned" };
        let delay: number;
        if (isTransient(error)) {
          delay = backoffDelay(faults++);
          log(`cannot ${what} yet (${messageOf(error)}); retrying in ${delay} ms`);
        } else {
          failures += 1;
          if (failures > retries) return { kind: "failed", error };
          delay = backoffDelay(failures - 1);
          log(
            `cannot ${what}: ${messageOf(error)}; retry ${failures} of ${retries} in ${delay} ms`,
          );
        }
        await sleep(delay, abandon);
      }
    }
  }

  function ack(channel: amqp.Channel, message: amqp.Message, allUpTo = false): boolean {
    try {
      channel.ack(message, allUpTo);
      return true;
    } catch {
      // The channel is gone; RabbitMQ will deliver the message again.
      return false;
    }
  }

  async function deadLetter(
    session: Session,
    part: Partition,
    message: amqp.ConsumeMessage,
    reason: string,
    envelope?: CommandEnvelope,
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
        publishConfirmed(
          session.channel,
          topology.deadLetterExchange,
          message.fields.routingKey,
          message.content,
          properties,
        ),
      part.leaving.signal,
    );
    if (published.kind === "failed") {
      log(`cannot dead-letter ${id}: ${messageOf(published.error)}; leaving it unacknowledged`);
    }
    if (published.kind !== "ok") return;
    if (envelope) {
      const recorded = await attempt(
        `record ${id} as failed`,
        () => options.recordFailed(envelope, reason),
        part.leaving.signal,
      );
      if (recorded.kind === "failed") {
        log(`cannot record ${id} as failed: ${messageOf(recorded.error)}`);
      }
    }
    if (!ack(part.channel, message)) return;
    log(`dead-lettered ${id}: ${reason}`);
  }

  async function processMessage(
    session: Session,
    part: Partition,
    message: amqp.ConsumeMessage,
  ): Promise<void> {
    if (part.draining || part.leaving.signal.aborted || session.isClosed) return;
    let envelope: CommandEnvelope;
    try {
      envelope = readCommand(message);
    } catch (error) {
      if (!(error instanceof MalformedCommandError)) throw error;
      return await deadLetter(session, part, message, error.message);
    }
    const command = `${envelope.type} ${short(envelope.commandId)}`;
    const handled = await attempt(
      `handle ${command}`,
      () => options.handle(envelope),
      part.leaving.signal,
    );
    if (handled.kind === "abandoned") return;
    if (handled.kind === "failed") {
      return await deadLetter(
        session,
        part,
        message,
        `Cannot handle ${envelope.type} ${envelope.commandId}: ${messageOf(handled.error)}`,
        envelope,
      );
    }
    settleLater(part, command, [{ message, outcome: () => describe(envelope, handled.value) }]);
  }

  /**
   * Handles the messages in order: unreadable ones are dead-lettered, the
   * commands in one call of handleMany, or, if that fails for a reason other
   * than a passing fault, one at a time, each with its own retries.
   */
  async function processMessages(
    session: Session,
    part: Partition,
    messages: amqp.ConsumeMessage[],
  ): Promise<void> {
    const handleMany = options.handleMany;
    if (!handleMany || messages.length === 1) {
      for (const message of messages) await processMessage(session, part, message);
      return;
    }
    if (part.draining || part.leaving.signal.aborted || session.isClosed) return;
    const commands: { message: amqp.ConsumeMessage; envelope: CommandEnvelope }[] = [];
    for (const message of messages) {
      try {
        commands.push({ message, envelope: readCommand(message) });
      } catch (error) {
        if (!(error instanceof MalformedCommandError)) throw error;
        await deadLetter(session, part, message, error.message);
      }
    }
    if (commands.length === 0) return;
    const what = `${commands.length} commands`;
    const handled = await attempt(
      `handle ${what}`,
      () => handleMany(commands.map((command) => command.envelope)),
      part.leaving.signal,
      0,
    );
    if (handled.kind === "abandoned") return;
    if (handled.kind === "failed") {
      log(`cannot handle ${what} together: ${messageOf(handled.error)}; handling them one by one`);
      for (const { message } of commands) await processMessage(session, part, message);
      return;
    }
    settleLater(
      part,
      what,
      commands.map(({ message, envelope }, index) => ({
        message,
        outcome: () => describe(envelope, handled.value[index]!),
      })),
    );
  }

  /** Settles handled commands while the partition goes on with the next ones. */
  function settleLater(
    part: Partition,
    what: string,
    handled: { message: amqp.ConsumeMessage; outcome: () => string }[],
  ): void {
    const settling = settle(part, what, handled)
      .catch((error) => log(`cannot settle ${what}: ${messageOf(error)}`));
    part.settling.add(settling);
    void settling.finally(() => part.settling.delete(settling));
  }

  /**
   * Projects, then acknowledges handled commands. Until then RabbitMQ keeps
   * them: a worker that dies in between has them delivered again, found
   * handled, and projected.
   */
  async function settle(
    part: Partition,
    what: string,
    handled: { message: amqp.ConsumeMessage; outcome: () => string }[],
  ): Promise<void> {
    const projected = await attempt(
      `project after ${what}`,
      options.project,
      part.leaving.signal,
    );
    if (projected.kind === "abandoned") return;
    if (projected.kind === "failed") {
      log(
        `cannot project after ${what}: ${
          messageOf(projected.error)
        }; the next projection will catch up`,
      );
    }
    for (const { message, outcome } of handled) {
      if (ack(part.channel, message)) log(outcome());
    }
  }

  /** Has the chain take up the partition's pending messages, in one step per batch. */
  function schedule(session: Session, part: Partition): void {
    if (part.scheduled) return;
    part.scheduled = true;
    part.chain = part.chain
      .then(() =>
        runLimited(() => {
          part.scheduled = false;
          const messages = part.pending.splice(0, part.pending.length);
          return processMessages(session, part, messages);
        })
      )
      .catch((error) => log(`cannot process message: ${messageOf(error)}`));
  }

  /** Resolves once every command delivered so far is handled and settled. */
  async function idle(part: Partition): Promise<void> {
    await part.chain;
    await Promise.all([...part.settling]);
  }

  function acceptedCommandOf(message: amqp.Message): AcceptedCommand | undefined {
    try {
      const envelope = readCommand(message);
      return {
        commandId: envelope.commandId,
        type: envelope.type,
        aggregateId: envelope.aggregateId,
        acceptedAt: envelope.issuedAt,
      };
    } catch {
      // Its partition's copy is dead-lettered with the reason; nothing to show.
      return undefined;
    }
  }

  /** Records the accepted copies in hand in one statement, then acknowledges them all. */
  function flushAccepted(session: Session): Promise<void> {
    clearTimeout(acceptedTimer);
    acceptedTimer = undefined;
    recording = recording.then(async () => {
      const batch = accepted;
      accepted = [];
      const last = batch.at(-1);
      if (!last) return;
      const commands = batch.flatMap((entry) => entry.command ? [entry.command] : []);
      const recorded = await attempt(
        `record ${commands.length} accepted commands`,
        () => options.recordAccepted(commands),
        session.gone.signal,
      );
      if (recorded.kind === "ok") ack(session.channel, last.message, true);
      else if (recorded.kind === "failed") {
        log(`cannot record accepted commands: ${messageOf(recorded.error)}; leaving them queued`);
      }
    });
    return recording;
  }

  function onAccepted(session: Session, message: amqp.Message): void {
    accepted.push({ message, command: acceptedCommandOf(message) });
    if (accepted.length >= ACCEPTED_BATCH) void flushAccepted(session);
    else acceptedTimer ??= setTimeout(() => void flushAccepted(session), ACCEPTED_LINGER_MS);
  }

  async function openPartition(session: Session, partition: number): Promise<void> {
    if (session.partitions.has(partition) || session.isClosed) return;
    const channel = await session.connection.createConfirmChannel();
    const part: Partition = {
      partition,
      channel,
      consumerTag: "",
      chain: Promise.resolve(),
      pending: [],
      scheduled: false,
      settling: new Set(),
      closing: false,
      draining: false,
      leaving: new AbortController(),
    };
    session.partitions.set(partition, part);
    channel.on("error", () => {});
    channel.on("close", () => {
      if (!part.leaving.signal.aborted) session.shut(`partition ${partition}'s channel closed`);
    });
    await channel.prefetch(options.prefetch);
    const { consumerTag } = await channel.consume(partitionQueue(partition), (message) => {
      if (message === null) return session.shut("RabbitMQ cancelled a consumer");
      part.pending.push(message);
      schedule(session, part);
    }, { noAck: false });
    part.consumerTag = consumerTag;
    consuming.add(partition);
  }

  async function closePartition(session: Session, part: Partition, graceMs: number) {
    if (part.closing) return;
    part.closing = true;
    const deadline = Date.now() + graceMs;
    // Take nothing more, then finish and acknowledge every command already
    // delivered, in order. Handing them back instead would let RabbitMQ put
    // them behind other returned commands, out of acceptance order.
    if (!session.isClosed && part.consumerTag) {
      const cancel = part.channel.cancel(part.consumerTag);
      if (!(await within(cancel, Math.min(BROKER_CALL_MS, graceMs)))) {
        log(
          `gave up cancelling partition ${part.partition}: no answer within ${BROKER_CALL_MS} ms`,
        );
      }
    }
    if (!(await within(idle(part), Math.max(0, deadline - Date.now())))) {
      log(
        `releasing partition ${part.partition} with commands still in hand after ${graceMs} ms; ` +
          "RabbitMQ will deliver them again",
      );
    }
    part.draining = true;
    part.leaving.abort();
    await within(idle(part), 1000);
    consuming.delete(part.partition);
    session.partitions.delete(part.partition);
    if (!session.isClosed && !(await within(part.channel.close(), BROKER_CALL_MS))) {
      log(
        `gave up closing partition ${part.partition}'s channel: no answer within ${BROKER_CALL_MS} ms`,
      );
      session.shut("a channel did not close");
    }
  }

  async function openSession(): Promise<Session> {
    let markClosed!: (why: string) => void;
    const connection = await amqp.connect(withHeartbeat(options.amqpUrl, HEARTBEAT_SECONDS), {
      clientProperties: { connection_name: CONNECTION_NAME },
      timeout: 10_000,
    });
    const session: Session = {
      connection,
      channel: undefined as unknown as amqp.ConfirmChannel,
      acceptedTag: "",
      gone: new AbortController(),
      partitions: new Map(),
      closed: new Promise((resolve) => markClosed = resolve),
      isClosed: false,
      shut(why) {
        if (session.isClosed) return;
        session.isClosed = true;
        consuming.clear();
        for (const part of session.partitions.values()) part.leaving.abort();
        session.gone.abort();
        markClosed(why);
        connection.close().catch(() => {});
      },
    };
    let lastError: unknown;
    const close = (why: string) =>
      session.shut(lastError ? `${why}: ${messageOf(lastError)}` : why);
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
      await moveLegacyQueue(connection, log);
      await channel.prefetch(ACCEPTED_BATCH);
      const { consumerTag } = await channel.consume(topology.acceptedQueue, (message) => {
        if (message === null) return close("RabbitMQ cancelled the accepted-copies consumer");
        onAccepted(session, message);
      }, { noAck: false });
      session.acceptedTag = consumerTag;
      return session;
    } catch (error) {
      session.shut("setting up failed");
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

  /** Closes the connection; drops it if RabbitMQ does not answer. */
  async function closeSession(session: Session): Promise<void> {
    const connection = session.connection;
    if (!(await within(connection.close(), BROKER_CALL_MS))) {
      log(`gave up closing the RabbitMQ connection: no answer within ${BROKER_CALL_MS} ms`);
      drop(connection);
    }
    session.shut("stopped");
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
      // Every partition wanted now, including those taken or given back while reconnecting.
      for (const partition of wanted) {
        await openPartition(next, partition).catch((error) =>
          next.shut(`cannot consume ${partitionQueue(partition)}: ${messageOf(error)}`)
        );
      }
      for (const part of [...next.partitions.values()]) {
        if (!wanted.has(part.partition)) await closePartition(next, part, 0);
      }
      log(
        `reconnected to RabbitMQ; consuming ${
          [...wanted].map((partition) => partitionQueue(partition)).join(", ") || "no partition"
        } again`,
      );
    }
  })();

  let stopped: Promise<void> | undefined;
  let waitingFor: string | undefined;
  return {
    consuming,
    get connected() {
      return !current.isClosed;
    },
    get waitingFor() {
      return waitingFor;
    },
    consume(partition) {
      if (wanted.has(partition) || stopping.signal.aborted) return;
      wanted.add(partition);
      const session = current;
      openPartition(session, partition).catch((error) =>
        session.shut(`cannot consume ${partitionQueue(partition)}: ${messageOf(error)}`)
      );
    },
    async release(partition, graceMs = 10_000) {
      wanted.delete(partition);
      const session = current;
      const part = session.partitions.get(partition);
      if (part) await closePartition(session, part, graceMs);
    },
    stop(graceMs = 10_000) {
      stopped ??= (async () => {
        waitingFor = "the commands in hand";
        const session = current;
        await Promise.all(
          [...session.partitions.values()].map((part) => closePartition(session, part, graceMs)),
        );
        wanted.clear();
        stopping.abort();
        waitingFor = "the accepted commands in hand";
        if (!session.isClosed) {
          await within(session.channel.cancel(session.acceptedTag), BROKER_CALL_MS);
          await within(flushAccepted(session), graceMs);
        }
        waitingFor = "RabbitMQ to close the connection";
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

/** Publishes one message and waits for RabbitMQ's publisher confirm. */
function publishConfirmed(
  channel: amqp.ConfirmChannel,
  exchange: string,
  routingKey: string,
  content: Buffer,
  properties: amqp.Options.Publish,
): Promise<void> {
  return new Promise((resolve, reject) => {
    channel.publish(exchange, routingKey, content, properties, (error) => {
      if (error) reject(error instanceof Error ? error : new Error(String(error)));
      else resolve();
    });
  });
}

/**
 * Moves commands left in the single commands queue of earlier versions into
 * the partition queues (through the commands exchange, confirmed one by one),
 * then deletes it. Does nothing where it does not exist.
 */
async function moveLegacyQueue(
  connection: amqp.ChannelModel,
  log: (line: string) => void,
): Promise<void> {
  const queue = topology.legacyCommandsQueue;
  const probe = await connection.createChannel();
  probe.on("error", () => {});
  try {
    await probe.checkQueue(queue);
  } catch {
    return; // RabbitMQ closed the probe channel: there is no such queue.
  }
  await probe.close().catch(() => {});
  const channel = await connection.createConfirmChannel();
  try {
    await channel.unbindQueue(queue, topology.commandsExchange, "#");
    let moved = 0;
    while (true) {
      const message = await channel.get(queue, { noAck: false });
      if (message === false) break;
      await publishConfirmed(
        channel,
        topology.commandsExchange,
        message.fields.routingKey,
        message.content,
        { ...message.properties, persistent: true },
      );
      channel.ack(message);
      moved++;
    }
    // Unbound, it receives nothing more; quorum queues refuse delete's if-empty flag.
    const { messageCount } = await channel.checkQueue(queue);
    if (messageCount > 0) {
      throw new Error(
        `Cannot move the old queue ${queue}: it still holds ${messageCount} commands`,
      );
    }
    await channel.deleteQueue(queue);
    log(`moved ${moved} commands from the old queue ${queue} into the partitions, and deleted it`);
  } finally {
    await channel.close().catch(() => {});
  }
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
