import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import amqp from "amqplib";
import {
  type CommandEnvelope,
  declareTopology,
  encodeCommandMessage,
  headers,
  partitionQueue,
  topology,
} from "@catalog/proto";
import { amqpUserOf } from "@catalog/runtime";
import { TcpProxy } from "@catalog/testkit";
import { commandEnvelope, eventually, withVhost } from "./_testing.ts";
import { type Consumer, type ConsumerOptions, startConsumer } from "./consume/start_consumer.ts";
import type { CommandOutcome } from "./handle_command.ts";

const applied: CommandOutcome = { status: "APPLIED", events: [] };
const nothingToProject = () => Promise.resolve({ events: 0, commands: 0, heldBack: false });
const nothingToRecord = () => Promise.resolve();

/** A consumer of every partition, as a lone worker holding every lease runs it. */
async function consumeAll(
  options:
    & Omit<ConsumerOptions, "recordAccepted" | "recordFailed" | "recordRefused">
    & Partial<ConsumerOptions>,
): Promise<Consumer> {
  const consumer = await startConsumer({
    recordAccepted: nothingToRecord,
    recordFailed: nothingToRecord,
    recordRefused: nothingToRecord,
    ...options,
  });
  for (let partition = 0; partition < topology.partitions; partition++) {
    consumer.consume(partition);
  }
  await eventually("every partition consumed", () => {
    return Promise.resolve(consumer.consuming.size === topology.partitions);
  });
  return consumer;
}

/** The message the command service publishes for an envelope, as the user amqpUrl logs in as. */
function commandMessage(amqpUrl: string, envelope: CommandEnvelope) {
  const { body, properties } = encodeCommandMessage(envelope, "consume-test");
  return { body: Buffer.from(body), properties: { ...properties, userId: amqpUserOf(amqpUrl) } };
}

async function publish(amqpUrl: string, envelope: CommandEnvelope): Promise<void> {
  const connection = await amqp.connect(amqpUrl);
  try {
    const channel = await connection.createConfirmChannel();
    const { body, properties } = commandMessage(amqpUrl, envelope);
    channel.publish(topology.commandsExchange, envelope.type, body, properties);
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
    let commands = 0;
    for (let partition = 0; partition < topology.partitions; partition++) {
      commands += (await channel.checkQueue(partitionQueue(partition))).messageCount;
    }
    const deadLetters = await channel.checkQueue(topology.deadLetterQueue);
    await channel.close();
    return { commands, deadLetters: deadLetters.messageCount };
  } finally {
    await connection.close();
  }
}

Deno.test("startConsumer() retries a passing fault in place, then acknowledges", async () => {
  await withVhost(async (amqpUrl) => {
    const lines: string[] = [];
    const seen: { commandId: string }[] = [];
    const consumer = await consumeAll({
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
    const consumer = await consumeAll({
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
      const line = new RegExp(
        `^dead-lettered ${envelope.commandId} \\(reference [0-9a-f-]{36}\\): `,
      );
      assert.ok(
        lines.some((logged) => line.test(logged) && logged.endsWith(`: ${reason}`)),
        lines.join("\n"),
      );

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

Deno.test("startConsumer() dead-letters at once a command PostgreSQL refuses as data, showing clients only a reference", async () => {
  await withVhost(async (amqpUrl) => {
    const lines: string[] = [];
    const statuses: { commandId: string; message: string }[] = [];
    let calls = 0;
    const pgText = 'invalid byte sequence for encoding "UTF8": 0x00';
    const consumer = await consumeAll({
      amqpUrl,
      prefetch: 4,
      handle() {
        calls += 1;
        return Promise.reject(Object.assign(new Error(pgText), { code: "22021" }));
      },
      project: nothingToProject,
      recordFailed(envelope, message) {
        statuses.push({ commandId: envelope.commandId, message });
        return Promise.resolve();
      },
      log: (line) => lines.push(line),
    });
    try {
      const envelope = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Toys" });
      const started = Date.now();
      await publish(amqpUrl, envelope);
      await eventually("the dead letter", async () => (await queued(amqpUrl)).deadLetters === 1);
      assert.equal(calls, 1, "a data exception is not retried");
      assert.ok(Date.now() - started < 5000);
      assert.ok(lines.every((line) => !line.includes("retry")), lines.join("\n"));

      assert.equal(statuses.length, 1);
      assert.equal(statuses[0]!.commandId, envelope.commandId);
      const shown =
        /^Cannot apply the command: it failed in the worker \(reference ([0-9a-f-]{36})\)$/
          .exec(statuses[0]!.message);
      assert.ok(shown, statuses[0]!.message);
      const reference = shown[1]!;
      assert.ok(!statuses[0]!.message.includes("UTF8"), "no PostgreSQL text for clients");
      const reason = `Cannot handle CreateCategory ${envelope.commandId}: ${pgText}`;
      assert.ok(
        lines.includes(`dead-lettered ${envelope.commandId} (reference ${reference}): ${reason}`),
        lines.join("\n"),
      );

      const connection = await amqp.connect(amqpUrl);
      try {
        const channel = await connection.createChannel();
        const message = await channel.get(topology.deadLetterQueue, { noAck: true });
        assert.ok(message);
        assert.equal(message.properties.headers?.[headers.deadLetterReason], reason);
        assert.equal(message.properties.headers?.[headers.deadLetterReference], reference);
        assert.equal(message.properties.headers?.[headers.originalUserId], amqpUserOf(amqpUrl));
        await channel.close();
      } finally {
        await connection.close();
      }
    } finally {
      await consumer.stop();
    }
  });
});

Deno.test("startConsumer() stops while a passing fault lasts, leaving the command queued", async () => {
  await withVhost(async (amqpUrl) => {
    let calls = 0;
    const consumer = await consumeAll({
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
    const consumer = await consumeAll({
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
        return Promise.resolve(consumer.waitingFor === "the commands in hand");
      });
      assert.ok(await settlesWithin(stopping, 8000), "stop() still waits for RabbitMQ");
      assert.equal(consumer.waitingFor, undefined);
      assert.ok(
        lines.some((line) =>
          /^gave up cancelling partition \d: no answer within 2000 ms$/.test(line)
        ),
        lines.join("\n"),
      );
      assert.ok(
        lines.some((line) =>
          /^releasing partition \d with commands still in hand after 300 ms/.test(line)
        ),
        lines.join("\n"),
      );

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

Deno.test("startConsumer() applies one aggregate's commands in order while it handles partitions at once", async () => {
  await withVhost(async (amqpUrl) => {
    const order = new Map<string, string[]>();
    let active = 0;
    let mostActive = 0;
    const consumer = await consumeAll({
      amqpUrl,
      prefetch: 16,
      concurrency: 4,
      async handle(envelope) {
        active += 1;
        mostActive = Math.max(mostActive, active);
        await new Promise((resolve) => setTimeout(resolve, 2));
        const names = order.get(envelope.aggregateId) ?? [];
        names.push((envelope.payload as { name: string }).name);
        order.set(envelope.aggregateId, names);
        active -= 1;
        return applied;
      },
      project: nothingToProject,
      log: () => {},
    });
    try {
      const aggregates = Array.from({ length: 12 }, () => crypto.randomUUID());
      const connection = await amqp.connect(amqpUrl);
      const channel = await connection.createConfirmChannel();
      for (let step = 0; step < 20; step++) {
        for (const aggregateId of aggregates) {
          const envelope = commandEnvelope("UpdateCategory", aggregateId, {
            id: aggregateId,
            name: `step ${step}`,
          });
          const { body, properties } = commandMessage(amqpUrl, envelope);
          channel.publish(topology.commandsExchange, envelope.type, body, properties);
        }
      }
      await channel.waitForConfirms();
      await connection.close();
      await eventually("every command handled", () => {
        const handled = [...order.values()].reduce((sum, names) => sum + names.length, 0);
        return Promise.resolve(handled === 240);
      });
      const expected = Array.from({ length: 20 }, (_, step) => `step ${step}`);
      for (const aggregateId of aggregates) assert.deepEqual(order.get(aggregateId), expected);
      assert.ok(mostActive > 1, `at most ${mostActive} command(s) were handled at once`);
      assert.ok(mostActive <= 4, `${mostActive} commands were handled at once, above 4`);
    } finally {
      await consumer.stop();
    }
  });
});

Deno.test("startConsumer() records each command's accepted copy once, in batches", async () => {
  await withVhost(async (amqpUrl) => {
    const recorded: string[] = [];
    const consumer = await startConsumer({
      amqpUrl,
      prefetch: 4,
      handle: () => Promise.resolve(applied),
      project: nothingToProject,
      recordAccepted(commands) {
        recorded.push(...commands.map((command) => command.commandId));
        return Promise.resolve();
      },
      recordFailed: nothingToRecord,
      recordRefused: nothingToRecord,
      log: () => {},
    });
    try {
      // No partition is consumed: the accepted copies are recorded all the same.
      const envelopes = Array.from(
        { length: 30 },
        () => commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Toys" }),
      );
      for (const envelope of envelopes) await publish(amqpUrl, envelope);
      await eventually("every accepted copy recorded", () => {
        return Promise.resolve(recorded.length === envelopes.length);
      });
      assert.deepEqual(
        new Set(recorded),
        new Set(envelopes.map((envelope) => envelope.commandId)),
      );
      assert.equal((await queued(amqpUrl)).commands, 30);
    } finally {
      await consumer.stop();
    }
    const connection = await amqp.connect(amqpUrl);
    const channel = await connection.createChannel();
    assert.equal((await channel.checkQueue(topology.acceptedQueue)).messageCount, 0);
    await connection.close();
  });
});

Deno.test("startConsumer() moves commands left in the old single queue into the partitions", async () => {
  await withVhost(async (amqpUrl) => {
    const envelopes = Array.from(
      { length: 3 },
      () => commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Toys" }),
    );
    const connection = await amqp.connect(amqpUrl);
    try {
      const channel = await connection.createConfirmChannel();
      await channel.assertExchange(topology.commandsExchange, "topic", { durable: true });
      await channel.assertQueue(topology.legacyCommandsQueue, {
        durable: true,
        arguments: { "x-queue-type": "quorum" },
      });
      await channel.bindQueue(topology.legacyCommandsQueue, topology.commandsExchange, "#");
      for (const envelope of envelopes) {
        const { body, properties } = commandMessage(amqpUrl, envelope);
        channel.publish(topology.commandsExchange, envelope.type, body, properties);
      }
      await channel.waitForConfirms();
      await channel.close();
    } finally {
      await connection.close();
    }

    const lines: string[] = [];
    const consumer = await startConsumer({
      amqpUrl,
      prefetch: 4,
      handle: () => Promise.resolve(applied),
      project: nothingToProject,
      recordAccepted: nothingToRecord,
      recordFailed: nothingToRecord,
      recordRefused: nothingToRecord,
      log: (line) => lines.push(line),
    });
    try {
      assert.ok(
        lines.includes(
          "moved 3 commands from the old queue catalog.commands into the partitions, and deleted it",
        ),
        lines.join("\n"),
      );
      assert.equal((await queued(amqpUrl)).commands, 3);
    } finally {
      await consumer.stop();
    }
    const check = await amqp.connect(amqpUrl);
    try {
      const channel = await check.createChannel();
      channel.on("error", () => {});
      const gone = await channel.checkQueue(topology.legacyCommandsQueue).then(
        () => false,
        () => true,
      );
      assert.ok(gone, "the old queue still exists");
    } finally {
      await check.close().catch(() => {});
    }
  });
});

Deno.test("startConsumer() finishes the commands delivered to a partition before releasing it", async () => {
  await withVhost(async (amqpUrl) => {
    const handled: string[] = [];
    const consumer = await consumeAll({
      amqpUrl,
      prefetch: 8,
      async handle(envelope) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        handled.push((envelope.payload as { name: string }).name);
        return applied;
      },
      project: nothingToProject,
      log: () => {},
    });
    try {
      const aggregateId = crypto.randomUUID();
      const names = Array.from({ length: 8 }, (_, index) => `step ${index}`);
      const connection = await amqp.connect(amqpUrl);
      const channel = await connection.createConfirmChannel();
      for (const name of names) {
        const envelope = commandEnvelope("UpdateCategory", aggregateId, { id: aggregateId, name });
        const { body, properties } = commandMessage(amqpUrl, envelope);
        channel.publish(topology.commandsExchange, envelope.type, body, properties);
      }
      await channel.waitForConfirms();
      await connection.close();
      await eventually("the first command handled", () => Promise.resolve(handled.length > 0));
      const partitions = [...consumer.consuming];
      await Promise.all(partitions.map((partition) => consumer.release(partition)));
      assert.deepEqual(handled, names, "every delivered command handled, in order");
      assert.equal((await queued(amqpUrl)).commands, 0, "nothing handed back");
    } finally {
      await consumer.stop();
    }
  });
});

Deno.test("startConsumer() handles delivered commands together, and one by one after a failure", async () => {
  await withVhost(async (amqpUrl) => {
    const aggregateId = crypto.randomUUID();
    const names = Array.from({ length: 12 }, (_, step) => step === 5 ? "Poison" : `step ${step}`);
    const envelopes = names.map((name) =>
      commandEnvelope("UpdateCategory", aggregateId, { id: aggregateId, name })
    );
    // Queued before the consumer starts, so they are delivered together.
    const connection = await amqp.connect(amqpUrl);
    await declareTopology(await connection.createChannel());
    await connection.close();
    for (const envelope of envelopes) await publish(amqpUrl, envelope);
    const poisoned = (envelope: CommandEnvelope) =>
      (envelope.payload as { name: string }).name === "Poison";
    const together: string[][] = [];
    const alone: string[] = [];
    const lines: string[] = [];
    const consumer = await consumeAll({
      amqpUrl,
      prefetch: 32,
      handle(envelope) {
        alone.push(envelope.commandId);
        if (poisoned(envelope)) return Promise.reject(new TypeError("Cannot store Poison"));
        return Promise.resolve(applied);
      },
      handleMany(batch) {
        together.push(batch.map((envelope) => envelope.commandId));
        if (batch.some(poisoned)) return Promise.reject(new TypeError("Cannot store Poison"));
        return Promise.resolve(batch.map(() => applied));
      },
      project: nothingToProject,
      log: (line) => lines.push(line),
    });
    try {
      await eventually("the poison dead-lettered and the rest acknowledged", async () => {
        const { commands, deadLetters } = await queued(amqpUrl);
        return commands === 0 && deadLetters === 1;
      });
      const poison = envelopes[5]!.commandId;
      const appliedIds = lines.filter((line) => line.startsWith("applied UpdateCategory"))
        .map((line) => line.split(" ")[2]!.replace("…", ""));
      assert.deepEqual(
        appliedIds,
        envelopes.filter((envelope) => envelope.commandId !== poison)
          .map((envelope) => envelope.commandId.slice(0, 8)),
        "every other command applied once, in order",
      );
      assert.ok(together.some((ids) => ids.length > 1), "no commands were handled together");
      assert.ok(together.some((ids) => ids.length > 1 && ids.includes(poison)));
      assert.equal(alone.filter((id) => id === poison).length, 4, "the poison's retries");
      assert.ok(lines.some((line) => line.includes("handling them one by one")));
    } finally {
      await consumer.stop();
    }
  });
});
