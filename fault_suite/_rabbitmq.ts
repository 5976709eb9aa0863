/** What the fault scenarios watch and check in the sandbox's RabbitMQ. */
import { Buffer } from "node:buffer";
import amqp from "amqplib";
import { declareTopology, headers, topology } from "@catalog/proto";
import { sleep } from "./_load.ts";

/** A command as RabbitMQ routed it. */
export interface ObservedCommand {
  commandId: string;
  type: string;
  aggregateId: string;
  payload: Record<string, unknown>;
  /** When the command service accepted it (the envelope's issuedAt). */
  issuedAt: string;
}

/**
 * A queue of its own bound to the commands exchange with "#": it receives a
 * copy of every command in the order RabbitMQ accepted them, which is the
 * order every partition queue receives them in.
 */
export interface Observer extends AsyncDisposable {
  /** The commands seen so far, in order. */
  readonly seen: readonly ObservedCommand[];
  /** Waits until at least count commands have been seen and answers them; throws after timeoutMs. */
  waitFor(count: number, timeoutMs?: number): Promise<readonly ObservedCommand[]>;
  close(): Promise<void>;
}

/** Starts observing the commands exchange of the vhost amqpUrl names. */
export async function observeCommands(amqpUrl: string): Promise<Observer> {
  const connection = await amqp.connect(amqpUrl, {
    clientProperties: { connection_name: "fault-suite-observer" },
  });
  const seen: ObservedCommand[] = [];
  try {
    const channel = await connection.createChannel();
    await declareTopology(channel);
    const { queue } = await channel.assertQueue("", { exclusive: true, autoDelete: true });
    await channel.bindQueue(queue, topology.commandsExchange, "#");
    await channel.consume(queue, (message) => {
      if (!message) return;
      const envelope = JSON.parse(new TextDecoder().decode(message.content));
      seen.push({
        commandId: envelope.commandId,
        type: envelope.type,
        aggregateId: envelope.aggregateId,
        payload: envelope.payload,
        issuedAt: envelope.issuedAt,
      });
    }, { noAck: true });
  } catch (error) {
    await connection.close().catch(() => {});
    throw error;
  }
  const close = async () => {
    await connection.close().catch(() => {});
  };
  return {
    seen,
    async waitFor(count, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (seen.length < count) {
        if (Date.now() > deadline) {
          throw new Error(
            `Stopped waiting for ${count} commands on the commands exchange: ${seen.length} ` +
              `were seen when the deadline of ${(timeoutMs / 1000).toFixed(0)} s passed`,
          );
        }
        await sleep(50);
      }
      return seen.slice();
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** How many messages a queue of the vhost holds, ready or not. */
export async function queueDepth(amqpUrl: string, queue: string): Promise<number> {
  const connection = await amqp.connect(amqpUrl);
  try {
    const channel = await connection.createChannel();
    return (await channel.checkQueue(queue)).messageCount;
  } finally {
    await connection.close().catch(() => {});
  }
}

/** A dead-lettered command, as an operator sees it. */
export interface DeadLetter {
  commandId: string | undefined;
  reason: string;
}

/**
 * Reads the dead-letter queue without taking anything from it: every message
 * is fetched and handed back when the channel closes.
 */
export async function peekDeadLetters(amqpUrl: string): Promise<DeadLetter[]> {
  const connection = await amqp.connect(amqpUrl);
  try {
    const channel = await connection.createChannel();
    const letters: DeadLetter[] = [];
    while (true) {
      const message = await channel.get(topology.deadLetterQueue, { noAck: false });
      if (message === false) break;
      letters.push({
        commandId: message.properties.messageId,
        reason: String(message.properties.headers?.[headers.deadLetterReason] ?? ""),
      });
    }
    await channel.close();
    return letters;
  } finally {
    await connection.close().catch(() => {});
  }
}

/** A dead-lettered message as it is, to put back later. */
export interface DeadLetterCopy {
  content: Uint8Array;
  properties: amqp.MessageProperties;
}

/**
 * Copies the dead letter of a command without taking it from the queue
 * (every message fetched is handed back when the channel closes).
 */
export async function copyDeadLetter(
  amqpUrl: string,
  commandId: string,
): Promise<DeadLetterCopy | undefined> {
  const connection = await amqp.connect(amqpUrl);
  try {
    const channel = await connection.createChannel();
    let copy: DeadLetterCopy | undefined;
    while (true) {
      const message = await channel.get(topology.deadLetterQueue, { noAck: false });
      if (message === false) break;
      if (message.properties.messageId === commandId) {
        copy = { content: new Uint8Array(message.content), properties: message.properties };
      }
    }
    await channel.close();
    return copy;
  } finally {
    await connection.close().catch(() => {});
  }
}

/**
 * Publishes a copy of a dead letter to the dead-letter exchange again, as
 * at-least-once dead-lettering may do, so the queue holds it once more.
 */
export async function putBackDeadLetter(amqpUrl: string, copy: DeadLetterCopy): Promise<void> {
  const connection = await amqp.connect(amqpUrl);
  try {
    const channel = await connection.createConfirmChannel();
    const { properties } = copy;
    channel.publish(topology.deadLetterExchange, "", Buffer.from(copy.content), {
      persistent: true,
      headers: properties.headers,
      messageId: properties.messageId,
      type: properties.type,
      correlationId: properties.correlationId,
      appId: properties.appId,
      timestamp: properties.timestamp,
      contentType: properties.contentType,
    });
    await channel.waitForConfirms();
    await channel.close();
  } finally {
    await connection.close().catch(() => {});
  }
}
