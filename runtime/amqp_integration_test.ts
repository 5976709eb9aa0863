import assert from "node:assert/strict";
import { createVhost, eventually, managementApi } from "@catalog/testkit";
import { closeAmqp, connectAmqp, publishConfirmed } from "./amqp.ts";

interface ConnectionInfo {
  name: string;
  timeout?: number;
  client_properties?: { connection_name?: string };
}

async function connectionsOf(vhost: { name: string; managementUrl: string }) {
  return (await managementApi(
    vhost.managementUrl,
    "GET",
    `/vhosts/${encodeURIComponent(vhost.name)}/connections`,
  )) as ConnectionInfo[];
}

Deno.test("connectAmqp() opens a connection named as asked, with heartbeats", async () => {
  await using vhost = await createVhost("catalog_runtime");
  const connection = await connectAmqp(vhost.amqpUrl, {
    name: "catalog-runtime-test",
    heartbeatSeconds: 7,
  });
  try {
    let found: ConnectionInfo | undefined;
    await eventually("the connection in the management API", async () => {
      found = (await connectionsOf(vhost)).find((info) =>
        info.client_properties?.connection_name === "catalog-runtime-test"
      );
      return found !== undefined;
    });
    assert.equal(found?.timeout, 7, "the heartbeat RabbitMQ agreed to");
  } finally {
    assert.equal(await closeAmqp(connection, 2000), true);
  }
});

Deno.test("connectAmqp() keeps a heartbeat the URL chooses", async () => {
  await using vhost = await createVhost("catalog_runtime");
  const connection = await connectAmqp(`${vhost.amqpUrl}?heartbeat=3`, { name: "catalog-hb" });
  try {
    let found: ConnectionInfo | undefined;
    await eventually("the connection in the management API", async () => {
      found = (await connectionsOf(vhost)).find((info) =>
        info.client_properties?.connection_name === "catalog-hb"
      );
      return found !== undefined;
    });
    assert.equal(found?.timeout, 3);
  } finally {
    await closeAmqp(connection, 2000);
  }
});

Deno.test("publishConfirmed() resolves once RabbitMQ confirms a message it queued", async () => {
  await using vhost = await createVhost("catalog_runtime");
  const connection = await connectAmqp(vhost.amqpUrl, { name: "catalog-runtime-test" });
  try {
    const channel = await connection.createConfirmChannel();
    const { queue } = await channel.assertQueue("", { exclusive: true });
    await publishConfirmed(channel, {
      exchange: "",
      routingKey: queue,
      content: new TextEncoder().encode("hello"),
      properties: { messageId: "m-1" },
    }, { timeoutMs: 5000 });
    const got = await channel.get(queue, { noAck: true });
    assert.ok(got);
    assert.equal(got.content.toString(), "hello");
    assert.equal(got.properties.messageId, "m-1");
    await channel.close();
  } finally {
    await closeAmqp(connection, 2000);
  }
});
