import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import amqp from "amqplib";
import postgres from "postgres";
import { headers, partitionQueue, topology } from "@catalog/proto";
import { amqpUserOf } from "@catalog/runtime";
import { eventually, withSystem } from "@catalog/testkit";

async function withChannel<T>(url: string, fn: (channel: amqp.Channel) => Promise<T>): Promise<T> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    return await fn(channel);
  } finally {
    await connection.close();
  }
}

Deno.test("faults lose nothing and duplicate nothing", async (t) => {
  await withSystem(async ({ stack, sandbox, gql, data }) => {
    const amqpUrl = sandbox.env.AMQP_URL;
    const queued = () =>
      withChannel(amqpUrl, async (channel) => {
        let messages = 0;
        for (let partition = 0; partition < topology.partitions; partition++) {
          messages += (await channel.checkQueue(partitionQueue(partition))).messageCount;
        }
        return messages;
      });

    await t.step("an invalid command leaves the commands queue untouched", async () => {
      await stack.stop("worker");
      const invalid = await gql('mutation { createCategory(input: { name: "" }) { id } }');
      assert.equal(invalid.errors?.[0]?.extensions?.code, "INVALID_ARGUMENT");
      assert.equal(await queued(), 0);
      const valid = await gql('mutation { createCategory(input: { name: "Queued" }) { id } }');
      assert.equal(valid.errors?.[0]?.extensions?.code, "COMMAND_PENDING");
      assert.equal(await queued(), 1);
    });

    await t.step(
      "mutations while the worker is down are COMMAND_PENDING, then applied once",
      async () => {
        const names = ["Alpha", "Beta", "Gamma", "Delta", "Epsilon"];
        const pending = [];
        for (const name of names) {
          const result = await gql(
            "mutation ($name: String!, $key: String!) { createCategory(input: { name: $name }, idempotencyKey: $key) { id } }",
            { name, key: `pending-${name}` },
          );
          const error = result.errors?.[0];
          assert.equal(error?.extensions?.code, "COMMAND_PENDING");
          assert.match(error?.message ?? "", /not applied yet/);
          pending.push(String(error?.extensions?.commandId));
        }
        const retry = await gql(
          'mutation { createCategory(input: { name: "Alpha" }, idempotencyKey: "pending-Alpha") { id } }',
        );
        assert.equal(retry.errors?.[0]?.extensions?.commandId, pending[0]);
        const before = await data<{ command: { status: string } | null }>(
          "query ($id: ID!) { command(id: $id) { status } }",
          { id: pending[0] },
        );
        assert.equal(before.command, null, "a queued command has no outcome yet");

        await stack.start("worker");
        for (const id of pending) {
          await eventually(`command ${id} applied`, async () => {
            const read = await data<{ command: { status: string } | null }>(
              "query ($id: ID!) { command(id: $id) { status } }",
              { id },
            );
            return read.command?.status === "APPLIED";
          });
        }
        const read = await data<{ categories: { name: string }[] }>("{ categories { name } }");
        assert.deepEqual(
          read.categories.map((category) => category.name).sort(),
          [...names, "Queued"].sort(),
        );
        const sql = postgres(sandbox.env.WRITE_DATABASE_URL, { max: 1, onnotice: () => {} });
        try {
          const [row] = await sql`
            select count(*)::int as events, count(distinct aggregate_id)::int as aggregates
            from events where type = 'CategoryCreated'`;
          assert.deepEqual(row, { events: names.length + 1, aggregates: names.length + 1 });
        } finally {
          await sql.end();
        }
      },
    );

    await t.step(
      "a malformed message is dead-lettered with its reason; the next command applies",
      async () => {
        await withChannel(amqpUrl, async (channel) => {
          channel.publish(topology.commandsExchange, "CreateCategory", Buffer.from("{not json"), {
            messageId: "malformed-1",
            // As the command service's user, so the worker reads it (and finds no JSON).
            userId: amqpUserOf(amqpUrl),
            type: "CreateCategory",
            contentType: "application/json",
            headers: { [headers.aggregateId]: crypto.randomUUID() },
            persistent: true,
          });
          await channel.close();
        });
        const after = await data<{ createCategory: { name: string } }>(
          'mutation { createCategory(input: { name: "After poison" }) { name } }',
        );
        assert.equal(after.createCategory.name, "After poison");
        const dead = await withChannel(amqpUrl, async (channel) => {
          let message: amqp.GetMessage | false = false;
          await eventually("the dead-lettered message", async () => {
            message = await channel.get(topology.deadLetterQueue, { noAck: true });
            return message !== false;
          });
          return message as unknown as amqp.GetMessage;
        });
        assert.equal(dead.properties.messageId, "malformed-1");
        assert.equal(new TextDecoder().decode(dead.content), "{not json");
        assert.match(String(dead.properties.headers?.[headers.deadLetterReason]), /not JSON/);
      },
    );
  }, { COMMAND_WAIT_TIMEOUT_MS: "1500" });
});
