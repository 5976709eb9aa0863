/**
 * Why a dead-letter tool could not do its job, in words for the operator
 * who has to fix it. Pure: it reads amqplib's errors, it does not talk to RabbitMQ.
 */
import { redactUrl } from "@catalog/runtime";
import { messageOf } from "../faults.ts";

/** Why a dead-letter tool could not do its job: RabbitMQ unreachable, a queue missing, … */
export class DeadLetterError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DeadLetterError";
  }
}

/** The vhost an AMQP URL names: its path, "/" when it has none. */
export function vhostOf(amqpUrl: string): string {
  const path = new URL(amqpUrl).pathname.slice(1);
  return path === "" ? "/" : decodeURIComponent(path);
}

/** Options of whyUnreachable(). */
export interface UnreachableOptions {
  /** What connecting failed with (amqplib's error). */
  error: unknown;
  /** How long connecting was given, in milliseconds. */
  timeoutMs: number;
}

/** Why connecting to RabbitMQ failed, for someone who has to fix it; the URL's password hidden. */
export function whyUnreachable(amqpUrl: string, options: UnreachableOptions): string {
  const { error, timeoutMs } = options;
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
export function brokerSays(error: unknown): string {
  const message = messageOf(error);
  return /with message "(.*)"/.exec(message)?.[1] ?? message;
}

/** Whether a channel operation failed because what it names does not exist (AMQP 404). */
export function isNotFound(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 404;
}

/** Who a replay connects as, and whom it publishes as (the messages' user_id). */
export interface ReplayUsers {
  connectedAs: string;
  publishingAs: string;
}

/**
 * What RabbitMQ said, with what to do about it when it refused a message's
 * user_id: it accepts only the connection's own user there, unless that
 * user has the `impersonator` tag.
 */
export function explainUserIdRefusal(said: string, users: ReplayUsers): string {
  if (!/user_id property set to/i.test(said)) return said;
  return `RabbitMQ refused to let user "${users.connectedAs}" publish commands as the command ` +
    `service's user "${users.publishingAs}" (${said}); give "${users.connectedAs}" the ` +
    "impersonator tag, or replay with the command service's RabbitMQ user (see the RabbitMQ " +
    "users in docs/operations.md)";
}
