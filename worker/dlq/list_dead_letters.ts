import { type DeadLetter, readDeadLetter } from "./read_dead_letter.ts";
import { putBack, takeAll, withDeadLetterSession } from "./dead_letter_session.ts";

/** Options of listDeadLetters(). */
export interface ListOptions {
  /** Name of the connection in the management UI. Default "catalog-dlq-list". */
  connectionName?: string;
  /** How long to wait for RabbitMQ to accept the connection, in milliseconds. Default 10000. */
  timeoutMs?: number;
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
  return await withDeadLetterSession(amqpUrl, {
    action: "list dead letters",
    connectionName: options.connectionName ?? "catalog-dlq-list",
    timeoutMs: options.timeoutMs ?? 10_000,
    toExchange: false,
    async work({ channel }) {
      const messages = await takeAll(channel);
      await putBack(channel, messages);
      return messages.map(readDeadLetter);
    },
  });
}
