import type { ChannelModel } from "amqplib";
import { topology } from "@catalog/proto";
import { publishConfirmed } from "@catalog/runtime";

/**
 * Moves commands left in the single commands queue of earlier versions into
 * the partition queues (through the commands exchange, confirmed one by one),
 * then deletes it. Does nothing where it does not exist.
 */
export async function moveLegacyQueue(
  connection: ChannelModel,
  log: (line: string) => void,
): Promise<void> {
  const queue = topology.legacyCommandsQueue;
  const probe = await connection.createChannel();
  probe.on("error", () => {});
  try {
    await probe.checkQueue(queue);
  } catch {
    return; // RabbitMQ closed the probe channel: there is no such queue.
  }
  await probe.close().catch(() => {});
  const channel = await connection.createConfirmChannel();
  try {
    await channel.unbindQueue(queue, topology.commandsExchange, "#");
    let moved = 0;
    while (true) {
      const message = await channel.get(queue, { noAck: false });
      if (message === false) break;
      await publishConfirmed(channel, {
        exchange: topology.commandsExchange,
        routingKey: message.fields.routingKey,
        content: message.content,
        properties: { ...message.properties, persistent: true },
      });
      channel.ack(message);
      moved++;
    }
    // Unbound, it receives nothing more; quorum queues refuse delete's if-empty flag.
    const { messageCount } = await channel.checkQueue(queue);
    if (messageCount > 0) {
      throw new Error(
        `Cannot move the old queue ${queue}: it still holds ${messageCount} commands`,
      );
    }
    await channel.deleteQueue(queue);
    log(`moved ${moved} commands from the old queue ${queue} into the partitions, and deleted it`);
  } finally {
    await channel.close().catch(() => {});
  }
}
