import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import amqp from "amqplib";
import { encodeCommandMessage, headers, partitionQueue, topology } from "@catalog/proto";
import { infrastructureFrom, managementApi } from "@catalog/dev";
import { amqpUserOf } from "@catalog/runtime";
import type { TestVhost } from "@catalog/testkit";
import { commandEnvelope, eventually, type Sql, withDatabases, withVhost } from "./_testing.ts";
import { startWorker, type Worker } from "./worker.ts";

async function withPublisher(
  amqpUrl: string,
  fn: (channel: amqp.ConfirmChannel) => Promise<void>,
): Promise<void> {
  const connection = await amqp.connect(amqpUrl);
  try {
    const channel = await connection.createConfirmChannel();
    await fn(channel);
    await channel.close();
  } finally {
    await connection.close();
  }
}

/**
 * The RabbitMQ user the tests publish as: the developer's, which is also the
 * worker's own and so, by default, the one it takes commands from.
 */
const publisherUser = amqpUserOf(infrastructureFrom(Deno.env.toObject()).amqpUrl);

function publishCommand(
  channel: amqp.ConfirmChannel,
  envelope: ReturnType<typeof commandEnvelope>,
) {
  const { body, properties } = encodeCommandMessage(envelope, "worker-test");
  channel.publish(topology.commandsExchange, envelope.type, Buffer.from(body), {
    ...properties,
    userId: publisherUser,
  });
}

async function statusOf(read: Sql, commandId: string): Promise<string | undefined> {
  const [row] = await read`select status from command_view where command_id = ${commandId}`;
  return row?.status;
}

/** Runs fn against a worker started on fresh databases and a fresh vhost, then stops it. */
function withWorker(
  fn: (context: {
    worker: Worker;
    lines: string[];
    amqpUrl: string;
    vhost: TestVhost;
    read: Sql;
    write: Sql;
    stop(): Promise<void>;
    start(): Promise<void>;
  }) => Promise<void>,
): Promise<void> {
  return withDatabases(({ writeUrl, readUrl, read, write }) =>
    withVhost(async (amqpUrl, vhost) => {
      const lines: string[] = [];
      const config = {
        writeDatabaseUrl: writeUrl,
        readDatabaseUrl: readUrl,
        amqpUrl,
        prefetch: 8,
        concurrency: 2,
      };
      const log = (line: string) => lines.push(line);
      let worker = await startWorker(config, { log });
      let running = true;
      try {
        await fn({
          get worker() {
            return worker;
          },
          lines,
          amqpUrl,
          vhost,
          read,
          write,
          async stop() {
            await worker.stop();
            running = false;
          },
          async start() {
            worker = await startWorker(config, { log });
            running = true;
          },
        });
      } finally {
        if (running) await worker.stop();
      }
    })
  );
}

Deno.test("startWorker() dead-letters a malformed message with its reason and applies the next command", async () => {
  await withWorker(async ({ lines, amqpUrl, read }) => {
    assert.equal(lines.filter((line) => line.includes("Worker ready")).length, 1);
    const valid = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Toys" });
    const mislabelled = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Games" });
    await withPublisher(amqpUrl, async (channel) => {
      channel.publish(topology.commandsExchange, "CreateCategory", Buffer.from("{not json"), {
        messageId: "malformed-1",
        userId: publisherUser,
        type: "CreateCategory",
        correlationId: "correlation-1",
        appId: "worker-test",
        timestamp: 1_735_689_600,
        contentType: "application/json",
        headers: { [headers.actor]: "tester", [headers.aggregateId]: crypto.randomUUID() },
        persistent: true,
      });
      const { body, properties } = encodeCommandMessage(mislabelled, "worker-test");
      channel.publish(topology.commandsExchange, "CreateCategory", Buffer.from(body), {
        ...properties,
        userId: publisherUser,
        messageId: "not-the-command-id",
      });
      publishCommand(channel, valid);
      publishCommand(channel, valid);
      await channel.waitForConfirms();
    });

    await eventually("the valid command applied", async () => {
      return await statusOf(read, valid.commandId) === "APPLIED";
    });
    await eventually("the duplicate skipped", () => {
      return Promise.resolve(lines.some((line) => line.startsWith("skipped CreateCategory")));
    });
    assert.equal(await statusOf(read, mislabelled.commandId), undefined);
    const [counts] = await read`select count(*)::int as count from category_view`;
    assert.equal(counts?.count, 1);

    const dead: amqp.GetMessage[] = [];
    await withPublisher(amqpUrl, async (channel) => {
      await eventually("two dead letters", async () => {
        const message = await channel.get(topology.deadLetterQueue, { noAck: true });
        if (message) dead.push(message);
        return dead.length === 2;
      });
    });
    const [malformed, mismatched] = dead;
    assert.equal(new TextDecoder().decode(malformed?.content), "{not json");
    assert.equal(malformed?.properties.messageId, "malformed-1");
    assert.equal(malformed?.properties.type, "CreateCategory");
    assert.equal(malformed?.properties.correlationId, "correlation-1");
    assert.equal(malformed?.properties.appId, "worker-test");
    assert.equal(malformed?.properties.timestamp, 1_735_689_600);
    assert.equal(malformed?.properties.contentType, "application/json");
    assert.equal(malformed?.properties.deliveryMode, 2);
    const malformedHeaders = malformed?.properties.headers ?? {};
    assert.equal(
      malformedHeaders[headers.deadLetterReason],
      "Cannot read command: body is not JSON",
    );
    assert.equal(malformedHeaders[headers.originalRoutingKey], "CreateCategory");
    assert.equal(malformedHeaders[headers.actor], "tester");
    assert.ok(!Number.isNaN(Date.parse(String(malformedHeaders[headers.deadLetteredAt]))));
    assert.match(
      String(mismatched?.properties.headers?.[headers.deadLetterReason]),
      /^Cannot read command: message_id "not-the-command-id" differs from commandId/,
    );

    assert.ok(
      lines.some((line) =>
        /^dead-lettered malformed-1 \(reference [0-9a-f-]{36}\): Cannot read command: body is not JSON$/
          .test(line)
      ),
      lines.join("\n"),
    );
    assert.ok(
      lines.some((line) =>
        line ===
          `applied CreateCategory ${valid.commandId.slice(0, 8)}… (category ${
            valid.aggregateId.slice(0, 8)
          }…)`
      ),
      lines.join("\n"),
    );
  });
});

Deno.test("startWorker() reconnects after losing RabbitMQ, and applies commands queued while stopped", async () => {
  await withWorker(async ({ lines, amqpUrl, vhost, read, stop, start }) => {
    const connections = async () =>
      (await managementApi(
        vhost.managementUrl,
        "GET",
        `/vhosts/${encodeURIComponent(vhost.name)}/connections`,
      )) as {
        name: string;
        client_properties?: { connection_name?: string };
      }[];
    let names: string[] = [];
    await eventually("the worker's connection in the management API", async () => {
      const found = await connections();
      names = found.map((connection) => connection.name);
      return found.some((connection) =>
        connection.client_properties?.connection_name === "catalog-worker"
      );
    });
    for (const name of names) {
      await managementApi(
        vhost.managementUrl,
        "DELETE",
        `/connections/${encodeURIComponent(name)}`,
      );
    }
    await eventually("the worker to reconnect", () => {
      return Promise.resolve(lines.some((line) => line.startsWith("reconnected to RabbitMQ")));
    });

    const afterReconnect = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "A" });
    await withPublisher(amqpUrl, async (channel) => {
      publishCommand(channel, afterReconnect);
      await channel.waitForConfirms();
    });
    await eventually("the command after the reconnect", async () => {
      return await statusOf(read, afterReconnect.commandId) === "APPLIED";
    });

    const queued = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "a" });
    await stop();
    assert.ok(lines.includes("Worker stopped"));
    await withPublisher(amqpUrl, async (channel) => {
      publishCommand(channel, queued);
      await channel.waitForConfirms();
      let waiting = 0;
      for (let partition = 0; partition < topology.partitions; partition++) {
        waiting += (await channel.checkQueue(partitionQueue(partition))).messageCount;
      }
      assert.equal(waiting, 1);
    });
    await start();
    assert.equal(lines.filter((line) => line.includes("Worker ready")).length, 2);
    await eventually("the command queued across the restart", async () => {
      return await statusOf(read, queued.commandId) === "REJECTED";
    });
    const [row] = await read`select code from command_view where command_id = ${queued.commandId}`;
    assert.equal(row?.code, "CATEGORY_NAME_TAKEN");
  });
});

Deno.test("startWorker() shares the partitions with a second worker and takes them all back when it stops", async () => {
  await withDatabases(({ writeUrl, readUrl, read }) =>
    withVhost(async (amqpUrl) => {
      const config = {
        writeDatabaseUrl: writeUrl,
        readDatabaseUrl: readUrl,
        amqpUrl,
        prefetch: 8,
        concurrency: 2,
      };
      const log = () => {};
      const first = await startWorker(config, { log, rebalanceMs: 100 });
      const second = await startWorker(config, { log, rebalanceMs: 100 });
      let secondRunning = true;
      try {
        await eventually("4 partitions each", () => {
          return Promise.resolve(first.partitions.size === 4 && second.partitions.size === 4);
        });
        const both = [...first.partitions, ...second.partitions].sort();
        assert.deepEqual(both, [0, 1, 2, 3, 4, 5, 6, 7]);

        const envelopes = Array.from(
          { length: 40 },
          (_, index) =>
            commandEnvelope("CreateCategory", crypto.randomUUID(), { name: `C${index}` }),
        );
        await withPublisher(amqpUrl, async (channel) => {
          for (const envelope of envelopes) publishCommand(channel, envelope);
          await channel.waitForConfirms();
        });
        await eventually("every command applied", async () => {
          const [row] = await read`
            select count(*)::int as count from command_view where status = 'APPLIED'`;
          return row?.count === envelopes.length;
        });

        await second.stop();
        secondRunning = false;
        await eventually("the first worker consuming all 8", () => {
          return Promise.resolve(first.partitions.size === 8);
        });
      } finally {
        if (secondRunning) await second.stop();
        await first.stop();
      }
    })
  );
});

Deno.test("startWorker() dead-letters a command whose x-aggregate-id header is missing or names another aggregate", async () => {
  await withWorker(async ({ amqpUrl, read }) => {
    const headless = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Headless" });
    const misrouted = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Misrouted" });
    const other = crypto.randomUUID();
    await withPublisher(amqpUrl, async (channel) => {
      for (
        const [envelope, aggregateHeader] of [[headless, undefined], [misrouted, other]] as const
      ) {
        const { body, properties } = encodeCommandMessage(envelope, "worker-test");
        const { [headers.aggregateId]: _, ...rest } = properties.headers ?? {};
        channel.publish(topology.commandsExchange, envelope.type, Buffer.from(body), {
          ...properties,
          userId: publisherUser,
          headers: aggregateHeader ? { ...rest, [headers.aggregateId]: aggregateHeader } : rest,
        });
      }
      await channel.waitForConfirms();
    });
    const reasons: string[] = [];
    await withPublisher(amqpUrl, async (channel) => {
      await eventually("two dead letters", async () => {
        const message = await channel.get(topology.deadLetterQueue, { noAck: true });
        if (message) reasons.push(String(message.properties.headers?.[headers.deadLetterReason]));
        return reasons.length === 2;
      });
    });
    assert.deepEqual(
      reasons.sort(),
      [
        "Cannot read CreateCategory: the message has no x-aggregate-id header",
        `Cannot read CreateCategory: x-aggregate-id "${other}" differs from aggregateId "${misrouted.aggregateId}"`,
      ].sort(),
    );
    assert.equal(await statusOf(read, headless.commandId), undefined);
    const [row] = await read`select count(*)::int as count from category_view`;
    assert.equal(row?.count, 0);
  });
});

Deno.test("startWorker() gives up at once on a command PostgreSQL refuses as data, and shows clients no PostgreSQL text", async () => {
  await withWorker(async ({ lines, amqpUrl, read, write }) => {
    // PostgreSQL refuses the row as data, as it refuses text it cannot store.
    await write.unsafe(`
      create function refuse_as_data() returns trigger language plpgsql as $$
      begin
        if new.name = 'Refused' then
          raise exception 'invalid byte sequence for encoding "UTF8": 0x00'
            using errcode = 'character_not_in_repertoire';
        end if;
        return new;
      end $$;
      create trigger refuse_as_data before insert on categories
        for each row execute function refuse_as_data();`);
    const refused = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Refused" });
    const after = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "After" });
    await withPublisher(amqpUrl, async (channel) => {
      publishCommand(channel, refused);
      publishCommand(channel, after);
      await channel.waitForConfirms();
    });
    await eventually("the refused command FAILED", async () => {
      return await statusOf(read, refused.commandId) === "FAILED";
    });
    await eventually("the next command applied", async () => {
      return await statusOf(read, after.commandId) === "APPLIED";
    });

    const [status] = await read`
      select code, message from command_view where command_id = ${refused.commandId}`;
    assert.equal(status?.code, "DEAD_LETTERED");
    const shown =
      /^Cannot apply the command: it failed in the worker \(reference ([0-9a-f-]{36})\)$/
        .exec(String(status?.message));
    assert.ok(shown, String(status?.message));
    const reference = shown[1]!;

    const label = `CreateCategory ${refused.commandId.slice(0, 8)}…`;
    assert.ok(
      lines.every((line) => !line.startsWith(`cannot handle ${label}`)),
      `no retry: ${lines.join("\n")}`,
    );
    const logged = lines.find((line) => line.includes(`(reference ${reference})`));
    assert.match(String(logged), /^dead-lettered .*: Cannot handle CreateCategory .*0x00/);

    await withPublisher(amqpUrl, async (channel) => {
      let message: amqp.GetMessage | false = false;
      await eventually("the dead letter", async () => {
        message = await channel.get(topology.deadLetterQueue, { noAck: true });
        return message !== false;
      });
      const got = message as unknown as amqp.GetMessage;
      assert.equal(got.properties.messageId, refused.commandId);
      assert.match(
        String(got.properties.headers?.[headers.deadLetterReason]),
        /invalid byte sequence for encoding "UTF8": 0x00$/,
      );
      assert.equal(got.properties.headers?.[headers.deadLetterReference], reference);
    });
    const [handled] = await write`
      select count(*)::int as count from commands where command_id = ${refused.commandId}`;
    assert.equal(handled?.count, 0);
  });
});
