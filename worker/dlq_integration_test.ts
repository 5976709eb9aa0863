import assert from "node:assert/strict";
import { type DenoRun, failureOf, runDeno } from "@catalog/testkit";
import { Buffer } from "node:buffer";
import amqp from "amqplib";
import {
  type CommandEnvelope,
  declareTopology,
  encodeCommandMessage,
  headers,
  topology,
} from "@catalog/proto";
import { infrastructureFrom } from "@catalog/dev";
import { amqpUserOf } from "@catalog/runtime";
import { commandEnvelope, eventually, withVhost } from "./_testing.ts";
import { DeadLetterError } from "./dlq/dead_letter_error.ts";
import { listDeadLetters } from "./dlq/list_dead_letters.ts";
import type { DeadLetter } from "./dlq/read_dead_letter.ts";
import { replayDeadLetters } from "./dlq/replay_dead_letters.ts";

const DEAD_LETTERED_AT = "2025-06-01T10:00:00.000Z";
const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/**
 * The RabbitMQ user of the tests' connections: the developer's, which the
 * tools take for the command service's user unless told otherwise.
 */
const publisherUser = amqpUserOf(infrastructureFrom(Deno.env.toObject()).amqpUrl);

/** Runs fn against a fresh vhost with the catalog's topology declared, and a confirm channel on it. */
async function withTopology(
  fn: (amqpUrl: string, channel: amqp.ConfirmChannel) => Promise<void>,
): Promise<void> {
  await withVhost(async (amqpUrl) => {
    const connection = await amqp.connect(amqpUrl);
    try {
      const channel = await connection.createConfirmChannel();
      await declareTopology(channel);
      await fn(amqpUrl, channel);
    } finally {
      await connection.close();
    }
  });
}

function createCategory(name = "Toys"): CommandEnvelope {
  return commandEnvelope("CreateCategory", crypto.randomUUID(), { name }, {
    traceparent: TRACEPARENT,
  });
}

function createProduct(): CommandEnvelope {
  return commandEnvelope("CreateProduct", crypto.randomUUID(), {
    name: "Kite",
    price: "19.99",
    categoryId: crypto.randomUUID(),
  });
}

/**
 * Publishes a dead letter as the worker's deadLetter() does: the original
 * message plus the reason, and the user that published the original
 * (default: the command service's).
 */
function publishAsWorker(
  channel: amqp.ConfirmChannel,
  envelope: CommandEnvelope,
  dead: { reason: string; publishedBy?: string },
) {
  const { body, properties } = encodeCommandMessage(envelope, "catalog-command");
  channel.publish(topology.deadLetterExchange, envelope.type, Buffer.from(body), {
    ...properties,
    headers: {
      ...properties.headers,
      [headers.deadLetterReason]: dead.reason,
      [headers.deadLetteredAt]: DEAD_LETTERED_AT,
      [headers.deadLetterReference]: crypto.randomUUID(),
      [headers.originalRoutingKey]: envelope.type,
      [headers.originalUserId]: dead.publishedBy ?? publisherUser,
    },
  });
}

async function deadLetterAsWorker(
  channel: amqp.ConfirmChannel,
  envelope: CommandEnvelope,
  reason: string,
): Promise<void> {
  publishAsWorker(channel, envelope, { reason });
  await channel.waitForConfirms();
}

async function deadLetterCount(channel: amqp.Channel): Promise<number> {
  return (await channel.checkQueue(topology.deadLetterQueue)).messageCount;
}

/** A quorum queue like the commands queue, with a delivery limit of 1, fed by an exchange of its own. */
const LIMITED_EXCHANGE = "dlq_test.commands";
const LIMITED_QUEUE = "dlq_test.delivery-limited";

/**
 * Has RabbitMQ itself dead-letter the command, as it does one that exceeded
 * the commands queue's delivery limit: delivers it until the queue gives up.
 */
async function deadLetterAsRabbitMQ(
  channel: amqp.ConfirmChannel,
  envelope: CommandEnvelope,
): Promise<void> {
  await channel.assertExchange(LIMITED_EXCHANGE, "topic", { durable: true });
  await channel.assertQueue(LIMITED_QUEUE, {
    durable: true,
    arguments: {
      "x-queue-type": "quorum",
      "x-dead-letter-exchange": topology.deadLetterExchange,
      "x-delivery-limit": 1,
    },
  });
  await channel.bindQueue(LIMITED_QUEUE, LIMITED_EXCHANGE, "#");
  const before = await deadLetterCount(channel);
  const { body, properties } = encodeCommandMessage(envelope, "catalog-command");
  // As the command service publishes: RabbitMQ keeps the user_id on what it dead-letters.
  channel.publish(LIMITED_EXCHANGE, envelope.type, Buffer.from(body), {
    ...properties,
    userId: publisherUser,
  });
  await channel.waitForConfirms();
  for (let delivery = 0; delivery < 10; delivery++) {
    const message = await channel.get(LIMITED_QUEUE, { noAck: false });
    if (message === false) break;
    channel.nack(message, false, true);
  }
  await eventually("RabbitMQ's dead letter", async () => {
    return await deadLetterCount(channel) === before + 1;
  });
}

/** A queue that receives a copy of whatever reaches the commands exchange. */
async function observeCommands(channel: amqp.Channel): Promise<string> {
  const { queue } = await channel.assertQueue("", { exclusive: true });
  await channel.bindQueue(queue, topology.commandsExchange, "#");
  return queue;
}

async function drain(channel: amqp.Channel, queue: string): Promise<amqp.GetMessage[]> {
  const messages: amqp.GetMessage[] = [];
  while (true) {
    const message = await channel.get(queue, { noAck: true });
    if (message === false) return messages;
    messages.push(message);
  }
}

function idsOf(deadLetters: readonly { commandId: string | undefined }[]) {
  return deadLetters.map((deadLetter) => deadLetter.commandId);
}

/** The dead letter's fields that do not depend on the clock. */
function withoutTime({ deadLetteredAt: _, ...rest }: DeadLetter) {
  return rest;
}

Deno.test("listDeadLetters() reads what the worker and what RabbitMQ dead-lettered, and leaves both in place", async () => {
  await withTopology(async (amqpUrl, channel) => {
    const unreadable = createCategory();
    const limited = createProduct();
    const failing = createCategory("Garden");
    const reason = "Cannot read CreateCategory payload: ✖ Too small → at name";
    await deadLetterAsWorker(channel, unreadable, reason);
    await deadLetterAsRabbitMQ(channel, limited);
    await deadLetterAsWorker(channel, failing, "Cannot handle CreateCategory: boom");

    const started = Date.now();
    const listed = await listDeadLetters(amqpUrl);
    assert.deepEqual(listed.map(withoutTime), [
      {
        commandId: unreadable.commandId,
        type: "CreateCategory",
        aggregateId: unreadable.aggregateId,
        reason,
        deadLetteredBy: "worker",
        routingKey: "CreateCategory",
      },
      {
        commandId: limited.commandId,
        type: "CreateProduct",
        aggregateId: limited.aggregateId,
        reason: `Exceeded the delivery limit of queue ${LIMITED_QUEUE}`,
        deadLetteredBy: "rabbitmq",
        routingKey: "CreateProduct",
      },
      {
        commandId: failing.commandId,
        type: "CreateCategory",
        aggregateId: failing.aggregateId,
        reason: "Cannot handle CreateCategory: boom",
        deadLetteredBy: "worker",
        routingKey: "CreateCategory",
      },
    ]);
    assert.equal(listed[0]?.deadLetteredAt?.toISOString(), DEAD_LETTERED_AT);
    // RabbitMQ stamps whole seconds.
    const byRabbitMQ = listed[1]?.deadLetteredAt?.getTime() ?? 0;
    assert.ok(Math.abs(byRabbitMQ - started) < 60_000, `${listed[1]?.deadLetteredAt}`);

    assert.equal(await deadLetterCount(channel), 3);
    assert.deepEqual(await listDeadLetters(amqpUrl), listed);
    assert.equal(await deadLetterCount(channel), 3);
  });
});

Deno.test("listDeadLetters() keeps the queue's order past one run of returned messages", async () => {
  await withTopology(async (amqpUrl, channel) => {
    const envelopes = Array.from({ length: 70 }, (_, n) => createCategory(`Category ${n}`));
    for (const envelope of envelopes) {
      publishAsWorker(channel, envelope, { reason: "Cannot read command" });
    }
    await channel.waitForConfirms();
    const published = idsOf(envelopes);

    assert.deepEqual(idsOf(await listDeadLetters(amqpUrl)), published);
    assert.deepEqual(idsOf(await listDeadLetters(amqpUrl)), published);
    assert.equal(await deadLetterCount(channel), 70);
  });
});

Deno.test("listDeadLetters() tells a message that reached no queue from one without any reason", async () => {
  await withTopology(async (amqpUrl, channel) => {
    const unroutable = createProduct();
    await channel.assertExchange("dlq_test.unbound", "topic", {
      durable: false,
      alternateExchange: topology.deadLetterExchange,
    });
    const { body, properties } = encodeCommandMessage(unroutable, "catalog-command");
    channel.publish("dlq_test.unbound", "CreateProduct", Buffer.from(body), properties);
    channel.publish(topology.deadLetterExchange, "", Buffer.from("not json"), {});
    await channel.waitForConfirms();

    assert.deepEqual(await listDeadLetters(amqpUrl), [
      {
        commandId: unroutable.commandId,
        type: "CreateProduct",
        aggregateId: unroutable.aggregateId,
        deadLetteredAt: undefined,
        reason: "Routed to no queue by exchange dlq_test.unbound",
        deadLetteredBy: "rabbitmq",
        routingKey: "CreateProduct",
      },
      {
        commandId: undefined,
        type: undefined,
        aggregateId: undefined,
        deadLetteredAt: undefined,
        reason: "No reason recorded",
        deadLetteredBy: "unknown",
        routingKey: "",
      },
    ]);
  });
});

Deno.test("listDeadLetters() answers an empty list for an empty queue", async () => {
  await withTopology(async (amqpUrl) => {
    assert.deepEqual(await listDeadLetters(amqpUrl), []);
  });
});

Deno.test("replayDeadLetters() sends one chosen dead letter back as it was published, without the dead-letter headers", async () => {
  await withTopology(async (amqpUrl, channel) => {
    const chosen = createCategory();
    const others = [createProduct(), createCategory("Garden")];
    await deadLetterAsWorker(channel, others[0]!, "Cannot read command");
    await deadLetterAsWorker(channel, chosen, "Cannot read command");
    await deadLetterAsRabbitMQ(channel, others[1]!);
    const observer = await observeCommands(channel);

    const report = await replayDeadLetters(amqpUrl, { select: [chosen.commandId] });
    assert.deepEqual(idsOf(report.replayed), [chosen.commandId]);
    assert.deepEqual({ ...report, replayed: [] }, {
      replayed: [],
      failed: [],
      notFound: [],
      remaining: 2,
    });

    const [replayed, ...more] = await drain(channel, observer);
    assert.ok(replayed);
    assert.equal(more.length, 0);
    const original = encodeCommandMessage(chosen, "catalog-command");
    assert.deepEqual(new Uint8Array(replayed.content), original.body);
    assert.equal(replayed.fields.exchange, topology.commandsExchange);
    assert.equal(replayed.fields.routingKey, "CreateCategory");
    const { properties } = replayed;
    assert.equal(properties.messageId, chosen.commandId);
    assert.equal(properties.type, "CreateCategory");
    assert.equal(properties.correlationId, chosen.correlationId);
    assert.equal(properties.appId, "catalog-command");
    assert.equal(properties.userId, publisherUser, "sent as the command service's user");
    assert.equal(properties.timestamp, original.properties.timestamp);
    assert.equal(properties.contentType, "application/json");
    assert.equal(properties.deliveryMode, 2);
    assert.deepEqual(properties.headers, {
      [headers.schemaVersion]: 1,
      [headers.aggregateId]: chosen.aggregateId,
      [headers.actor]: "test",
      [headers.traceparent]: TRACEPARENT,
    });

    assert.deepEqual(idsOf(await listDeadLetters(amqpUrl)), idsOf(others));
  });
});

Deno.test("replayDeadLetters() sends what RabbitMQ dead-lettered back with its routing key, without x-death", async () => {
  await withTopology(async (amqpUrl, channel) => {
    const limited = createProduct();
    await deadLetterAsRabbitMQ(channel, limited);
    const observer = await observeCommands(channel);

    const report = await replayDeadLetters(amqpUrl, { select: [limited.commandId] });
    assert.deepEqual(idsOf(report.replayed), [limited.commandId]);

    const [replayed, ...more] = await drain(channel, observer);
    assert.ok(replayed);
    assert.equal(more.length, 0);
    assert.equal(replayed.fields.routingKey, "CreateProduct");
    assert.equal(replayed.properties.messageId, limited.commandId);
    assert.equal(replayed.properties.type, "CreateProduct");
    assert.deepEqual(replayed.properties.headers, {
      [headers.schemaVersion]: 1,
      [headers.aggregateId]: limited.aggregateId,
      [headers.actor]: "test",
    });
    assert.equal(await deadLetterCount(channel), 0);
  });
});

Deno.test("replayDeadLetters() with all empties the queue, in queue order", async () => {
  await withTopology(async (amqpUrl, channel) => {
    const envelopes = [createCategory(), createProduct(), createCategory("Garden")];
    await deadLetterAsWorker(channel, envelopes[0]!, "Cannot read command");
    await deadLetterAsRabbitMQ(channel, envelopes[1]!);
    await deadLetterAsWorker(channel, envelopes[2]!, "Cannot read command");
    const observer = await observeCommands(channel);

    const report = await replayDeadLetters(amqpUrl, { select: "all" });
    assert.deepEqual(idsOf(report.replayed), idsOf(envelopes));
    assert.equal(report.remaining, 0);
    assert.equal(await deadLetterCount(channel), 0);
    const replayed = await drain(channel, observer);
    assert.deepEqual(replayed.map((message) => message.properties.messageId), idsOf(envelopes));
  });
});

Deno.test("replayDeadLetters() leaves the dead letters it was not asked for in their order", async () => {
  await withTopology(async (amqpUrl, channel) => {
    const envelopes = Array.from({ length: 70 }, (_, n) => createCategory(`Category ${n}`));
    for (const envelope of envelopes) {
      publishAsWorker(channel, envelope, { reason: "Cannot read command" });
    }
    await channel.waitForConfirms();
    const chosen = envelopes.filter((_, n) => n % 7 === 3);

    const report = await replayDeadLetters(amqpUrl, {
      select: chosen.map((envelope) => envelope.commandId),
    });
    assert.deepEqual(idsOf(report.replayed), idsOf(chosen));
    assert.equal(report.remaining, 60);
    const left = envelopes.filter((envelope) => !chosen.includes(envelope));
    assert.deepEqual(idsOf(await listDeadLetters(amqpUrl)), idsOf(left));
  });
});

Deno.test("replayDeadLetters() reports command ids it does not find and replays the others", async () => {
  await withTopology(async (amqpUrl, channel) => {
    const kept = createProduct();
    const chosen = createCategory();
    await deadLetterAsWorker(channel, kept, "Cannot read command");
    await deadLetterAsWorker(channel, chosen, "Cannot read command");
    const unknown = crypto.randomUUID();

    const report = await replayDeadLetters(amqpUrl, { select: [unknown, chosen.commandId] });
    assert.deepEqual(idsOf(report.replayed), [chosen.commandId]);
    assert.deepEqual(report.notFound, [unknown]);
    assert.equal(report.remaining, 1);
    assert.deepEqual(idsOf(await listDeadLetters(amqpUrl)), [kept.commandId]);
  });
});

Deno.test("replayDeadLetters() keeps the dead letters the command service did not publish, saying who did", async () => {
  await withTopology(async (amqpUrl, channel) => {
    const forged = createCategory("Forged");
    const anonymous = createCategory("Anonymous");
    const genuine = createCategory("Genuine");
    publishAsWorker(channel, forged, {
      reason: 'Refused: published by RabbitMQ user "mallory", not by the command service\'s user',
      publishedBy: "mallory",
    });
    // A dead letter without user_id or x-original-user-id, as from before they were recorded.
    const { body, properties } = encodeCommandMessage(anonymous, "catalog-command");
    channel.publish(topology.deadLetterExchange, "CreateCategory", Buffer.from(body), {
      ...properties,
      headers: { ...properties.headers, [headers.deadLetterReason]: "Cannot read command" },
    });
    publishAsWorker(channel, genuine, { reason: "Cannot handle CreateCategory: boom" });
    await channel.waitForConfirms();
    const observer = await observeCommands(channel);

    const report = await replayDeadLetters(amqpUrl, { select: "all" });
    assert.deepEqual(idsOf(report.replayed), [genuine.commandId]);
    assert.deepEqual(report.failed.map(({ deadLetter, why }) => [deadLetter.commandId, why]), [
      [
        forged.commandId,
        `it was published by RabbitMQ user "mallory", not by the command service's user "${publisherUser}"`,
      ],
      [
        anonymous.commandId,
        "it does not say which RabbitMQ user published it, and only what the command " +
        `service's user "${publisherUser}" published is replayed`,
      ],
    ]);
    assert.equal(report.remaining, 2);
    const replayed = await drain(channel, observer);
    assert.deepEqual(replayed.map((message) => message.properties.messageId), [genuine.commandId]);
    assert.deepEqual(idsOf(await listDeadLetters(amqpUrl)), [
      forged.commandId,
      anonymous.commandId,
    ]);
  });
});

Deno.test("replayDeadLetters() says how to let it publish as a command service user other than its own", async () => {
  await withTopology(async (amqpUrl, channel) => {
    const envelope = createCategory();
    publishAsWorker(channel, envelope, {
      reason: "Cannot handle CreateCategory: boom",
      publishedBy: "catalog-command",
    });
    await channel.waitForConfirms();

    // The tests' user has no impersonator tag, so RabbitMQ refuses another user_id.
    const refused = await failureOf(
      replayDeadLetters(amqpUrl, { select: "all", publisherUser: "catalog-command" }),
    );
    assert.ok(refused instanceof DeadLetterError, String(refused));
    assert.match(
      refused.message,
      new RegExp(
        `^Cannot replay dead letters: RabbitMQ refused to let user "${publisherUser}" publish ` +
          `commands as the command service's user "catalog-command" \\(.*user_id property ` +
          `set to 'catalog-command'.*\\); give "${publisherUser}" the impersonator tag, or ` +
          "replay with the command service's RabbitMQ user",
      ),
    );
    assert.match(refused.message, /it and the rest stay in catalog\.commands\.dead-letter$/);
    await eventually("the dead letter back in its queue", async () => {
      return await deadLetterCount(channel) === 1;
    });
  });
});

Deno.test("replayDeadLetters() keeps a dead letter that the commands exchange routes nowhere", async () => {
  await withTopology(async (amqpUrl, channel) => {
    const envelope = createCategory();
    await deadLetterAsWorker(channel, envelope, "Cannot read command");
    // The commands exchange as declared, but bound to nothing.
    await channel.deleteExchange(topology.commandsExchange);
    await channel.assertExchange(topology.commandsExchange, "topic", { durable: true });

    const report = await replayDeadLetters(amqpUrl, { select: "all" });
    assert.deepEqual(report.replayed, []);
    assert.deepEqual(report.failed.map(({ deadLetter, why }) => [deadLetter.commandId, why]), [
      [envelope.commandId, `${topology.commandsExchange} routes CreateCategory to no queue`],
    ]);
    assert.equal(report.remaining, 1);
    assert.deepEqual(idsOf(await listDeadLetters(amqpUrl)), [envelope.commandId]);
  });
});

Deno.test("listDeadLetters() and replayDeadLetters() say which part of the topology is missing", async () => {
  await withVhost(async (amqpUrl, vhost) => {
    const listing = await failureOf(listDeadLetters(amqpUrl));
    assert.ok(listing instanceof DeadLetterError, String(listing));
    assert.equal(
      listing.message,
      `Cannot list dead letters: queue ${topology.deadLetterQueue} does not exist in vhost ` +
        `"${vhost.name}" (the worker declares it when it starts)`,
    );

    const connection = await amqp.connect(amqpUrl);
    try {
      const channel = await connection.createChannel();
      await channel.assertQueue(topology.deadLetterQueue, {
        durable: true,
        arguments: { "x-queue-type": "quorum" },
      });
    } finally {
      await connection.close();
    }
    const replaying = await failureOf(replayDeadLetters(amqpUrl, { select: "all" }));
    assert.ok(replaying instanceof DeadLetterError, String(replaying));
    assert.match(replaying.message, /^Cannot replay dead letters: exchange catalog\.commands does/);
  });
});

/** Runs worker/dlq_main.ts as `deno task dlq:<tool>` does. */
function runTool(amqpUrl: string, args: string[]): Promise<DenoRun> {
  const script = ["run", "--allow-net", "--allow-env", "--allow-read", "--allow-sys"];
  return runDeno([...script, "worker/dlq_main.ts", ...args], { AMQP_URL: amqpUrl });
}

Deno.test("deno task dlq:list and dlq:replay print what they find and do", async () => {
  await withTopology(async (amqpUrl, channel) => {
    const unreadable = createCategory();
    const limited = createProduct();
    await deadLetterAsWorker(channel, unreadable, "Cannot read command: body is not JSON");
    await deadLetterAsRabbitMQ(channel, limited);

    const listing = await runTool(amqpUrl, ["list"]);
    assert.equal(listing.code, 0, listing.stderr);
    const lines = listing.stdout.trimEnd().split("\n");
    assert.equal(lines.length, 3, listing.stdout);
    assert.equal(
      lines[0],
      `${unreadable.commandId}  CreateCategory  aggregate ${unreadable.aggregateId}  ` +
        `${DEAD_LETTERED_AT}  Cannot read command: body is not JSON`,
    );
    assert.match(
      lines[1]!,
      new RegExp(
        `^${limited.commandId}  CreateProduct  aggregate ${limited.aggregateId}  ` +
          `\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.000Z  ` +
          `Exceeded the delivery limit of queue dlq_test\\.delivery-limited$`,
      ),
    );
    assert.equal(lines[2], `2 dead letters in ${topology.deadLetterQueue}`);
    assert.equal((await runTool(amqpUrl, ["list"])).stdout, listing.stdout);

    const unknown = crypto.randomUUID();
    const some = await runTool(amqpUrl, ["replay", "--", unreadable.commandId, unknown]);
    assert.equal(some.code, 1, some.stderr);
    assert.equal(
      some.stdout,
      `replayed ${unreadable.commandId}  CreateCategory  aggregate ${unreadable.aggregateId}  ` +
        `to ${topology.commandsExchange} as CreateCategory\n` +
        `replayed 1 dead letter to ${topology.commandsExchange}; ` +
        `1 stays in ${topology.deadLetterQueue}\n`,
    );
    assert.equal(some.stderr, `Cannot replay ${unknown}: no dead letter has that command id\n`);

    const all = await runTool(amqpUrl, ["replay", "--", "--all"]);
    assert.equal(all.code, 0, all.stderr);
    assert.match(
      all.stdout,
      new RegExp(`^replayed ${limited.commandId} .* to catalog\\.commands as CreateProduct\\n`),
    );
    assert.match(all.stdout, /\nreplayed 1 dead letter to catalog\.commands; 0 stay in /);

    const empty = await runTool(amqpUrl, ["list"]);
    assert.equal(empty.stdout, `0 dead letters in ${topology.deadLetterQueue}\n`);
  });
});
