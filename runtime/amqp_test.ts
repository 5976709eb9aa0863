/**
 * The parts of amqp.ts that need no RabbitMQ: confirms and closing against
 * stand-ins for amqplib's channel and connection, and connecting to local
 * sockets that refuse or never answer.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { ChannelModel, ConfirmChannel, Options } from "amqplib";
import {
  AmqpPublishError,
  amqpUserOf,
  closeAmqp,
  connectAmqp,
  publishConfirmed,
  withHeartbeat,
} from "./amqp.ts";

type Confirm = (error: unknown) => void;

/** A confirm channel whose publish() hands its confirm callback to `answer`. */
function fakeChannel(answer: (confirm: Confirm) => void) {
  const published: { exchange: string; routingKey: string; content: Buffer; properties: object }[] =
    [];
  const channel = {
    publish(
      exchange: string,
      routingKey: string,
      content: Buffer,
      properties: Options.Publish,
      confirm: Confirm,
    ) {
      published.push({ exchange, routingKey, content, properties });
      answer(confirm);
      return true;
    },
  };
  return { channel: channel as unknown as ConfirmChannel, published };
}

const message = {
  exchange: "catalog.commands",
  routingKey: "CreateCategory",
  content: new TextEncoder().encode('{"a":1}'),
  properties: { persistent: true, messageId: "m-1" },
};

async function rejection(promise: Promise<unknown>): Promise<AmqpPublishError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof AmqpPublishError, String(error));
    return error;
  }
  assert.fail("expected a rejection");
}

Deno.test("publishConfirmed() resolves once RabbitMQ confirms, publishing what it was given", async () => {
  const { channel, published } = fakeChannel((confirm) => setTimeout(() => confirm(null), 1));
  await publishConfirmed(channel, message);
  assert.equal(published.length, 1);
  assert.equal(published[0]?.exchange, "catalog.commands");
  assert.equal(published[0]?.routingKey, "CreateCategory");
  assert.ok(Buffer.isBuffer(published[0]?.content));
  assert.equal(published[0]?.content.toString(), '{"a":1}');
  assert.deepEqual(published[0]?.properties, { persistent: true, messageId: "m-1" });
});

Deno.test("publishConfirmed() tells a nack from a channel that closed before the confirm", async () => {
  const nacked = await rejection(
    publishConfirmed(
      fakeChannel((confirm) => confirm(new Error("message nacked"))).channel,
      message,
    ),
  );
  assert.equal(nacked.reason, "nacked");
  assert.equal(
    nacked.message,
    'Cannot publish to catalog.commands as "CreateCategory": RabbitMQ refused it (message nacked)',
  );
  assert.equal((nacked.cause as Error).message, "message nacked");

  const closed = await rejection(
    publishConfirmed(
      fakeChannel((confirm) => confirm(new Error("channel closed"))).channel,
      message,
    ),
  );
  assert.equal(closed.reason, "closed");
  assert.match(
    closed.message,
    /the channel closed before RabbitMQ confirmed it \(channel closed\)$/,
  );
});

Deno.test("publishConfirmed() gives up after timeoutMs, and ignores a confirm that comes later", async () => {
  let late: Confirm | undefined;
  const { channel } = fakeChannel((confirm) => late = confirm);
  const started = Date.now();
  const error = await rejection(publishConfirmed(channel, message, { timeoutMs: 30 }));
  assert.ok(Date.now() - started >= 25);
  assert.equal(error.reason, "timeout");
  assert.equal(
    error.message,
    'Cannot publish to catalog.commands as "CreateCategory": RabbitMQ did not confirm it within 30 ms',
  );
  late?.(null);
});

Deno.test("publishConfirmed() reports a message the channel refused at once as unsent", async () => {
  const channel = {
    publish() {
      throw new Error("Channel closed");
    },
  } as unknown as ConfirmChannel;
  const error = await rejection(
    publishConfirmed(channel, { ...message, exchange: "" }, { timeoutMs: 1000 }),
  );
  assert.equal(error.reason, "unsent");
  assert.equal(
    error.message,
    'Cannot publish to the default exchange as "CreateCategory": Channel closed',
  );
});

/** A connection whose close() does what `close` says, and that records a dropped socket. */
function fakeConnection(close: () => Promise<void>) {
  const state = { dropped: false };
  const connection = {
    close,
    connection: { stream: { destroy: () => state.dropped = true } },
  } as unknown as ChannelModel;
  return { connection, state };
}

Deno.test("closeAmqp() closes politely when RabbitMQ answers in time", async () => {
  const { connection, state } = fakeConnection(() => Promise.resolve());
  assert.equal(await closeAmqp(connection, 1000), true);
  assert.equal(state.dropped, false);
});

Deno.test("closeAmqp() counts a connection that was closed already as closed", async () => {
  const rejecting = fakeConnection(() => Promise.reject(new Error("Connection closed")));
  assert.equal(await closeAmqp(rejecting.connection, 1000), true);
  const throwing = fakeConnection(() => {
    throw new Error("Connection closed");
  });
  assert.equal(await closeAmqp(throwing.connection, 1000), true);
  assert.equal(rejecting.state.dropped || throwing.state.dropped, false);
});

Deno.test("closeAmqp() drops the socket when RabbitMQ does not answer within the bound", async () => {
  const { connection, state } = fakeConnection(() => new Promise(() => {}));
  const started = Date.now();
  assert.equal(await closeAmqp(connection, 30), false);
  assert.ok(Date.now() - started < 1000);
  assert.equal(state.dropped, true);
});

Deno.test("connectAmqp() fails with amqplib's own error when nothing listens", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  await assert.rejects(
    connectAmqp(`amqp://guest:guest@127.0.0.1:${port}`, { name: "amqp-test" }),
    (error: unknown) => (error as { code?: unknown }).code === "ECONNREFUSED",
  );
});

Deno.test("connectAmqp() gives up after timeoutMs on a peer that never answers", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  // Accepts the connection and reads what comes, answering nothing, until the client gives up.
  const silent = (async () => {
    const connection = await listener.accept();
    const buffer = new Uint8Array(1024);
    try {
      while (await connection.read(buffer) !== null) { /* ignore */ }
    } catch {
      // The client reset the socket.
    } finally {
      connection.close();
    }
  })();
  try {
    const started = Date.now();
    await assert.rejects(
      connectAmqp(`amqp://guest:guest@127.0.0.1:${port}`, { name: "amqp-test", timeoutMs: 200 }),
      /connect ETIMEDOUT/,
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 150 && elapsed < 3000, `gave up after ${elapsed} ms`);
    await silent;
  } finally {
    listener.close();
  }
});

Deno.test("withHeartbeat() asks for heartbeats unless the URL chooses its own", () => {
  assert.equal(
    withHeartbeat("amqp://guest:guest@localhost:5672", 5),
    "amqp://guest:guest@localhost:5672?heartbeat=5",
  );
  assert.equal(
    withHeartbeat("amqp://guest:guest@localhost:5672/catalog?heartbeat=30", 5),
    "amqp://guest:guest@localhost:5672/catalog?heartbeat=30",
  );
  assert.equal(
    withHeartbeat("amqp://guest:guest@localhost:5672/%2F", 10),
    "amqp://guest:guest@localhost:5672/%2F?heartbeat=10",
  );
});

Deno.test("amqpUserOf() names the user an AMQP URL logs in as", () => {
  assert.equal(amqpUserOf("amqp://guest:guest@localhost:5672"), "guest");
  assert.equal(amqpUserOf("amqps://catalog-command:s3cret@rabbit:5671/catalog"), "catalog-command");
  assert.equal(amqpUserOf("amqp://catalog%40command:pw@rabbit/%2F"), "catalog@command");
  // amqplib logs in as guest when the URL names nobody.
  assert.equal(amqpUserOf("amqp://localhost:5672/catalog"), "guest");
  assert.equal(amqpUserOf("amqp://:pw@localhost"), "");
  assert.throws(() => amqpUserOf("not a url"), TypeError);
});
