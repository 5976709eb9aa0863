import assert from "node:assert/strict";
import amqp from "amqplib";
import {
  type CommandClient,
  commandIdMetadataKey,
  fieldErrorsMetadataKey,
  grpc,
  topology,
} from "@catalog/proto";
import {
  amqpUserOf,
  checkHealth,
  createCommandClient,
  developmentAuth,
  signDevelopmentToken,
} from "@catalog/runtime";
import { managementApi } from "@catalog/dev";
import {
  createVhost,
  eventually,
  failureOf,
  freePort,
  TcpProxy,
  type TestVhost,
} from "@catalog/testkit";
import type { CommandConfig } from "./config.ts";
import { type CommandService, startCommandService } from "./service.ts";

/** Runs fn with a throwaway vhost, and deletes it afterwards. */
async function withVhost(fn: (amqpUrl: string, vhost: TestVhost) => Promise<void>): Promise<void> {
  await using vhost = await createVhost("catalog_command");
  await fn(vhost.amqpUrl, vhost);
}

interface Running {
  service: CommandService;
  client: CommandClient;
  address: string;
  logs: string[];
}

const fixedNow = new Date("2025-01-02T03:04:05.678Z");

/** The writer every test client calls as. */
const writer = await signDevelopmentToken({ subject: "alice", role: "catalog:write" });

async function withService(
  config: Partial<CommandConfig> & { amqpUrl: string },
  fn: (running: Running) => Promise<void>,
  reconnectDelayMs = { min: 50, max: 200 },
  workersCheckMs?: number,
): Promise<void> {
  const logs: string[] = [];
  const service = await startCommandService(
    {
      grpcHost: "127.0.0.1",
      grpcPort: 0,
      publishTimeoutMs: 2000,
      backlogLimit: 0,
      auth: developmentAuth,
      production: false,
      ...config,
    },
    {
      clock: () => fixedNow,
      log: (line) => logs.push(line),
      reconnectDelayMs,
      ...(workersCheckMs ? { workersCheckMs } : {}),
    },
  );
  const address = `127.0.0.1:${service.port}`;
  const client = createCommandClient(address, { metadata: { authorization: `Bearer ${writer}` } });
  try {
    await fn({ service, client, address, logs });
  } finally {
    client.close();
    await service.stop();
  }
}

/**
 * Opens a plain channel on the vhost, for the test to look at what was
 * published: topology.acceptedQueue holds a copy of every command, in the
 * order the broker accepted them.
 */
async function withChannel(
  amqpUrl: string,
  fn: (channel: amqp.Channel) => Promise<void>,
): Promise<void> {
  const connection = await amqp.connect(amqpUrl);
  try {
    const channel = await connection.createChannel();
    await fn(channel);
  } finally {
    await connection.close();
  }
}

function grpcError(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  return failureOf<grpc.ServiceError>(promise);
}

const categoryId = "0b1d6a8e-3c2f-4e4b-9f0a-1d2c3b4a5f60";
const productId = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

Deno.test("startCommandService() publishes a valid command with every message property", async () => {
  await withVhost(async (amqpUrl) => {
    await withService({ amqpUrl }, async ({ client, address }) => {
      assert.equal(await checkHealth(address, "catalog.v1.CommandService"), "SERVING");
      const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
      const receipt = await client.CreateProduct(
        { name: "  Desk lamp ", price: "19.9", categoryId },
        {
          metadata: {
            // Who sends it is the token's subject: a header cannot say otherwise.
            "x-actor": "mallory",
            "x-correlation-id": "corr-1",
            traceparent,
          },
        },
      );
      assert.equal(receipt.type, "CreateProduct");
      assert.equal(receipt.status, "ACCEPTED");
      assert.equal(receipt.acceptedAt, fixedNow.toISOString());
      assert.match(receipt.commandId, /^[0-9a-f-]{36}$/);
      assert.match(receipt.aggregateId, /^[0-9a-f-]{36}$/);
      assert.notEqual(receipt.commandId, receipt.aggregateId);

      await withChannel(amqpUrl, async (channel) => {
        const message = await channel.get(topology.acceptedQueue, { noAck: true });
        assert.ok(message, "expected a message in the commands queue");
        assert.equal(message.fields.exchange, topology.commandsExchange);
        assert.equal(message.fields.routingKey, "CreateProduct");
        const { properties } = message;
        assert.equal(properties.messageId, receipt.commandId);
        assert.equal(properties.type, "CreateProduct");
        assert.equal(properties.correlationId, "corr-1");
        assert.equal(properties.appId, "catalog-command");
        // RabbitMQ took it, so the user_id is the connection's own user.
        assert.equal(properties.userId, amqpUserOf(amqpUrl));
        assert.equal(properties.contentType, "application/json");
        assert.equal(properties.deliveryMode, 2);
        assert.equal(properties.timestamp, Math.floor(fixedNow.getTime() / 1000));
        assert.equal(properties.headers?.["x-schema-version"], 1);
        assert.equal(properties.headers?.["x-aggregate-id"], receipt.aggregateId);
        assert.equal(properties.headers?.["x-actor"], "alice");
        assert.equal(properties.headers?.["traceparent"], traceparent);
        assert.deepEqual(JSON.parse(message.content.toString()), {
          schemaVersion: 1,
          commandId: receipt.commandId,
          type: "CreateProduct",
          aggregateType: "product",
          aggregateId: receipt.aggregateId,
          payload: { name: "Desk lamp", price: "19.90", categoryId },
          issuedAt: fixedNow.toISOString(),
          actor: "alice",
          correlationId: "corr-1",
          traceparent,
        });
      });
    });
  });
});

Deno.test("startCommandService() names its RabbitMQ connection after itself", async () => {
  await withVhost(async (amqpUrl, vhost) => {
    await withService({ amqpUrl }, async () => {
      // The management API lists a connection once its statistics come in.
      await eventually("the connection is listed", async () => {
        const connections = await managementApi(
          vhost.managementUrl,
          "GET",
          `/vhosts/${vhost.name}/connections`,
        ) as {
          client_properties?: { connection_name?: string };
        }[];
        return connections.length === 1 &&
          connections[0]!.client_properties?.connection_name === "catalog-command";
      }, 15_000);
    });
  });
});

Deno.test("startCommandService() defaults the correlation id, the actor being the token's subject", async () => {
  await withVhost(async (amqpUrl) => {
    await withService({ amqpUrl }, async ({ client }) => {
      const receipt = await client.DeleteCategory({ id: categoryId });
      assert.equal(receipt.aggregateId, categoryId);
      await withChannel(amqpUrl, async (channel) => {
        const message = await channel.get(topology.acceptedQueue, { noAck: true });
        assert.ok(message);
        assert.equal(message.properties.correlationId, receipt.commandId);
        assert.equal(message.properties.headers?.["traceparent"], undefined);
        const envelope = JSON.parse(message.content.toString());
        assert.equal(envelope.actor, "alice");
        assert.equal(envelope.correlationId, receipt.commandId);
        assert.deepEqual(envelope.payload, { id: categoryId });
      });
    });
  });
});

Deno.test("startCommandService() refuses a call without a writer's token and publishes nothing", async () => {
  await withVhost(async (amqpUrl) => {
    await withService({ amqpUrl }, async ({ address }) => {
      const reader = await signDevelopmentToken({ subject: "rita", role: "catalog:read" });
      const forged = await signDevelopmentToken({
        subject: "mallory",
        role: "catalog:admin",
        secret: "a secret that is not the service's, 32+ characters",
      });
      const cases: { metadata: Record<string, string>; code: number; words: RegExp }[] = [
        { metadata: {}, code: grpc.status.UNAUTHENTICATED, words: /without a token/ },
        {
          metadata: { authorization: `Bearer ${reader}` },
          code: grpc.status.PERMISSION_DENIED,
          words: /needs the catalog:write role.*"rita" has catalog:read/,
        },
        {
          metadata: { authorization: `Bearer ${forged}` },
          code: grpc.status.UNAUTHENTICATED,
          words: /its signature does not verify/,
        },
        {
          metadata: { authorization: "Basic YWxpY2U6c2VjcmV0" },
          code: grpc.status.UNAUTHENTICATED,
          words: /send "Bearer <token>"/,
        },
      ];
      const anonymous = createCommandClient(address);
      try {
        for (const { metadata, code, words } of cases) {
          const error = await grpcError(
            anonymous.CreateCategory({ name: "Side door" }, { metadata }),
          );
          assert.equal(error.code, code, error.details);
          assert.match(error.details, words);
        }
      } finally {
        anonymous.close();
      }
      await withChannel(amqpUrl, async (channel) => {
        assert.equal(await channel.get(topology.acceptedQueue, { noAck: true }), false);
      });
    });
  });
});

Deno.test("startCommandService() publishes only the fields an UpdateProduct carries", async () => {
  await withVhost(async (amqpUrl) => {
    await withService({ amqpUrl }, async ({ client }) => {
      const receipt = await client.UpdateProduct({ id: productId, price: "7" });
      assert.equal(receipt.aggregateId, productId);
      await withChannel(amqpUrl, async (channel) => {
        const message = await channel.get(topology.acceptedQueue, { noAck: true });
        assert.ok(message);
        assert.deepEqual(JSON.parse(message.content.toString()).payload, {
          id: productId,
          price: "7.00",
        });
      });
    });
  });
});

Deno.test("startCommandService() publishes an expected version in the payload, only when given", async () => {
  await withVhost(async (amqpUrl) => {
    await withService({ amqpUrl }, async ({ client }) => {
      await client.UpdateCategory({ id: categoryId, name: "Books", expectedVersion: 3 });
      await client.DeleteCategory({ id: categoryId, expectedVersion: 4 });
      await client.UpdateProduct({ id: productId, name: "Lamp", expectedVersion: 1 });
      await client.DeleteProduct({ id: productId, expectedVersion: 2 });
      await client.DeleteProduct({ id: productId });
      await withChannel(amqpUrl, async (channel) => {
        const payloads = [];
        for (let index = 0; index < 5; index++) {
          const message = await channel.get(topology.acceptedQueue, { noAck: true });
          assert.ok(message, `expected message ${index + 1}`);
          payloads.push(JSON.parse(message.content.toString()).payload);
        }
        assert.deepEqual(payloads, [
          { id: categoryId, name: "Books", expectedVersion: 3 },
          { id: categoryId, expectedVersion: 4 },
          { id: productId, name: "Lamp", expectedVersion: 1 },
          { id: productId, expectedVersion: 2 },
          { id: productId },
        ]);
      });
    });
  });
});

Deno.test("startCommandService() refuses an expected version that is not positive", async () => {
  await withVhost(async (amqpUrl) => {
    await withService({ amqpUrl }, async ({ client }) => {
      const error = await grpcError(client.DeleteProduct({ id: productId, expectedVersion: 0 }));
      assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
      assert.deepEqual(JSON.parse(String(error.metadata.get(fieldErrorsMetadataKey)[0])), [
        { field: "expectedVersion", message: "Must be a positive integer" },
      ]);
      const negative = await grpcError(
        client.UpdateCategory({ id: categoryId, name: "Books", expectedVersion: -2 }),
      );
      assert.equal(
        negative.details,
        "Cannot accept UpdateCategory: expectedVersion: Must be a positive integer",
      );
      await withChannel(amqpUrl, async (channel) => {
        const queue = await channel.checkQueue(topology.acceptedQueue);
        assert.equal(queue.messageCount, 0);
      });
    });
  });
});

Deno.test("startCommandService() answers INVALID_ARGUMENT with field errors and publishes nothing", async () => {
  await withVhost(async (amqpUrl) => {
    await withService({ amqpUrl }, async ({ client }) => {
      const error = await grpcError(
        client.CreateProduct({ name: " ", price: "0", categoryId: "nope" }),
      );
      assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
      assert.equal(
        error.details,
        "Cannot accept CreateProduct: name: Must not be empty; price: Must be between 0.01 and 999999.99; categoryId: Must be a UUID",
      );
      const fieldErrors = error.metadata.get(fieldErrorsMetadataKey)[0];
      assert.deepEqual(JSON.parse(String(fieldErrors)), [
        { field: "name", message: "Must not be empty" },
        { field: "price", message: "Must be between 0.01 and 999999.99" },
        { field: "categoryId", message: "Must be a UUID" },
      ]);

      const empty = await grpcError(client.UpdateProduct({ id: productId }));
      assert.equal(empty.code, grpc.status.INVALID_ARGUMENT);
      assert.match(empty.details, /Must change at least one of name, price or categoryId/);

      const blank = await grpcError(client.UpdateProduct({ id: productId, name: "" }));
      assert.equal(blank.code, grpc.status.INVALID_ARGUMENT);
      assert.equal(blank.details, "Cannot accept UpdateProduct: name: Must not be empty");

      await withChannel(amqpUrl, async (channel) => {
        const queue = await channel.checkQueue(topology.acceptedQueue);
        assert.equal(queue.messageCount, 0);
      });
    });
  });
});

Deno.test("startCommandService() refuses U+0000 in a name or an idempotency key with INVALID_ARGUMENT and publishes nothing", async () => {
  await withVhost(async (amqpUrl) => {
    await withService({ amqpUrl }, async ({ client }) => {
      const error = await grpcError(client.CreateCategory({ name: "Toys\u0000" }));
      assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
      assert.equal(
        error.details,
        "Cannot accept CreateCategory: name: Must not contain control characters",
      );
      assert.deepEqual(JSON.parse(String(error.metadata.get(fieldErrorsMetadataKey)[0])), [
        { field: "name", message: "Must not contain control characters" },
      ]);

      const both = await grpcError(
        client.CreateProduct({
          name: "Kite\u0000",
          price: "1",
          categoryId,
          idempotencyKey: "kite-\u0000",
        }),
      );
      assert.equal(both.code, grpc.status.INVALID_ARGUMENT);
      assert.deepEqual(JSON.parse(String(both.metadata.get(fieldErrorsMetadataKey)[0])), [
        { field: "name", message: "Must not contain control characters" },
        { field: "idempotencyKey", message: "Must not contain control characters" },
      ]);

      await withChannel(amqpUrl, async (channel) => {
        const queue = await channel.checkQueue(topology.acceptedQueue);
        assert.equal(queue.messageCount, 0);
      });
    });
  });
});

Deno.test("startCommandService() gives a retry with the same idempotency key the same ids", async () => {
  await withVhost(async (amqpUrl) => {
    await withService({ amqpUrl }, async ({ client }) => {
      const first = await client.CreateCategory({ name: "Books", idempotencyKey: "key-1" });
      const retry = await client.CreateCategory({ name: "Books", idempotencyKey: "key-1" });
      const other = await client.CreateCategory({ name: "Books", idempotencyKey: "key-2" });
      const unkeyed = await client.CreateCategory({ name: "Books" });
      const unkeyedAgain = await client.CreateCategory({ name: "Books" });
      assert.equal(retry.commandId, first.commandId);
      assert.equal(retry.aggregateId, first.aggregateId);
      assert.notEqual(other.commandId, first.commandId);
      assert.notEqual(other.aggregateId, first.aggregateId);
      assert.notEqual(unkeyed.commandId, unkeyedAgain.commandId);
      assert.notEqual(unkeyed.aggregateId, unkeyedAgain.aggregateId);

      const update = await client.UpdateCategory({
        id: first.aggregateId,
        name: "Novels",
        idempotencyKey: "key-1",
      });
      assert.notEqual(update.commandId, first.commandId, "another request gets another id");
      assert.equal(update.aggregateId, first.aggregateId);

      const conditional = await client.UpdateCategory({
        id: first.aggregateId,
        name: "Novels",
        idempotencyKey: "key-3",
        expectedVersion: 1,
      });
      const conditionalRetry = await client.UpdateCategory({
        id: first.aggregateId,
        name: "Novels",
        idempotencyKey: "key-3",
        expectedVersion: 1,
      });
      const otherVersion = await client.UpdateCategory({
        id: first.aggregateId,
        name: "Novels",
        idempotencyKey: "key-3",
        expectedVersion: 2,
      });
      assert.equal(conditionalRetry.commandId, conditional.commandId);
      assert.notEqual(otherVersion.commandId, conditional.commandId, "the version is the request");

      const trimmed = await client.CreateCategory({ name: "  Books ", idempotencyKey: "key-1" });
      assert.equal(trimmed.commandId, first.commandId, "the same request once normalised");
      const changed = await client.CreateCategory({ name: "Comics", idempotencyKey: "key-1" });
      assert.notEqual(changed.commandId, first.commandId, "another request gets another id");
      assert.equal(changed.aggregateId, first.aggregateId, "so the worker can refuse it");

      await withChannel(amqpUrl, async (channel) => {
        const message = await channel.get(topology.acceptedQueue, { noAck: true });
        assert.ok(message);
        assert.equal(message.properties.messageId, first.commandId);
        assert.equal(JSON.parse(message.content.toString()).idempotencyKey, "key-1");
      });
    });
  });
});

Deno.test("startCommandService() starts without RabbitMQ and answers UNAVAILABLE within the deadline", async () => {
  await withService(
    { amqpUrl: `amqp://guest:guest@127.0.0.1:${freePort()}`, publishTimeoutMs: 1000 },
    async ({ client, address, logs }) => {
      assert.equal(await checkHealth(address, "catalog.v1.CommandService"), "NOT_SERVING");
      assert.equal(await checkHealth(address), "NOT_SERVING");
      const started = Date.now();
      const error = await grpcError(
        client.CreateCategory({ name: "Books" }, { timeoutMs: 3000 }),
      );
      assert.equal(error.code, grpc.status.UNAVAILABLE);
      assert.match(error.details, /RabbitMQ is not connected/);
      assert.ok(Date.now() - started < 1000, "UNAVAILABLE comes at once without a connection");
      assert.ok(logs.some((line) => line.includes("Cannot connect to RabbitMQ")));
      assert.ok(logs.every((line) => !line.includes("guest:guest")), "passwords stay out of logs");
    },
  );
});

Deno.test("startCommandService() reconnects by itself and reports health as it goes", async () => {
  await withVhost(async (amqpUrl) => {
    const { proxy, url: viaProxy } = TcpProxy.inFrontOf(amqpUrl, 5672);
    try {
      await withService(
        { amqpUrl: viaProxy, publishTimeoutMs: 800 },
        async ({ client, address, service }) => {
          const serving = () => checkHealth(address, "catalog.v1.CommandService");
          assert.equal(await serving(), "NOT_SERVING");

          proxy.open();
          await eventually("the service connects", async () => await serving() === "SERVING");
          const receipt = await client.CreateCategory({ name: "Books" });
          assert.equal(receipt.status, "ACCEPTED");

          await proxy.cut();
          await eventually(
            "the service sees the loss",
            async () => await serving() === "NOT_SERVING",
          );
          const down = await grpcError(client.CreateCategory({ name: "Books" }));
          assert.equal(down.code, grpc.status.UNAVAILABLE);

          proxy.open();
          await eventually("the service reconnects", async () => await serving() === "SERVING");
          await client.CreateCategory({ name: "Books" });

          proxy.stalled = true;
          const started = Date.now();
          const stalled = await grpcError(
            client.CreateCategory({ name: "Books" }, { timeoutMs: 5000 }),
          );
          const elapsed = Date.now() - started;
          // The command went out: it may be queued, so its id comes back.
          assert.equal(stalled.code, grpc.status.UNKNOWN);
          assert.match(stalled.details, /did not confirm it within 800 ms/);
          const [commandId] = stalled.metadata.get(commandIdMetadataKey);
          assert.match(String(commandId), /^[0-9a-f-]{36}$/);
          assert.match(stalled.details, new RegExp(`command ${commandId} was queued`));
          assert.ok(elapsed >= 700 && elapsed < 2000, `answered after ${elapsed} ms`);

          // Stopping does not wait on the stalled broker for more than its bounds: a
          // consumer count (a check interval), no calls in hand, the close (1 s).
          const stopping = Date.now();
          await service.stop();
          const stopped = Date.now() - stopping;
          assert.ok(stopped < 4000, `stopped after ${stopped} ms`);
        },
      );
    } finally {
      await proxy.cut();
    }
  });
});

Deno.test("startCommandService() refuses a command with RESOURCE_EXHAUSTED once the backlog is at its limit, and queues nothing", async () => {
  await withVhost(async (amqpUrl) => {
    await withService(
      { amqpUrl, backlogLimit: 3 },
      async ({ client }) => {
        // No worker consumes here: every command accepted waits in its partition.
        for (let i = 0; i < 3; i++) {
          await client.CreateCategory({ name: `waiting ${i}` });
        }
        // The next count sees them.
        await new Promise((resolve) => setTimeout(resolve, 200));
        const error = await grpcError(client.CreateCategory({ name: "one too many" }));
        assert.equal(error.code, grpc.status.RESOURCE_EXHAUSTED);
        assert.equal(
          error.details,
          "Cannot accept CreateCategory: 3 commands wait for the workers, at most 3; " +
            "nothing was queued, try again later",
        );
        await withChannel(amqpUrl, async (channel) => {
          assert.equal((await channel.checkQueue(topology.acceptedQueue)).messageCount, 3);
        });
      },
      undefined,
      50,
    );
  });
});
