import type { ConfirmChannel, ConsumeMessage } from "amqplib";
import { type CommandEnvelope, partitionQueue } from "@catalog/proto";
import { messageOf, within } from "../faults.ts";
import { acknowledge } from "./acknowledge.ts";
import { type Attempt, attempt } from "./attempt.ts";
import type { ConsumerContext } from "./consumer_context.ts";
import { deadLetter } from "./dead_letter.ts";
import {
  type Context,
  contextOf,
  endSpan,
  linkTo,
  type Span,
  SpanKind,
  startSpan,
  withContext,
  withLogFields,
} from "@catalog/runtime";
import type { SpanContext } from "@opentelemetry/api";
import type { CommandOutcome } from "../handle_command.ts";
import { commandLabel, outcomeLine } from "./outcome_line.ts";
import { type CommandTrust, readCommand, readCommands } from "./read_command.ts";

/** What a partition needs of the session it belongs to. */
export interface PartitionSession {
  /** The session's confirm channel, which publishes dead letters. */
  readonly channel: ConfirmChannel;
  /** Whether the session's connection or one of its channels has gone. */
  readonly isClosed: boolean;
  /** Closes the session, with why: RabbitMQ closed this partition's channel or cancelled it. */
  shut(why: string): void;
}

/** Options of a PartitionConsumer. */
export interface PartitionConsumerOptions {
  partition: number;
  /** The partition's own channel, on the session's connection. */
  channel: ConfirmChannel;
  session: PartitionSession;
  context: ConsumerContext;
}

/** A handled command waiting to be acknowledged, with what became of it. */
interface Handled {
  message: ConsumeMessage;
  envelope: CommandEnvelope;
  outcome: CommandOutcome;
  /** The command's span, ended once it is acknowledged, and the context it is active in. */
  span: Span;
  context: Context;
}

/** A command's span in the worker, and the context it is active in. */
interface Traced {
  span: Span;
  context: Context;
}

/**
 * One partition queue consumed on its own channel. Its commands are handled
 * one step after the other in arrival order (the chain), each step taking
 * every command delivered meanwhile (handleMany); a step waits for a place
 * among the partitions handled at once (runLimited). A handled command is
 * projected, then acknowledged, while the next step goes on: until then
 * RabbitMQ keeps it, and a worker that dies in between has it delivered
 * again, finds it handled, and projects it.
 */
export class PartitionConsumer {
  readonly partition: number;
  readonly #channel: ConfirmChannel;
  readonly #session: PartitionSession;
  readonly #context: ConsumerContext;
  #consumerTag = "";
  /** Every message of the partition, handled one after the other in arrival order. */
  #chain: Promise<void> = Promise.resolve();
  /** Messages delivered and not yet taken up by the chain. */
  #pending: ConsumeMessage[] = [];
  /** Whether a step of the chain will take up the pending messages. */
  #scheduled = false;
  /** Handled commands waiting for their projection, after which each is acknowledged. */
  readonly #settling = new Set<Promise<void>>();
  /** Set once releasing the partition has begun. */
  #closing = false;
  /** Set when releasing ran out of time: start no new message. */
  #draining = false;
  /** Aborted once the grace period of a release is over, or the session closed: give up the retries in hand. */
  readonly #leaving = new AbortController();
  /** Messages delivered and not yet acknowledged or dead-lettered: the commands in flight. */
  readonly #inHand = new Set<ConsumeMessage>();

  constructor(options: PartitionConsumerOptions) {
    this.partition = options.partition;
    this.#channel = options.channel;
    this.#session = options.session;
    this.#context = options.context;
  }

  /** Starts consuming the partition queue with manual acknowledgements. */
  async start(): Promise<void> {
    const channel = this.#channel;
    channel.on("error", () => {});
    channel.on("close", () => {
      // What was not acknowledged goes back to RabbitMQ with the channel.
      this.#context.metrics.released(this.#inHand.size);
      this.#inHand.clear();
      if (!this.#leaving.signal.aborted) {
        this.#session.shut(`partition ${this.partition}'s channel closed`);
      }
    });
    await channel.prefetch(this.#context.prefetch);
    const { consumerTag } = await channel.consume(partitionQueue(this.partition), (message) => {
      if (message === null) return this.#session.shut("RabbitMQ cancelled a consumer");
      this.#pending.push(message);
      this.#inHand.add(message);
      this.#context.metrics.delivered();
      this.#schedule();
    }, { noAck: false });
    this.#consumerTag = consumerTag;
  }

  /** Gives up the retries in hand: the session has closed, and its messages will come again. */
  abandon(): void {
    this.#leaving.abort();
  }

  /**
   * Takes no more commands, then finishes and acknowledges every command
   * already delivered, in order, for up to graceMs; past it, gives up the
   * rest, which RabbitMQ delivers again once the channel closes. Handing them
   * back at once instead would let RabbitMQ put them behind other returned
   * commands, out of acceptance order. Answers false if releasing had begun
   * already.
   */
  async finish(graceMs: number): Promise<boolean> {
    if (this.#closing) return false;
    this.#closing = true;
    const { brokerCallMs, log } = this.#context;
    const deadline = Date.now() + graceMs;
    if (!this.#session.isClosed && this.#consumerTag) {
      const cancel = this.#channel.cancel(this.#consumerTag);
      if (!(await within(cancel, Math.min(brokerCallMs, graceMs)))) {
        log(`gave up cancelling partition ${this.partition}: no answer within ${brokerCallMs} ms`);
      }
    }
    if (!(await within(this.#idle(), Math.max(0, deadline - Date.now())))) {
      log(
        `releasing partition ${this.partition} with commands still in hand after ${graceMs} ms; ` +
          "RabbitMQ will deliver them again",
      );
    }
    this.#draining = true;
    this.#leaving.abort();
    await within(this.#idle(), 1000);
    return true;
  }

  /** Closes the partition's channel; answers false if RabbitMQ did not answer in time. */
  closeChannel(): Promise<boolean> {
    return within(this.#channel.close(), this.#context.brokerCallMs);
  }

  get #stopped(): boolean {
    return this.#draining || this.#leaving.signal.aborted || this.#session.isClosed;
  }

  /** Has the chain take up the pending messages, in one step per batch. */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#chain = this.#chain
      .then(() =>
        this.#context.runLimited(() => {
          this.#scheduled = false;
          const messages = this.#pending.splice(0, this.#pending.length);
          return this.#processAll(messages);
        })
      )
      .catch((error) => this.#context.log(`cannot process message: ${messageOf(error)}`));
  }

  /** Resolves once every command delivered so far is handled and settled. */
  async #idle(): Promise<void> {
    await this.#chain;
    await Promise.all([...this.#settling]);
  }

  /**
   * Handles the messages in order: unreadable and refused ones are
   * dead-lettered, the commands in one call of handleMany, or, if that fails
   * for a reason other than a passing fault, one at a time, each with its own
   * retries.
   */
  async #processAll(messages: ConsumeMessage[]): Promise<void> {
    const handleMany = this.#context.handleMany;
    if (!handleMany || messages.length === 1) {
      for (const message of messages) await this.#processOne(message);
      return;
    }
    if (this.#stopped) return;
    const { commands, unreadable, refused } = readCommands(messages, this.#trust);
    for (const { message, reason } of unreadable) await this.#deadLetter(message, reason);
    for (const { message, reason, envelope } of refused) {
      await this.#deadLetter(message, reason, { envelope, refused: true });
    }
    if (commands.length === 0) return;
    const what = `${commands.length} commands`;
    // The batch is a trace of its own, linked to each command's; each
    // command's trace goes on in a span of its own, linked to the batch.
    const batch = startSpan(`process ${what}`, {
      kind: SpanKind.CONSUMER,
      parent: contextOf(undefined),
      links: commands.flatMap(({ envelope }) => linkTo(envelope.traceparent) ?? []),
      attributes: {
        ...this.#spanAttributes(),
        "messaging.batch.message_count": commands.length,
      },
    });
    const traced = commands.map(({ envelope }) =>
      this.#commandSpan(envelope, [{ context: batch.span.spanContext() }])
    );
    const endAll = (error?: unknown) => {
      for (const { span } of traced) endSpan(span, error);
      endSpan(batch.span, error);
    };
    const handled = await withContext(batch.context, () =>
      this.#attempt(
        `handle ${what}`,
        () => handleMany(commands.map((command) => command.envelope)),
        0,
      ));
    if (handled.kind === "abandoned") return endAll();
    if (handled.kind === "failed") {
      endAll(handled.error);
      this.#context.log(
        `cannot handle ${what} together: ${messageOf(handled.error)}; handling them one by one`,
      );
      for (const { message } of commands) await this.#processOne(message);
      return;
    }
    withContext(batch.context, () =>
      this.#settleLater(
        what,
        commands.map(({ message, envelope }, index) => ({
          message,
          envelope,
          outcome: handled.value[index]!,
          ...traced[index]!,
        })),
        () => endSpan(batch.span),
      ));
  }

  /** The attributes of the worker's spans of this partition. */
  #spanAttributes(): Record<string, string | number> {
    return {
      "messaging.system": "rabbitmq",
      "messaging.operation.type": "process",
      "messaging.destination.name": partitionQueue(this.partition),
    };
  }

  /** A command's span in the worker, continuing the trace its envelope names. */
  #commandSpan(envelope: CommandEnvelope, links: { context: SpanContext }[] = []): Traced {
    return startSpan(`process ${envelope.type}`, {
      kind: SpanKind.CONSUMER,
      parent: contextOf(envelope.traceparent),
      links,
      attributes: {
        ...this.#spanAttributes(),
        "messaging.message.id": envelope.commandId,
        "catalog.command.type": envelope.type,
      },
    });
  }

  async #processOne(message: ConsumeMessage): Promise<void> {
    if (this.#stopped) return;
    const reading = readCommand(message, this.#trust);
    if (reading.kind === "unreadable") return await this.#deadLetter(message, reading.reason);
    if (reading.kind === "refused") {
      const { reason, envelope } = reading;
      return await this.#deadLetter(message, reason, { envelope, refused: true });
    }
    const { envelope } = reading;
    const command = commandLabel(envelope);
    const traced = this.#commandSpan(envelope);
    const handled = await withContext(
      traced.context,
      () => this.#attempt(`handle ${command}`, () => this.#context.handle(envelope)),
    );
    if (handled.kind === "abandoned") return endSpan(traced.span);
    if (handled.kind === "failed") {
      await withContext(traced.context, () =>
        this.#deadLetter(
          message,
          `Cannot handle ${envelope.type} ${envelope.commandId}: ${messageOf(handled.error)}`,
          { envelope },
        ));
      return endSpan(traced.span, handled.error);
    }
    withContext(
      traced.context,
      () =>
        this.#settleLater(command, [{
          message,
          envelope,
          outcome: handled.value,
          ...traced,
        }]),
    );
  }

  /**
   * Settles handled commands while the partition goes on with the next ones,
   * ending their spans (and calling `after`) once done.
   */
  #settleLater(what: string, handled: Handled[], after?: () => void): void {
    const settling = this.#settle(what, handled)
      .catch((error) => this.#context.log(`cannot settle ${what}: ${messageOf(error)}`))
      .finally(() => {
        for (const { span } of handled) endSpan(span);
        after?.();
      });
    this.#settling.add(settling);
    void settling.finally(() => this.#settling.delete(settling));
  }

  /** Projects, then acknowledges handled commands, saying what became of each. */
  async #settle(what: string, handled: Handled[]): Promise<void> {
    const { log } = this.#context;
    const projected = await this.#attempt(`project after ${what}`, this.#context.project);
    if (projected.kind === "abandoned") return;
    if (projected.kind === "failed") {
      log(
        `cannot project after ${what}: ${
          messageOf(projected.error)
        }; the next projection will catch up`,
      );
    }
    const { metrics } = this.#context;
    for (const { message, envelope, outcome, context } of handled) {
      if (!acknowledge(this.#channel, message)) continue;
      this.#release(message);
      metrics.handled(envelope, outcome);
      // The line carries the command's id and its trace's.
      withContext(
        context,
        () =>
          withLogFields(
            { commandId: envelope.commandId },
            () => log(outcomeLine(envelope, outcome)),
          ),
      );
    }
  }

  /** Whom commands are taken from. */
  get #trust(): CommandTrust {
    return { publisherUser: this.#context.publisherUser };
  }

  /** A message left the worker's hands: no longer in flight. */
  #release(message: ConsumeMessage): void {
    if (this.#inHand.delete(message)) this.#context.metrics.released(1);
  }

  async #deadLetter(
    message: ConsumeMessage,
    reason: string,
    command: { envelope?: CommandEnvelope; refused?: boolean } = {},
  ): Promise<void> {
    const commandId = command.envelope?.commandId ?? message.properties.messageId;
    const acknowledged = await withLogFields({ commandId }, () =>
      deadLetter(message, {
        reason,
        ...command,
        publishOn: this.#session.channel,
        deliveredOn: this.#channel,
        abandon: this.#leaving.signal,
        context: this.#context,
      }));
    if (acknowledged) this.#release(message);
  }

  #attempt<T>(what: string, work: () => Promise<T>, retries?: number): Promise<Attempt<T>> {
    return attempt(what, work, { abandon: this.#leaving.signal, log: this.#context.log, retries });
  }
}
