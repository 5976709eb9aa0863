import type { Channel, ConfirmChannel, Message } from "amqplib";
import { type CommandEnvelope, topology } from "@catalog/proto";
import { publishConfirmed } from "@catalog/runtime";
import { messageOf } from "../faults.ts";
import { acknowledge } from "./acknowledge.ts";
import { attempt } from "./attempt.ts";
import type { ConsumerContext } from "./consumer_context.ts";
import { deadLetterProperties } from "./dead_letter_properties.ts";

/** Options of deadLetter(). */
export interface DeadLetterOptions {
  /** Why the message can never be processed: its x-dead-letter-reason, and the worker's log line. */
  reason: string;
  /** The command, when the message could be read as one: it is recorded as FAILED too. */
  envelope?: CommandEnvelope;
  /**
   * Whether the worker refused the message (refusalOf()) rather than failed
   * to process it: its command id is not vouched for, so its FAILED status
   * is recorded only where the read side knows nothing of that id yet.
   * Default false.
   */
  refused?: boolean;
  /** The session's confirm channel, which publishes the dead letter. */
  publishOn: ConfirmChannel;
  /** The channel the message was delivered on, which acknowledges it. */
  deliveredOn: Channel;
  /** Aborted when the partition leaves: give up, leaving the message unacknowledged. */
  abandon: AbortSignal;
  context: Pick<ConsumerContext, "clock" | "log" | "recordFailed" | "recordRefused" | "metrics">;
}

/**
 * What a FAILED command's status tells clients: that it failed, and a
 * reference to quote, never the reason itself, which may hold PostgreSQL's
 * error text or what a forged message chose to say.
 */
export function failedStatusMessage(reference: string, options: { refused: boolean }): string {
  return options.refused
    ? `Cannot apply the command: the worker refused it (reference ${reference})`
    : `Cannot apply the command: it failed in the worker (reference ${reference})`;
}

/**
 * Dead-letters a message: publishes it to the dead-letter exchange with the
 * reason (deadLetterProperties()) and waits for RabbitMQ's confirm, records
 * its command as FAILED with a client-safe message (failedStatusMessage()),
 * then acknowledges the original and logs the whole reason. The dead letter,
 * the status and the log line share one reference. Each step is retried
 * (attempt()); if publishing fails for good, the original stays
 * unacknowledged, so nothing is lost. Answers whether the original was
 * acknowledged.
 */
export async function deadLetter(message: Message, options: DeadLetterOptions): Promise<boolean> {
  const { reason, envelope, abandon, context } = options;
  const refused = options.refused ?? false;
  const { log } = context;
  const reference = crypto.randomUUID();
  const properties = deadLetterProperties(message, { reason, at: context.clock(), reference });
  const id = message.properties.messageId ?? "(no message id)";
  const published = await attempt(
    `dead-letter ${id}`,
    () =>
      publishConfirmed(options.publishOn, {
        exchange: topology.deadLetterExchange,
        routingKey: message.fields.routingKey,
        content: message.content,
        properties,
      }),
    { abandon, log },
  );
  if (published.kind === "failed") {
    log(`cannot dead-letter ${id}: ${messageOf(published.error)}; leaving it unacknowledged`);
  }
  if (published.kind !== "ok") return false;
  if (envelope) {
    const shown = failedStatusMessage(reference, { refused });
    const record = refused ? context.recordRefused : context.recordFailed;
    const recorded = await attempt(
      `record ${id} as failed`,
      () => record(envelope, shown),
      { abandon, log },
    );
    if (recorded.kind === "failed") {
      log(`cannot record ${id} as failed: ${messageOf(recorded.error)}`);
    }
  }
  if (!acknowledge(options.deliveredOn, message)) return false;
  context.metrics.deadLettered(envelope?.type, refused);
  log(`dead-lettered ${id} (reference ${reference}): ${reason}`);
  return true;
}
