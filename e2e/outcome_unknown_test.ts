import assert from "node:assert/strict";
import postgres from "postgres";
import { eventually, TcpProxy, withSystem } from "@catalog/testkit";

const SUBMIT = `mutation ($key: String) {
  submitCreateCategory(input: { name: "Late" }, idempotencyKey: $key) { commandId status }
}`;

Deno.test("a command whose confirm comes late is COMMAND_OUTCOME_UNKNOWN with its id, and a retry with its key applies it once", async () => {
  let broker: TcpProxy | undefined;
  let brokerUrl = "";
  await withSystem(
    async ({ gql, data, sandbox }) => {
      // RabbitMQ's answers to the command service now come 1.5 s late; it waits 0.5 s.
      broker!.delayMs = 1500;
      const late = await gql(SUBMIT, { key: "late-1" });
      const error = late.errors?.[0];
      assert.equal(error?.extensions?.code, "COMMAND_OUTCOME_UNKNOWN", JSON.stringify(late));
      const commandId = error?.extensions?.commandId;
      assert.match(String(commandId), /^[0-9a-f-]{36}$/);
      assert.equal(
        error?.message,
        `Cannot tell whether command ${commandId} was queued: RabbitMQ did not confirm it within ` +
          "500 ms; follow it with command(id), or send it again with the same idempotency key",
      );

      // It was queued after all: the worker applies it.
      await eventually("the late command to be applied", async () => {
        const { command } = await data<{ command: { status: string } | null }>(
          "query ($id: ID!) { command(id: $id) { status } }",
          { id: commandId },
        );
        return command?.status === "APPLIED";
      });

      // The client, not knowing, sends it again with its key: the same command, applied once.
      broker!.delayMs = 0;
      // What was already on its way still comes late; let it arrive.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const again = await data<{ submitCreateCategory: { commandId: string; status: string } }>(
        SUBMIT,
        { key: "late-1" },
      );
      assert.equal(again.submitCreateCategory.commandId, commandId);
      const write = postgres(sandbox.env.WRITE_DATABASE_URL, { max: 1, onnotice: () => {} });
      try {
        await eventually("the retry to be handled", async () => {
          const { categories } = await data<{ categories: { name: string }[] }>(
            "{ categories { name } }",
          );
          return categories.length === 1;
        });
        const [counts] = await write<{ categories: number; events: number; commands: number }[]>`
        select
          (select count(*)::int from categories where name = 'Late') as categories,
          (select count(*)::int from events where command_id = ${String(commandId)}) as events,
          (select count(*)::int from commands where command_id = ${String(commandId)}) as commands`;
        assert.deepEqual(counts, { categories: 1, events: 1, commands: 1 });
      } finally {
        await write.end({ timeout: 5 });
      }
    },
    { PUBLISH_TIMEOUT_MS: "500" },
    {
      envOf(process): Record<string, string> {
        return process === "command" ? { AMQP_URL: brokerUrl } : {};
      },
      envFor(sandbox) {
        const proxied = TcpProxy.inFrontOf(sandbox.env.AMQP_URL, 5672);
        broker = proxied.proxy;
        brokerUrl = proxied.url;
        broker.open();
        return {};
      },
    },
  ).finally(() => broker?.cut());
});
