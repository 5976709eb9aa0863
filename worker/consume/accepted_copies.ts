import type { ConfirmChannel, Message } from "amqplib";
import { topology } from "@catalog/proto";
import type { AcceptedCommand } from "../command_status.ts";
import { messageOf } from "../faults.ts";
import { acknowledge } from "./acknowledge.ts";
import { AcceptedBatch } from "./accepted_batch.ts";
import { attempt } from "./attempt.ts";
import type { ConsumerContext } from "./consumer_context.ts";
import { acceptedCommandOf } from "./read_command.ts";

/** Options of AcceptedCopies. */
export interface AcceptedCopiesOptions {
  /** The session's confirm channel, which consumes the copies and acknowledges them. */
  channel: ConfirmChannel;
  /** Aborted when the session closes: recording the copies in hand is pointless then. */
  gone: AbortSignal;
  context: Pick<ConsumerContext, "log" | "recordAccepted" | "publisherUser">;
}

interface Copy {
  message: Message;
  /**
   * Undefined for a copy that is no command, or that the worker refuses (not
   * published by the command service): it is acknowledged, not recorded.
   */
  command?: AcceptedCommand;
}

/**
 * The accepted copies of one session: every command the command service
 * publishes also reaches the accepted queue, whose copy makes the command
 * readable as ACCEPTED before any worker handles it. Copies are recorded in
 * batches (AcceptedBatch says when) and acknowledged together once recorded.
 * Unacknowledged copies of a session that closes come back to the next.
 */
export class AcceptedCopies {
  readonly #channel: ConfirmChannel;
  readonly #gone: AbortSignal;
  readonly #context: AcceptedCopiesOptions["context"];
  readonly #batch = new AcceptedBatch<Copy>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Each recording starts after the one before, so acknowledgements go in delivery order. */
  #recording: Promise<void> = Promise.resolve();
  #consumerTag = "";

  constructor(options: AcceptedCopiesOptions) {
    this.#channel = options.channel;
    this.#gone = options.gone;
    this.#context = options.context;
  }

  /** Starts consuming the accepted queue; RabbitMQ cancelling the consumer calls onCancelled. */
  async start(onCancelled: () => void): Promise<void> {
    // As many unacknowledged as one batch holds: a full batch is recorded at once.
    await this.#channel.prefetch(this.#batch.size);
    const { consumerTag } = await this.#channel.consume(topology.acceptedQueue, (message) => {
      if (message === null) return onCancelled();
      this.#take(message);
    }, { noAck: false });
    this.#consumerTag = consumerTag;
  }

  /** Stops taking copies; resolves once RabbitMQ answers. */
  async cancel(): Promise<void> {
    // amqplib throws at once, rather than rejecting, when the channel is closed already.
    await Promise.resolve().then(() => this.#channel.cancel(this.#consumerTag));
  }

  /** Records the copies in hand in one statement, then acknowledges them all. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#recording = this.#recording.then(async () => {
      const batch = this.#batch.take();
      const last = batch.at(-1);
      if (!last) return;
      const commands = batch.flatMap((copy) => copy.command ? [copy.command] : []);
      const recorded = await attempt(
        `record ${commands.length} accepted commands`,
        () => this.#context.recordAccepted(commands),
        { abandon: this.#gone, log: this.#context.log },
      );
      if (recorded.kind === "ok") acknowledge(this.#channel, last.message, { allUpTo: true });
      else if (recorded.kind === "failed") {
        this.#context.log(
          `cannot record accepted commands: ${messageOf(recorded.error)}; leaving them queued`,
        );
      }
    });
    return this.#recording;
  }

  #take(message: Message): void {
    const trust = { publisherUser: this.#context.publisherUser };
    const step = this.#batch.add({ message, command: acceptedCommandOf(message, trust) });
    if (step?.record === "now") void this.flush();
    else if (step) this.#timer = setTimeout(() => void this.flush(), step.ms);
  }
}
