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
  /** Why the message can never be processed: its x-dead-letter-reason. */
  reason: string;
  /** The command, when the message could be read as one: it is recorded as FAILED too. */
  envelope?: CommandEnvelope;
  /** The session's confirm channel, which publishes the dead letter. */
  publishOn: ConfirmChannel;
  /** The channel the message was delivered on, which acknowledges it. */
  deliveredOn: Channel;
  /** Aborted when the partition leaves: give up, leaving the message unacknowledged. */
  abandon: AbortSignal;
  context: Pick<ConsumerContext, "clock" | "log" | "recordFailed">;
}

/**
 * Dead-letters a message: publishes it to the dead-letter exchange with the
 * reason (deadLetterProperties()) and waits for RabbitMQ's confirm, records
 * its command as FAILED, then acknowledges the original. Each step is
 * retried (attempt()); if publishing fails for good, the original stays
 * unacknowledged, so nothing is lost.
 */
export async function deadLetter(message: Message, options: DeadLetterOptions): Promise<void> {
  const { reason, envelope, abandon, context } = options;
  const { log } = context;
  const properties = deadLetterProperties(message, { reason, at: context.clock() });
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
  if (published.kind !== "ok") return;
  if (envelope) {
    const recorded = await attempt(
      `record ${id} as failed`,
      () => context.recordFailed(envelope, reason),
      { abandon, log },
    );
    if (recorded.kind === "failed") {
      log(`cannot record ${id} as failed: ${messageOf(recorded.error)}`);
    }
  }
  if (!acknowledge(options.deliveredOn, message)) return;
  log(`dead-lettered ${id}: ${reason}`);
}
