import type { Message } from "amqplib";
import { topology } from "@catalog/proto";
import { AmqpPublishError, amqpUserOf, publishConfirmed } from "@catalog/runtime";
import { messageOf } from "../faults.ts";
import { DeadLetterError, explainUserIdRefusal } from "./dead_letter_error.ts";
import {
  type DeadLetterSession,
  putBack,
  takeAll,
  withDeadLetterSession,
} from "./dead_letter_session.ts";
import { type DeadLetter, readDeadLetter } from "./read_dead_letter.ts";
import { publisherOf, replayProperties } from "./replay_properties.ts";

/** Options of replayDeadLetters(). */
export interface ReplayOptions {
  /** Which dead letters to replay: "all", or those carrying one of these command ids. */
  select: "all" | readonly string[];
  /** Name of the connection in the management UI. Default "catalog-dlq-replay". */
  connectionName?: string;
  /**
   * The command service's RabbitMQ user. Only dead letters it published are
   * replayed, and each is replayed with it as user_id, so that the worker
   * takes it. Unless amqpUrl logs in as that user, its user needs RabbitMQ's
   * `impersonator` tag. Default: the user amqpUrl logs in as.
   */
  publisherUser?: string;
  /**
   * How long to wait for RabbitMQ to accept the connection, and to confirm one
   * replayed message, in milliseconds. Default 10000.
   */
  timeoutMs?: number;
}

/** A dead letter that was chosen but could not, or may not, be replayed; it stays in the queue. */
export interface ReplayFailure {
  deadLetter: DeadLetter;
  why: string;
}

/** What replayDeadLetters() did. */
export interface ReplayReport {
  /** Dead letters republished to the commands exchange and removed from the queue, in queue order. */
  replayed: DeadLetter[];
  /**
   * Chosen dead letters that RabbitMQ did not take back, or that the command
   * service did not publish; they stay in the queue.
   */
  failed: ReplayFailure[];
  /** Requested command ids that no dead letter carries. */
  notFound: string[];
  /** How many messages stay in the dead-letter queue. */
  remaining: number;
}

/**
 * Republishes the chosen dead letters, in queue order, to the commands
 * exchange with their original routing key, body, properties and headers, less
 * the dead-letter headers, and with the command service's user as user_id.
 * Each is removed from the dead-letter queue only after RabbitMQ confirms its
 * copy; the others stay, in the same order. A replayed command that was
 * already applied is skipped by the worker, which de-duplicates by command
 * id, so replaying twice is safe.
 *
 * A dead letter that does not name the command service's user as its
 * publisher (publisherOf()) is not replayed: the worker refused it as not
 * the command service's, and a replay must not pass it off as one.
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
  const publisherUser = options.publisherUser ?? amqpUserOf(amqpUrl);
  return await withDeadLetterSession(amqpUrl, {
    action: "replay dead letters",
    connectionName: options.connectionName ?? "catalog-dlq-replay",
    timeoutMs,
    toExchange: true,
    async work(session) {
      const messages = await takeAll(session.channel);
      const report: ReplayReport = { replayed: [], failed: [], notFound: [], remaining: 0 };
      const found = new Set<string>();
      const kept: Message[] = [];
      for (const message of messages) {
        const deadLetter = readDeadLetter(message);
        const id = deadLetter.commandId;
        if (wanted !== undefined && (id === undefined || !wanted.has(id))) {
          kept.push(message);
          continue;
        }
        if (id !== undefined) found.add(id);
        const publisher = publisherOf(message);
        if (publisher !== publisherUser) {
          const expected = `the command service's user "${publisherUser}"`;
          report.failed.push({
            deadLetter,
            why: publisher === undefined
              ? `it does not say which RabbitMQ user published it, and only what ${expected} ` +
                "published is replayed"
              : `it was published by RabbitMQ user "${publisher}", not by ${expected}`,
          });
          kept.push(message);
          continue;
        }
        let outcome: ReplayOutcome;
        try {
          outcome = await replayOne(session, message, {
            routingKey: deadLetter.routingKey,
            timeoutMs,
            userId: publisherUser,
          });
        } catch (error) {
          const done = report.replayed.length;
          const why = explainUserIdRefusal(messageOf(error), {
            connectedAs: amqpUserOf(amqpUrl),
            publishingAs: publisherUser,
          });
          throw new DeadLetterError(
            `Cannot replay dead letters: ${why} while replaying ` +
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
    },
  });
}

type ReplayOutcome = { ok: true } | { ok: false; why: string };

/**
 * Publishes one dead letter to the commands exchange and waits for RabbitMQ's
 * confirm. A refusal (unroutable, nacked) is an outcome; a lost channel or no
 * answer within timeoutMs throws, because nothing more can be published then.
 */
async function replayOne(
  session: DeadLetterSession,
  message: Message,
  options: { routingKey: string; timeoutMs: number; userId: string },
): Promise<ReplayOutcome> {
  const { routingKey, timeoutMs, userId } = options;
  session.returned = false;
  let nacked = false;
  try {
    await publishConfirmed(session.channel, {
      exchange: topology.commandsExchange,
      routingKey,
      content: message.content,
      properties: replayProperties(message, { userId }),
    }, { timeoutMs });
  } catch (error) {
    if (!(error instanceof AmqpPublishError)) throw error;
    switch (error.reason) {
      case "timeout":
        throw new Error(`RabbitMQ did not confirm a message within ${timeoutMs} ms`);
      case "unsent":
        throw error.cause;
      case "closed":
        throw new Error(session.closed ?? messageOf(error.cause));
      case "nacked":
        nacked = true;
    }
  }
  if (session.closed !== undefined) throw new Error(session.closed);
  // RabbitMQ returns an unroutable message before it confirms it.
  if (session.returned) {
    return { ok: false, why: `${topology.commandsExchange} routes ${routingKey} to no queue` };
  }
  if (nacked) return { ok: false, why: "RabbitMQ refused it (nack)" };
  return { ok: true };
}
