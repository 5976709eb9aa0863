/**
 * A dead-letter tool's one session with RabbitMQ: a connection and a confirm
 * channel on which it takes the dead-letter queue's messages and hands back
 * the ones it keeps.
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
import type { Channel, ChannelModel, ConfirmChannel, GetMessage, Message } from "amqplib";
import { topology } from "@catalog/proto";
import { closeAmqp, connectAmqp } from "@catalog/runtime";
import { sleep, within } from "../faults.ts";
import {
  brokerSays,
  DeadLetterError,
  isNotFound,
  vhostOf,
  whyUnreachable,
} from "./dead_letter_error.ts";

/** How many messages one return command may carry and still keep their order. */
const RETURN_RUN = 32;

/** How long to wait for the queue to show one run of returned messages before going on. */
const RETURN_WAIT_MS = 2000;

/** The channel a tool works on, and what RabbitMQ said on it. */
export interface DeadLetterSession {
  channel: ConfirmChannel;
  /** The reason the channel or connection closed, once it has. */
  closed: string | undefined;
  /** Set when RabbitMQ returns a published message as unroutable; the publisher resets it. */
  returned: boolean;
}

/** Options of withDeadLetterSession(). */
export interface DeadLetterSessionOptions {
  /** What the tool does, for its errors: "list dead letters" gives "Cannot list dead letters: …". */
  action: string;
  /** Name of the connection in the management UI. */
  connectionName: string;
  /** How long to wait for RabbitMQ to accept the connection, and to close it, in milliseconds. */
  timeoutMs: number;
  /** Whether the work needs the commands exchange (a replay does), checked before it starts. */
  toExchange: boolean;
}

/**
 * Opens a connection and a confirm channel, checks that the dead-letter queue
 * (and, if asked, the commands exchange) exists, runs work, and closes the
 * connection whatever happens. Failures become DeadLetterErrors that start
 * with `Cannot <action>: `.
 */
export async function withDeadLetterSession<T>(
  amqpUrl: string,
  options: DeadLetterSessionOptions & { work: (session: DeadLetterSession) => Promise<T> },
): Promise<T> {
  const { action, timeoutMs } = options;
  let connection: ChannelModel;
  try {
    connection = await connectAmqp(amqpUrl, { name: options.connectionName, timeoutMs });
  } catch (error) {
    throw new DeadLetterError(
      `Cannot ${action}: ${whyUnreachable(amqpUrl, { error, timeoutMs })}`,
      {
        cause: error,
      },
    );
  }
  // The failing operation reports the error; without a listener it would be thrown instead.
  connection.on("error", () => {});
  let channel: ConfirmChannel | undefined;
  try {
    channel = await connection.createConfirmChannel();
    const session: DeadLetterSession = { channel, closed: undefined, returned: false };
    channel.on("error", (error: Error) => session.closed ??= brokerSays(error));
    channel.on("close", () => session.closed ??= "the channel closed");
    channel.on("return", () => session.returned = true);
    await checkTopology(channel, {
      action,
      vhost: vhostOf(amqpUrl),
      toExchange: options.toExchange,
    });
    return await options.work(session);
  } catch (error) {
    if (error instanceof DeadLetterError) throw error;
    throw new DeadLetterError(`Cannot ${action}: ${brokerSays(error)}`, { cause: error });
  } finally {
    // The channel first: RabbitMQ 3.10 was seen to forget the acknowledgements
    // of basic.get deliveries (of messages it had dead-lettered itself) when
    // the connection closed right after them, putting replayed messages back.
    if (channel !== undefined) await settled(() => channel!.close(), timeoutMs);
    await closeAmqp(connection, timeoutMs);
  }
}

async function checkTopology(
  channel: Channel,
  options: { action: string; vhost: string; toExchange: boolean },
): Promise<void> {
  const { action, vhost } = options;
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
  if (!options.toExchange) return;
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

/** Runs a closing call, ignoring its failure and giving up waiting after ms. */
async function settled(close: () => Promise<unknown>, ms: number): Promise<void> {
  // amqplib throws at once, rather than rejecting, when the channel is already closed.
  await within(Promise.resolve().then(close), ms);
}

/** Takes every message in the dead-letter queue, in queue order, without acknowledging any. */
export async function takeAll(channel: Channel): Promise<GetMessage[]> {
  const messages: GetMessage[] = [];
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
export async function putBack(channel: Channel, messages: readonly Message[]): Promise<void> {
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
