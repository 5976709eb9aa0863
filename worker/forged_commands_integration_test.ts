/**
 * The side door through RabbitMQ: whoever may publish to the commands
 * exchange, but is not the command service's RabbitMQ user, gets nothing
 * applied; nor does a message without message id, or one put straight into a
 * partition queue. Each test makes RabbitMQ users of its own in its vhost
 * (through the management API) and deletes them afterwards.
 */
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
import { managementApi } from "@catalog/dev";
import { amqpUserOf } from "@catalog/runtime";
import { failureOf, type TestVhost } from "@catalog/testkit";
import { commandEnvelope, eventually, type Sql, withDatabases, withVhost } from "./_testing.ts";
import { replayDeadLetters } from "./dlq/replay_dead_letters.ts";
import { startWorker } from "./worker.ts";

/** A RabbitMQ user of a test's own, with the AMQP URL that logs in as it. */
interface TestUser {
  name: string;
  amqpUrl: string;
}

/**
 * Creates a RabbitMQ user that may publish to the commands exchange of the
 * vhost and do nothing else (the permissions docs/operations.md gives the
 * command service), runs fn, and deletes the user.
 */
async function withPublishingUser(
  vhost: TestVhost,
  amqpUrl: string,
  fn: (user: TestUser) => Promise<void>,
): Promise<void> {
  const name = `forger_${crypto.randomUUID().slice(0, 8)}`;
  const password = crypto.randomUUID();
  await managementApi(vhost.managementUrl, "PUT", `/users/${name}`, { password, tags: "" });
  try {
    await managementApi(
      vhost.managementUrl,
      "PUT",
      `/permissions/${encodeURIComponent(vhost.name)}/${name}`,
      { configure: "^$", write: "^catalog\\.commands$", read: "^$" },
    );
    const url = new URL(amqpUrl);
    url.username = name;
    url.password = password;
    await fn({ name, amqpUrl: url.toString() });
  } finally {
    await managementApi(vhost.managementUrl, "DELETE", `/users/${name}`);
  }
}

/**
 * Publishes raw messages on a confirm channel of its own connection, waiting
 * for the confirms; rejects with what RabbitMQ said if it closed the channel.
 */
async function publishAs(
  amqpUrl: string,
  messages: { exchange?: string; routingKey: string; body: Uint8Array; properties: object }[],
): Promise<void> {
  const connection = await amqp.connect(amqpUrl);
  connection.on("error", () => {});
  try {
    const channel = await connection.createConfirmChannel();
    let closedBy: Error | undefined;
    channel.on("error", (error: Error) => closedBy = error);
    for (const { exchange, routingKey, body, properties } of messages) {
      channel.publish(exchange ?? topology.commandsExchange, routingKey, Buffer.from(body), {
        ...properties,
      });
    }
    try {
      await channel.waitForConfirms();
    } catch (error) {
      throw closedBy ?? error;
    }
    if (closedBy) throw closedBy;
    await channel.close();
  } finally {
    await connection.close().catch(() => {});
  }
}

/** The message the command service would publish for envelope, with its properties changed. */
function commandMessage(envelope: CommandEnvelope, properties: Record<string, unknown> = {}) {
  const encoded = encodeCommandMessage(envelope, "catalog-command");
  return {
    routingKey: envelope.type,
    body: encoded.body,
    properties: { ...encoded.properties, ...properties },
  };
}

/** Takes the dead letters that arrive until there are `count`, in queue order. */
async function takeDeadLetters(amqpUrl: string, count: number): Promise<amqp.GetMessage[]> {
  const connection = await amqp.connect(amqpUrl);
  try {
    const channel = await connection.createChannel();
    const taken: amqp.GetMessage[] = [];
    await eventually(`${count} dead letters`, async () => {
      const message = await channel.get(topology.deadLetterQueue, { noAck: true });
      if (message) taken.push(message);
      return taken.length >= count;
    });
    return taken;
  } finally {
    await connection.close();
  }
}

/** What the write database holds of a command id, an aggregate and an idempotency key. */
async function writtenFor(
  write: Sql,
  of: { commandId: string; aggregateId: string; idempotencyKey?: string },
) {
  const [row] = await write`
    select
      (select count(*)::int from commands where command_id = ${of.commandId}) as commands,
      (select count(*)::int from events where aggregate_id = ${of.aggregateId}) as events,
      (select count(*)::int from categories where id = ${of.aggregateId}) as categories,
      (select count(*)::int from idempotency_keys where key = ${of.idempotencyKey ?? ""}) as keys`;
  return row;
}

async function statusOf(read: Sql, commandId: string) {
  const [row] = await read`
    select status, code, message from command_view where command_id = ${commandId}`;
  return row as { status: string; code: string; message: string } | undefined;
}

const refusedMessage =
  /^Cannot apply the command: the worker refused it \(reference [0-9a-f-]{36}\)$/;

Deno.test("startWorker() dead-letters, and never applies, a command published by another RabbitMQ user", async () => {
  await withDatabases(({ writeUrl, readUrl, write, read }) =>
    withVhost(async (amqpUrl, vhost) => {
      const lines: string[] = [];
      const worker = await startWorker(
        {
          writeDatabaseUrl: writeUrl,
          readDatabaseUrl: readUrl,
          amqpUrl,
          prefetch: 8,
          concurrency: 2,
        },
        { log: (line) => lines.push(line) },
      );
      const commandService = amqpUserOf(amqpUrl);
      try {
        await withPublishingUser(vhost, amqpUrl, async (forger) => {
          const forged = commandEnvelope(
            "CreateCategory",
            crypto.randomUUID(),
            { name: "Forged" },
            {
              idempotencyKey: "forged-key",
            },
          );
          const unsigned = commandEnvelope("CreateCategory", crypto.randomUUID(), {
            name: "Unsigned",
          });

          // RabbitMQ itself refuses a user_id that is not the connection's user.
          const impersonating = await failureOf(
            publishAs(forger.amqpUrl, [commandMessage(forged, { userId: commandService })]),
          );
          assert.match(String(impersonating), /user_id property set to/);

          await publishAs(forger.amqpUrl, [
            commandMessage(forged, { userId: forger.name }),
            commandMessage(unsigned),
          ]);
          await eventually("both dead-lettered", async () => {
            return (await statusOf(read, unsigned.commandId)) !== undefined &&
              (await statusOf(read, forged.commandId)) !== undefined;
          });

          // A replay will not pass a refused command off as the command service's.
          const replay = await replayDeadLetters(amqpUrl, { select: "all" });
          assert.deepEqual(replay.replayed, []);
          assert.deepEqual(
            replay.failed.map(({ deadLetter }) => deadLetter.commandId).sort(),
            [
              forged.commandId,
              unsigned.commandId,
            ].sort(),
          );
          assert.equal(replay.remaining, 2);

          const dead = await takeDeadLetters(amqpUrl, 2);
          const byId = new Map(dead.map((message) => [message.properties.messageId, message]));
          const signed = byId.get(forged.commandId);
          assert.ok(signed, "the forged command's dead letter");
          assert.equal(
            signed.properties.headers?.[headers.deadLetterReason],
            `Refused: published by RabbitMQ user "${forger.name}", not by the command service's ` +
              `user "${commandService}"`,
          );
          assert.equal(signed.properties.headers?.[headers.originalUserId], forger.name);
          assert.equal(
            byId.get(unsigned.commandId)?.properties.headers?.[headers.deadLetterReason],
            `Refused: published without a RabbitMQ user_id, not by the command service's user ` +
              `"${commandService}"`,
          );

          for (const envelope of [forged, unsigned]) {
            // Nothing reaches the write database: no event, no command id, no key.
            assert.deepEqual(
              await writtenFor(write, { ...envelope, idempotencyKey: envelope.idempotencyKey }),
              { commands: 0, events: 0, categories: 0, keys: 0 },
            );
            // Only a FAILED status, which says no more than a reference.
            const status = await statusOf(read, envelope.commandId);
            assert.equal(status?.status, "FAILED");
            assert.equal(status?.code, "DEAD_LETTERED");
            assert.match(String(status?.message), refusedMessage);
            assert.ok(!String(status?.message).includes(forger.name));
          }
          assert.ok(
            lines.some((line) =>
              line.startsWith(`dead-lettered ${forged.commandId} (reference `) &&
              line.endsWith(`not by the command service's user "${commandService}"`)
            ),
            lines.join("\n"),
          );

          // The forged command squatted neither its id nor its key: the command
          // service's own command with both is applied.
          await publishAs(amqpUrl, [commandMessage(forged, { userId: commandService })]);
          await eventually("the command service's command applied", async () => {
            return (await statusOf(read, forged.commandId))?.status === "APPLIED";
          });
          assert.deepEqual(await writtenFor(write, { ...forged, idempotencyKey: "forged-key" }), {
            commands: 1,
            events: 1,
            categories: 1,
            keys: 1,
          });
        });
      } finally {
        await worker.stop();
      }
    })
  );
});

Deno.test("startWorker() dead-letters a command without message_id, and one put straight into the wrong partition", async () => {
  await withDatabases(({ writeUrl, readUrl, write, read }) =>
    withVhost(async (amqpUrl) => {
      const commandService = amqpUserOf(amqpUrl);
      const aggregateId = crypto.randomUUID();
      const create = commandEnvelope("CreateCategory", aggregateId, { name: "Toys" });
      const rename = commandEnvelope("UpdateCategory", aggregateId, {
        id: aggregateId,
        name: "Renamed",
      });
      const anonymous = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "No id" });

      // Which partition the commands exchange gives the aggregate, found before any worker runs.
      const connection = await amqp.connect(amqpUrl);
      let home = -1;
      try {
        const channel = await connection.createConfirmChannel();
        await declareTopology(channel);
        const probe = commandMessage(create, { userId: commandService });
        channel.publish(topology.commandsExchange, probe.routingKey, Buffer.from(probe.body), {
          ...probe.properties,
        });
        await channel.waitForConfirms();
        for (let partition = 0; partition < topology.partitions; partition++) {
          const { messageCount } = await channel.checkQueue(partitionQueue(partition));
          if (messageCount === 1) home = partition;
        }
        await channel.close();
      } finally {
        await connection.close();
      }
      assert.ok(home >= 0, "the create landed in no partition");
      const elsewhere = (home + 1) % topology.partitions;

      const lines: string[] = [];
      const worker = await startWorker(
        {
          writeDatabaseUrl: writeUrl,
          readDatabaseUrl: readUrl,
          amqpUrl,
          prefetch: 8,
          concurrency: 2,
        },
        { log: (line) => lines.push(line) },
      );
      try {
        // The create that was waiting in its partition is applied as usual.
        await eventually("the create applied", async () => {
          return (await statusOf(read, create.commandId))?.status === "APPLIED";
        });
        await publishAs(amqpUrl, [
          {
            ...commandMessage(rename, { userId: commandService }),
            exchange: "",
            routingKey: partitionQueue(elsewhere),
          },
          commandMessage(anonymous, { userId: commandService, messageId: undefined }),
        ]);
        const dead = await takeDeadLetters(amqpUrl, 2);
        const reasons = new Map(dead.map((message) => [
          JSON.parse(message.content.toString()).commandId,
          String(message.properties.headers?.[headers.deadLetterReason]),
        ]));
        assert.equal(
          reasons.get(rename.commandId),
          `Refused: it came from the default exchange (routing key "${
            partitionQueue(elsewhere)
          }"), not through catalog.commands, so it may sit in another partition than its ` +
            "aggregate's other commands",
        );
        assert.equal(
          reasons.get(anonymous.commandId),
          "Refused: the message has no message_id, and the command service publishes every " +
            "command with its command id as message_id",
        );

        const [category] =
          await write`select name, version from categories where id = ${aggregateId}`;
        assert.deepEqual(category, { name: "Toys", version: 1 }, "the rename was not applied");
        assert.deepEqual(await writtenFor(write, rename), {
          commands: 0,
          events: 1, // the create's
          categories: 1,
          keys: 0,
        });
        assert.deepEqual(await writtenFor(write, anonymous), {
          commands: 0,
          events: 0,
          categories: 0,
          keys: 0,
        });
        for (const envelope of [rename, anonymous]) {
          assert.match(String((await statusOf(read, envelope.commandId))?.message), refusedMessage);
        }
      } finally {
        await worker.stop();
      }
    })
  );
});

Deno.test("startWorker() told COMMAND_PUBLISHER_USER applies that user's commands and refuses its own user's", async () => {
  await withDatabases(({ writeUrl, readUrl, read }) =>
    withVhost(async (amqpUrl, vhost) => {
      await withPublishingUser(vhost, amqpUrl, async (commandService) => {
        const worker = await startWorker({
          writeDatabaseUrl: writeUrl,
          readDatabaseUrl: readUrl,
          amqpUrl,
          commandPublisherUser: commandService.name,
          prefetch: 8,
          concurrency: 2,
        }, { log: () => {} });
        try {
          const genuine = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Kept" });
          const own = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Own" });
          await publishAs(commandService.amqpUrl, [
            commandMessage(genuine, { userId: commandService.name }),
          ]);
          await publishAs(amqpUrl, [commandMessage(own, { userId: amqpUserOf(amqpUrl) })]);
          await eventually("the command service's command applied", async () => {
            return (await statusOf(read, genuine.commandId))?.status === "APPLIED";
          });
          const [dead] = await takeDeadLetters(amqpUrl, 1);
          assert.equal(
            dead?.properties.headers?.[headers.deadLetterReason],
            `Refused: published by RabbitMQ user "${amqpUserOf(amqpUrl)}", not by the command ` +
              `service's user "${commandService.name}"`,
          );
          assert.equal((await statusOf(read, own.commandId))?.status, "FAILED");
        } finally {
          await worker.stop();
        }
      });
    })
  );
});
