import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import amqp from "amqplib";
import { type CommandEnvelope, encodeCommandMessage, headers, topology } from "@catalog/proto";
import { TcpProxy } from "../dev/tcp_proxy.ts";
import { commandEnvelope, eventually, withVhost } from "./_testing.ts";
import { startConsumer } from "./consume.ts";
import type { CommandOutcome } from "./handle_command.ts";

const applied: CommandOutcome = { status: "APPLIED", events: [] };
const nothingToProject = () => Promise.resolve({ events: 0, commands: 0, heldBack: false });

async function publish(amqpUrl: string, envelope: CommandEnvelope): Promise<void> {
  const connection = await amqp.connect(amqpUrl);
  try {
    const channel = await connection.createConfirmChannel();
    const { body, properties } = encodeCommandMessage(envelope, "consume-test");
    channel.publish(topology.commandsExchange, envelope.type, Buffer.from(body), properties);
    await channel.waitForConfirms();
    await channel.close();
  } finally {
    await connection.close();
  }
}

async function queued(amqpUrl: string): Promise<{ commands: number; deadLetters: number }> {
  const connection = await amqp.connect(amqpUrl);
  try {
    const channel = await connection.createChannel();
    const commands = await channel.checkQueue(topology.commandsQueue);
    const deadLetters = await channel.checkQueue(topology.deadLetterQueue);
    await channel.close();
    return { commands: commands.messageCount, deadLetters: deadLetters.messageCount };
  } finally {
    await connection.close();
  }
}

Deno.test("startConsumer() retries a passing fault in place, then acknowledges", async () => {
  await withVhost(async (amqpUrl) => {
    const lines: string[] = [];
    const seen: { commandId: string }[] = [];
    const consumer = await startConsumer({
      amqpUrl,
      prefetch: 4,
      handle(envelope) {
        seen.push(envelope);
        if (seen.length <= 2) {
          return Promise.reject(Object.assign(new Error("connect ECONNREFUSED"), {
            code: "ECONNREFUSED",
          }));
        }
        return Promise.resolve(applied);
      },
      project: nothingToProject,
      log: (line) => lines.push(line),
    });
    try {
      const envelope = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Toys" });
      await publish(amqpUrl, envelope);
      await eventually("the command applied", () => {
        return Promise.resolve(lines.some((line) => line.startsWith("applied CreateCategory")));
      });
      assert.equal(seen.length, 3);
      assert.ok(seen.every((delivery) => delivery.commandId === envelope.commandId));
      assert.equal(lines.filter((line) => line.includes("yet (connect ECONNREFUSED)")).length, 2);
      assert.deepEqual(await queued(amqpUrl), { commands: 0, deadLetters: 0 });
    } finally {
      await consumer.stop();
    }
  });
});

Deno.test("startConsumer() dead-letters a command that keeps failing, with the error as reason", async () => {
  await withVhost(async (amqpUrl) => {
    const lines: string[] = [];
    let calls = 0;
    const consumer = await startConsumer({
      amqpUrl,
      prefetch: 4,
      handle() {
        calls += 1;
        return Promise.reject(new TypeError("Cannot read properties of undefined"));
      },
      project: nothingToProject,
      log: (line) => lines.push(line),
    });
    try {
      const envelope = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Toys" });
      await publish(amqpUrl, envelope);
      await eventually("the dead letter", async () => (await queued(amqpUrl)).deadLetters === 1);
      assert.equal(calls, 4);
      const reason =
        `Cannot handle CreateCategory ${envelope.commandId}: Cannot read properties of undefined`;
      assert.ok(lines.includes(`dead-lettered ${envelope.commandId}: ${reason}`), lines.join("\n"));

      const connection = await amqp.connect(amqpUrl);
      try {
        const channel = await connection.createChannel();
        const message = await channel.get(topology.deadLetterQueue, { noAck: true });
        assert.ok(message);
        assert.equal(message.properties.headers?.[headers.deadLetterReason], reason);
        assert.equal(message.properties.headers?.[headers.aggregateId], envelope.aggregateId);
        assert.equal(message.properties.messageId, envelope.commandId);
        await channel.close();
      } finally {
        await connection.close();
      }
      assert.equal((await queued(amqpUrl)).commands, 0);
    } finally {
      await consumer.stop();
    }
  });
});

Deno.test("startConsumer() stops while a passing fault lasts, leaving the command queued", async () => {
  await withVhost(async (amqpUrl) => {
    let calls = 0;
    const consumer = await startConsumer({
      amqpUrl,
      prefetch: 4,
      handle() {
        calls += 1;
        return Promise.reject(Object.assign(new Error("terminating connection"), {
          code: "57P01",
        }));
      },
      project: nothingToProject,
      log: () => {},
    });
    let stopped = false;
    try {
      await publish(amqpUrl, commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "A" }));
      await eventually("a first attempt", () => Promise.resolve(calls > 0));
      const started = Date.now();
      await consumer.stop(300);
      stopped = true;
      assert.ok(Date.now() - started < 3000);
      await eventually("the command back in the queue", async () => {
        return (await queued(amqpUrl)).commands === 1;
      });
    } finally {
      if (!stopped) await consumer.stop();
    }
  });
});

/** Whether the promise settles within ms milliseconds; leaves no timer behind. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([promise.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("startConsumer() stops while RabbitMQ does not answer, leaving the command in hand queued", async () => {
  await withVhost(async (amqpUrl) => {
    const { proxy, url } = TcpProxy.inFrontOf(amqpUrl, 5672);
    proxy.open();
    const lines: string[] = [];
    let started!: () => void;
    const handling = new Promise<void>((resolve) => started = resolve);
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => finish = resolve);
    const consumer = await startConsumer({
      amqpUrl: url,
      prefetch: 4,
      async handle() {
        started();
        await finished;
        return applied;
      },
      project: nothingToProject,
      log: (line) => lines.push(line),
    });
    let stopping: Promise<void> | undefined;
    try {
      await publish(amqpUrl, commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "A" }));
      await handling;
      proxy.stalled = true;
      stopping = consumer.stop(300);
      await eventually("stop() to wait for the command in hand", () => {
        return Promise.resolve(consumer.waitingFor === "the command in hand");
      });
      assert.ok(await settlesWithin(stopping, 8000), "stop() still waits for RabbitMQ");
      assert.equal(consumer.waitingFor, undefined);
      assert.ok(lines.includes("gave up cancelling the consumer: no answer within 2000 ms"));
      assert.ok(lines.includes("gave up closing the RabbitMQ channel: no answer within 2000 ms"));
      assert.ok(lines.some((line) => line.startsWith("stopping with a command still in hand")));

      finish();
      await proxy.cut();
      await eventually("the command back in the queue", async () => {
        return (await queued(amqpUrl)).commands === 1;
      });
      assert.ok(!lines.some((line) => line.startsWith("applied")), lines.join("\n"));
    } finally {
      finish();
      await proxy.cut();
      if (!stopping) await consumer.stop();
    }
  });
});
