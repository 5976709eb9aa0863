import type { Channel, Message } from "amqplib";

/** Options of acknowledge(). */
export interface AcknowledgeOptions {
  /** Acknowledge every message delivered on the channel up to this one as well. Default false. */
  allUpTo?: boolean;
}

/**
 * Acknowledges a message on the channel it was delivered on. Answers false,
 * rather than throwing, when that channel is gone: RabbitMQ then delivers the
 * message again, and the worker finds it handled.
 */
export function acknowledge(
  channel: Channel,
  message: Message,
  options: AcknowledgeOptions = {},
): boolean {
  try {
    channel.ack(message, options.allUpTo ?? false);
    return true;
  } catch {
    return false;
  }
}
