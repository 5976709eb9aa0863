/**
 * The operators' tools for the dead-letter queue: list what waits there, and
 * replay chosen commands to the commands exchange once their cause is fixed.
 *
 * Two kinds of message land in the queue. The worker dead-letters a command it
 * can never process, with `x-dead-letter-reason`, `x-dead-lettered-at` and
 * `x-original-routing-key`. RabbitMQ itself dead-letters a command that
 * exceeded the delivery limit of the queue it waited in, with its own
 * `x-death` and `x-first-death-*` headers instead.
 *
 * Neither tool may lose a message or reorder the ones it leaves: both take
 * every message without acknowledging it, then hand back the ones they keep in
 * the order they came. A quorum queue puts back one return command's messages
 * in an order of its own once there are more than 32 of them, or once several
 * return commands are merged, so messages go back in runs of at most 32, each
 * confirmed by a round trip to the queue before the next. Closing the channel
 * instead would shuffle them, and so does a run cut short (a crash, a lost
 * connection): RabbitMQ then takes back what was held in an order of its own,
 * losing nothing.
 */
import amqp from "amqplib";
import { amqpUrlVar, headers, parseEnv, redactUrl, topology } from "@catalog/proto";
import { messageOf, sleep, within } from "./faults.ts";

/** A message in the dead-letter queue, as an operator reads it. */
export interface DeadLetter {
  /** The command id (`message_id`, else the body's `commandId`); undefined if it has neither. */
  commandId: string | undefined;
  /** The command type (`type`, else the body's `type`). */
  type: string | undefined;
  /** The aggregate it addresses (`x-aggregate-id`, else the body's `aggregateId`). */
  aggregateId: string | undefined;
  /** When it was dead-lettered, if the message says. */
  deadLetteredAt: Date | undefined;
  /** Why it was dead-lettered: the worker's reason, or what RabbitMQ recorded, in words. */
  reason: string;
  /** Who dead-lettered it: the worker, RabbitMQ, or unknown when neither left its headers. */
  deadLetteredBy: "worker" | "rabbitmq" | "unknown";
  /** The routing key it had on the commands exchange, which a replay uses again. */
  routingKey: string;
}

/** Options of listDeadLetters(). */
export interface ListOptions {
  /** Name of the connection in the management UI. Default "catalog-dlq-list". */
  connectionName?: string;
  /** How long to wait for RabbitMQ to accept the connection, in milliseconds. Default 10000. */
  timeoutMs?: number;
}

/** Options of replayDeadLetters(). */
export interface ReplayOptions {
  /** Which dead letters to replay: "all", or those carrying one of these command ids. */
  select: "all" | readonly string[];
  /** Name of the connection in the management UI. Default "catalog-dlq-replay". */
  connectionName?: string;
  /**
   * How long to wait for RabbitMQ to accept the connection, and to confirm one
   * replayed message, in milliseconds. Default 10000.
   */
  timeoutMs?: number;
}

/** A dead letter that was chosen but could not be replayed; it stays in the queue. */
export interface ReplayFailure {
  deadLetter: DeadLetter;
  why: string;
}

/** What replayDeadLetters() did. */
export interface ReplayReport {
  /** Dead letters republished to the commands exchange and removed from the queue, in queue order. */
  replayed: DeadLetter[];
  /** Chosen dead letters that RabbitMQ did not take back; they stay in the queue. */
  failed: ReplayFailure[];
  /** Requested command ids that no dead letter carries. */
  notFound: string[];
  /** How many messages stay in the dead-letter queue. */
  remaining: number;
}

/** Why a dead-letter tool could not do its job: RabbitMQ unreachable, a queue missing, … */
export class DeadLetterError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DeadLetterError";
  }
}

/** The dead-letter tools' settings. */
export interface DeadLetterConfig {
  /** `AMQP_URL`, default `amqp://guest:guest@localhost:5672`: RabbitMQ, the vhost in its path. */
  amqpUrl: string;
}

/**
 * Reads the dead-letter tools' settings from an environment such as
 * `Deno.env.toObject()`: only `AMQP_URL`, read as the worker reads it.
 *
 * @throws {ConfigError} naming the variable if it is set to an unusable value.
 */
export function parseDeadLetterConfig(env: Record<string, string | undefined>): DeadLetterConfig {
  const data = parseEnv("dead-letter tools", { AMQP_URL: amqpUrlVar() }, env);
  return { amqpUrl: data.AMQP_URL };
}

/** How many messages one return command may carry and still keep their order. */
const RETURN_RUN = 32;

/** How long to wait for the queue to show one run of returned messages before going on. */
const RETURN_WAIT_MS = 2000;

/**
 * Headers that say how a message was dead-lettered, or how often it was
 * delivered, rather than what the command is: a replay drops them.
 */
function isDeadLetterHeader(name: string): boolean {
  return name === headers.deadLetterReason || name === headers.deadLetteredAt ||
    name === headers.originalRoutingKey || name === "x-death" || name === "x-delivery-count" ||
    name.startsWith("x-first-death-") || name.startsWith("x-last-death-");
}

/** One entry of RabbitMQ's `x-death` header, as amqplib decodes it. */
interface Death {
  reason?: unknown;
  queue?: unknown;
  time?: unknown;
  "routing-keys"?: unknown;
}

function text(value: unknown): string | undefined {
  if (typeof value === "string" && value !== "") return value;
  if (value instanceof Uint8Array && value.length > 0) return new TextDecoder().decode(value);
  return undefined;
}

/** The most recent death RabbitMQ recorded; it puts that one first. */
function latestDeath(messageHeaders: Record<string, unknown>): Death | undefined {
  const deaths = messageHeaders["x-death"];
  if (!Array.isArray(deaths) || deaths.length === 0) return undefined;
  const death: unknown = deaths[0];
  return typeof death === "object" && death !== null ? death as Death : undefined;
}

/** An AMQP timestamp (seconds), as amqplib decodes it in a header table. */
function timestampOf(value: unknown): Date | undefined {
  const seconds = typeof value === "object" && value !== null && "value" in value
    ? (value as { value: unknown }).value
    : value;
  return typeof seconds === "number" ? new Date(seconds * 1000) : undefined;
}

function dateOf(value: unknown): Date | undefined {
  const iso = text(value);
  if (iso === undefined) return undefined;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** RabbitMQ's reason for a dead-lettering, in words. */
function describeDeath(death: Death): string {
  const queue = text(death.queue) ?? "(unknown queue)";
  const reason = text(death.reason);
  switch (reason) {
    case "delivery_limit":
      return `Exceeded the delivery limit of queue ${queue}`;
    case "rejected":
      return `Rejected without requeueing by a consumer of queue ${queue}`;
    case "expired":
      return `Expired in queue ${queue}`;
    case "maxlen":
      return `Overflowed the length limit of queue ${queue}`;
    default:
      return `Dead-lettered by RabbitMQ from queue ${queue} (reason ${reason ?? "not given"})`;
  }
}

/** The envelope fields an operator needs, from a body that may not be a valid envelope. */
function bodyFields(content: Uint8Array): Record<string, string | undefined> {
  try {
    const body: unknown = JSON.parse(new TextDecoder().decode(content));
    if (typeof body !== "object" || body === null) return {};
    const { commandId, type, aggregateId } = body as Record<string, unknown>;
    return { commandId: text(commandId), type: text(type), aggregateId: text(aggregateId) };
  } catch {
    return {};
  }
}

/** Reads a dead-lettered message for an operator, whoever dead-lettered it. */
function readDeadLetter(message: amqp.Message): DeadLetter {
  const properties = message.properties;
  const messageHeaders: Record<string, unknown> = properties.headers ?? {};
  const body = bodyFields(message.content);
  const common = {
    commandId: text(properties.messageId) ?? body.commandId,
    type: text(properties.type) ?? body.type,
    aggregateId: text(messageHeaders[headers.aggregateId]) ?? body.aggregateId,
  };
  const workerReason = text(messageHeaders[headers.deadLetterReason]);
  if (workerReason !== undefined) {
    return {
      ...common,
      deadLetteredAt: dateOf(messageHeaders[headers.deadLetteredAt]),
      reason: workerReason,
      deadLetteredBy: "worker",
      routingKey: text(messageHeaders[headers.originalRoutingKey]) ?? message.fields.routingKey,
    };
  }
  const death = latestDeath(messageHeaders);
  if (death !== undefined) {
    const routingKeys = death["routing-keys"];
    const routingKey = Array.isArray(routingKeys) ? text(routingKeys[0]) : undefined;
    return {
      ...common,
      deadLetteredAt: timestampOf(death.time),
      reason: describeDeath(death),
      deadLetteredBy: "rabbitmq",
      routingKey: routingKey ?? message.fields.routingKey,
    };
  }
  // A message that an exchange with the dead-letter exchange as its alternate
  // could not route arrives with neither kind of header, naming that exchange.
  const exchange = message.fields.exchange;
  const unroutable = exchange !== "" && exchange !== topology.deadLetterExchange;
  return {
    ...common,
    deadLetteredAt: undefined,
    reason: unroutable ? `Routed to no queue by exchange ${exchange}` : "No reason recorded",
    deadLetteredBy: unroutable ? "rabbitmq" : "unknown",
    routingKey: message.fields.routingKey,
  };
}

/** The properties to republish a dead letter with: the original ones, without the dead-letter headers. */
function replayProperties(message: amqp.Message): amqp.Options.Publish {
  const original = message.properties;
  const kept: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(original.headers ?? {})) {
    if (!isDeadLetterHeader(name)) kept[name] = value;
  }
  const properties: amqp.Options.Publish = {
    // Commands are persistent; a message that somehow was not stays as it was.
    deliveryMode: original.deliveryMode === 1 ? 1 : 2,
    // Unroutable, it must come back rather than vanish while its dead letter is acknowledged.
    mandatory: true,
    headers: kept,
  };
  // Not userId: RabbitMQ refuses a user id other than the connection's, closing the channel.
  for (
    const key of [
      "contentType",
      "contentEncoding",
      "correlationId",
      "replyTo",
      "expiration",
      "messageId",
      "timestamp",
      "type",
      "appId",
      "priority",
    ] as const
  ) {
    if (original[key] !== undefined) properties[key] = original[key];
  }
  return properties;
}

function vhostOf(amqpUrl: string): string {
  const path = new URL(amqpUrl).pathname.slice(1);
  return path === "" ? "/" : decodeURIComponent(path);
}

/** Why connecting failed, for someone who has to fix it. */
function whyUnreachable(amqpUrl: string, error: unknown, timeoutMs: number): string {
  const at = `RabbitMQ at ${redactUrl(amqpUrl)}`;
  const code = (error as { code?: unknown } | null)?.code;
  const message = messageOf(error);
  if (code === "ECONNREFUSED") return `${at} refused the connection`;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") {
    return `${at} cannot be found: its host name does not resolve`;
  }
  if (code === "ETIMEDOUT" || /timed? ?out/i.test(message)) {
    return `${at} did not answer within ${timeoutMs} ms`;
  }
  if (message.includes("ACCESS-REFUSED")) return `${at} refused the user name or password`;
  if (message.includes("ConnectionOpenOk")) {
    return `${at} refused to open vhost "${vhostOf(amqpUrl)}": it does not exist, ` +
      "or the user may not use it";
  }
  return `${at} cannot be reached: ${message}`;
}

/** The message of a failed channel operation, without amqplib's framing. */
function brokerSays(error: unknown): string {
  const message = messageOf(error);
  return /with message "(.*)"/.exec(message)?.[1] ?? message;
}

function isNotFound(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 404;
}

interface Session {
  channel: amqp.ConfirmChannel;
  /** The reason the channel or connection closed, once it has. */
  closed: string | undefined;
  /** Set when RabbitMQ returns a published message as unroutable. */
  returned: boolean;
}

/**
 * Opens a connection and a confirm channel, checks that the dead-letter queue
 * (and, if asked, the commands exchange) exists, runs work, and closes the
 * connection whatever happens. Failures become DeadLetterErrors that start
 * with `Cannot <action>: `.
 */
async function withSession<T>(
  amqpUrl: string,
  options: { action: string; connectionName: string; timeoutMs: number; toExchange: boolean },
  work: (session: Session) => Promise<T>,
): Promise<T> {
  const { action, timeoutMs } = options;
  let connection: amqp.ChannelModel;
  try {
    connection = await amqp.connect(amqpUrl, {
      clientProperties: { connection_name: options.connectionName },
      timeout: timeoutMs,
    });
  } catch (error) {
    throw new DeadLetterError(`Cannot ${action}: ${whyUnreachable(amqpUrl, error, timeoutMs)}`, {
      cause: error,
    });
  }
  // The failing operation reports the error; without a listener it would be thrown instead.
  connection.on("error", () => {});
  let channel: amqp.ConfirmChannel | undefined;
  try {
    channel = await connection.createConfirmChannel();
    const session: Session = { channel, closed: undefined, returned: false };
    channel.on("error", (error: Error) => session.closed ??= brokerSays(error));
    channel.on("close", () => session.closed ??= "the channel closed");
    channel.on("return", () => session.returned = true);
    const vhost = vhostOf(amqpUrl);
    try {
      await channel.checkQueue(topology.deadLetterQueue);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      throw new DeadLetterError(
        `Cannot ${action}: queue ${topology.deadLetterQueue} does not exist in vhost "${vhost}" ` +
          "(the worker declares it when it starts)",
        { cause: error },
      );
    }
    if (options.toExchange) {
      try {
        await channel.checkExchange(topology.commandsExchange);
      } catch (error) {
        if (!isNotFound(error)) throw error;
        throw new DeadLetterError(
          `Cannot ${action}: exchange ${topology.commandsExchange} does not exist in vhost ` +
            `"${vhost}" (the worker declares it when it starts)`,
          { cause: error },
        );
      }
    }
    return await work(session);
  } catch (error) {
    if (error instanceof DeadLetterError) throw error;
    throw new DeadLetterError(`Cannot ${action}: ${brokerSays(error)}`, { cause: error });
  } finally {
    // The channel first: RabbitMQ 3.10 was seen to forget the acknowledgements
    // of basic.get deliveries (of messages it had dead-lettered itself) when
    // the connection closed right after them, putting replayed messages back.
    if (channel !== undefined) await settled(() => channel!.close(), timeoutMs);
    await settled(() => connection.close(), timeoutMs);
  }
}

/** Runs a closing call, ignoring its failure and giving up waiting after ms. */
async function settled(close: () => Promise<unknown>, ms: number): Promise<void> {
  // amqplib throws at once, rather than rejecting, when the channel is already closed.
  await within(Promise.resolve().then(close), ms);
}

/** Takes every message in the dead-letter queue, in queue order, without acknowledging any. */
async function takeAll(channel: amqp.Channel): Promise<amqp.GetMessage[]> {
  const messages: amqp.GetMessage[] = [];
  while (true) {
    const message = await channel.get(topology.deadLetterQueue, { noAck: false });
    if (message === false) return messages;
    messages.push(message);
  }
}

/**
 * Hands messages back to the dead-letter queue in the order given, which must
 * be the order they were taken in, and no other message taken before the last
 * of them may still be unacknowledged. See the module's comment for why runs.
 */
async function putBack(channel: amqp.Channel, messages: readonly amqp.Message[]): Promise<void> {
  let returned = 0;
  for (let start = 0; start < messages.length; start += RETURN_RUN) {
    const run = messages.slice(start, start + RETURN_RUN);
    // Every message up to this one that is still held is in this run.
    channel.nack(run[run.length - 1]!, true, true);
    returned += run.length;
    const deadline = Date.now() + RETURN_WAIT_MS;
    while ((await channel.checkQueue(topology.deadLetterQueue)).messageCount < returned) {
      // Another client took some; going on can only cost order, never a message.
      if (Date.now() > deadline) break;
      await sleep(10);
    }
  }
}

/**
 * Every message in the dead-letter queue, oldest first, read for an operator.
 * The messages stay in the queue, in the same order; RabbitMQ counts the
 * look as one more delivery of each (`x-delivery-count`). Run one list or
 * replay at a time: while one runs, another sees the queue as empty.
 *
 * @throws {DeadLetterError} when RabbitMQ cannot be reached or the queue does not exist.
 */
export async function listDeadLetters(
  amqpUrl: string,
  options: ListOptions = {},
): Promise<DeadLetter[]> {
  return await withSession(amqpUrl, {
    action: "list dead letters",
    connectionName: options.connectionName ?? "catalog-dlq-list",
    timeoutMs: options.timeoutMs ?? 10_000,
    toExchange: false,
  }, async ({ channel }) => {
    const messages = await takeAll(channel);
    await putBack(channel, messages);
    return messages.map(readDeadLetter);
  });
}

type PublishOutcome = { ok: true } | { ok: false; why: string };

/**
 * Publishes one message to the commands exchange and waits for RabbitMQ's
 * confirm. A refusal (unroutable, nacked) is an outcome; a lost channel or no
 * answer within timeoutMs throws, because nothing more can be published then.
 */
function publishConfirmed(
  session: Session,
  message: amqp.Message,
  routingKey: string,
  timeoutMs: number,
): Promise<PublishOutcome> {
  session.returned = false;
  return new Promise<PublishOutcome>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`RabbitMQ did not confirm a message within ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      session.channel.publish(
        topology.commandsExchange,
        routingKey,
        message.content,
        replayProperties(message),
        (error) => {
          clearTimeout(timer);
          if (session.closed !== undefined) return reject(new Error(session.closed));
          // RabbitMQ returns an unroutable message before it confirms it.
          if (session.returned) {
            return resolve({
              ok: false,
              why: `${topology.commandsExchange} routes ${routingKey} to no queue`,
            });
          }
          if (error) return resolve({ ok: false, why: "RabbitMQ refused it (nack)" });
          resolve({ ok: true });
        },
      );
    } catch (error) {
      clearTimeout(timer);
      reject(error);
    }
  });
}

/**
 * Republishes the chosen dead letters, in queue order, to the commands
 * exchange with their original routing key, body, properties and headers, less
 * the dead-letter headers. Each is removed from the dead-letter queue only
 * after RabbitMQ confirms its copy; the others stay, in the same order. A
 * replayed command that was already applied is skipped by the worker, which
 * de-duplicates by command id, so replaying twice is safe.
 *
 * @throws {DeadLetterError} when RabbitMQ cannot be reached, the queue or the
 * exchange does not exist, or the channel is lost midway (then the message in
 * flight and the ones after it stay in the dead-letter queue).
 */
export async function replayDeadLetters(
  amqpUrl: string,
  options: ReplayOptions,
): Promise<ReplayReport> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const wanted = options.select === "all" ? undefined : new Set(options.select);
  return await withSession(amqpUrl, {
    action: "replay dead letters",
    connectionName: options.connectionName ?? "catalog-dlq-replay",
    timeoutMs,
    toExchange: true,
  }, async (session) => {
    const messages = await takeAll(session.channel);
    const report: ReplayReport = { replayed: [], failed: [], notFound: [], remaining: 0 };
    const found = new Set<string>();
    const kept: amqp.Message[] = [];
    for (const message of messages) {
      const deadLetter = readDeadLetter(message);
      const id = deadLetter.commandId;
      if (wanted !== undefined && (id === undefined || !wanted.has(id))) {
        kept.push(message);
        continue;
      }
      if (id !== undefined) found.add(id);
      let outcome: PublishOutcome;
      try {
        outcome = await publishConfirmed(session, message, deadLetter.routingKey, timeoutMs);
      } catch (error) {
        const done = report.replayed.length;
        throw new DeadLetterError(
          `Cannot replay dead letters: ${messageOf(error)} while replaying ` +
            `${id ?? "a message without command id"}, after replaying ${done}; it and the ` +
            `rest stay in ${topology.deadLetterQueue}`,
          { cause: error },
        );
      }
      if (outcome.ok) {
        session.channel.ack(message);
        report.replayed.push(deadLetter);
      } else {
        report.failed.push({ deadLetter, why: outcome.why });
        kept.push(message);
      }
    }
    await putBack(session.channel, kept);
    report.remaining = kept.length;
    report.notFound = wanted === undefined ? [] : [...wanted].filter((id) => !found.has(id));
    return report;
  });
}
