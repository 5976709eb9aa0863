import assert from "node:assert/strict";
import type { Category, Change, CommandStatus, Product } from "@catalog/proto";
import { eventually, type SseSubscription, subscribeSse } from "@catalog/testkit";
import type { ChangeListener, ChangeSource } from "./change_feed.ts";
import { testGateway } from "./_testing.ts";

/** A change feed in memory: emit() hands a change to every listener at once. */
class MemoryChangeSource implements ChangeSource {
  readonly listeners = new Set<ChangeListener>();
  #position = 0;

  ready(): Promise<void> {
    return Promise.resolve();
  }

  listen(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(change: Omit<Change, "position" | "at" | "commandId">): void {
    const full = {
      position: String(++this.#position),
      at: "2026-01-02T03:04:05.000Z",
      commandId: crypto.randomUUID(),
      ...change,
    };
    for (const listener of [...this.listeners]) listener.change(full);
  }

  category(kind: Change["kind"], category: Category): void {
    this.emit({ entityType: "CATEGORY", entityId: category.id, kind, category });
  }

  product(kind: Change["kind"], product: Product): void {
    this.emit({ entityType: "PRODUCT", entityId: product.id, kind, product });
  }

  command(kind: Change["kind"], command: CommandStatus): void {
    this.emit({ entityType: "COMMAND", entityId: command.commandId, kind, command });
  }
}

function setUp(options: { bufferSize?: number } = {}) {
  const changes = new MemoryChangeSource();
  const test = testGateway({ changes, subscriptionBufferSize: options.bufferSize });
  function subscribe<T>(query: string, variables?: Record<string, unknown>) {
    return subscribeSse<T>("http://localhost/graphql", query, variables, {
      fetch: (request) => test.gateway.fetch(request),
    });
  }
  return { ...test, changes, subscribe };
}

async function closing<T>(
  subscription: SseSubscription<T>,
  fn: (subscription: SseSubscription<T>) => Promise<void>,
): Promise<void> {
  try {
    await fn(subscription);
  } finally {
    await subscription.close();
  }
}

const status = (commandId: string, state: CommandStatus["status"]): CommandStatus => ({
  commandId,
  type: "CreateCategory",
  aggregateId: "c0000000-0000-4000-8000-000000000000",
  status: state,
  code: "",
  message: "",
  acceptedAt: "2026-01-02T03:04:05.000Z",
  handledAt: state === "ACCEPTED" ? "" : "2026-01-02T03:04:06.000Z",
});

Deno.test("categoryCreated delivers created categories only, with fields resolved from the read side", async () => {
  const { backends, changes, subscribe } = setUp();
  await closing(
    await subscribe<
      { categoryCreated: { id: string; name: string; products: { name: string }[] } }
    >(
      "subscription { categoryCreated { id name products { name } } }",
    ),
    async (subscription) => {
      const toys = backends.addCategory("Toys");
      const ball = backends.addProduct("Ball", "3.50", toys.id);
      changes.product("CREATED", ball);
      changes.category("UPDATED", toys);
      changes.category("CREATED", toys);
      const result = await subscription.nextData();
      assert.deepEqual(result, {
        data: { categoryCreated: { id: toys.id, name: "Toys", products: [{ name: "Ball" }] } },
      });
    },
  );
});

Deno.test("productUpdated(id) delivers that product's updates in order, each resolved afresh", async () => {
  const { backends, changes, subscribe } = setUp();
  const toys = backends.addCategory("Toys");
  const ball = backends.addProduct("Ball", "3.50", toys.id);
  const kite = backends.addProduct("Kite", "9.00", toys.id);
  await closing(
    await subscribe<
      { productUpdated: { name: string; price: number; category: { name: string } } }
    >(
      "subscription ($id: ID) { productUpdated(id: $id) { name price category { name } } }",
      { id: ball.id.toUpperCase() },
    ),
    async (subscription) => {
      changes.product("UPDATED", { ...kite, name: "Kite 2" });
      changes.product("UPDATED", { ...ball, name: "Ball 2", price: "4.00" });
      assert.deepEqual((await subscription.nextData()).data, {
        productUpdated: { name: "Ball 2", price: 4, category: { name: "Toys" } },
      });
      // The category is read for each event, not remembered from the first.
      backends.categories.set(toys.id, { ...toys, name: "Games" });
      changes.product("UPDATED", { ...ball, name: "Ball 3", price: "4.10" });
      assert.deepEqual((await subscription.nextData()).data, {
        productUpdated: { name: "Ball 3", price: 4.1, category: { name: "Games" } },
      });
    },
  );
});

Deno.test("categoryDeleted and productDeleted deliver the entity as it was last", async () => {
  const { backends, changes, subscribe } = setUp();
  const toys = backends.addCategory("Toys");
  const ball = backends.addProduct("Ball", "3.50", toys.id);
  const categories = await subscribe("subscription { categoryDeleted { id name version } }");
  const products = await subscribe("subscription { productDeleted { id name categoryId } }");
  try {
    changes.product("DELETED", ball);
    changes.category("DELETED", { ...toys, version: 2 });
    assert.deepEqual((await products.nextData()).data, {
      productDeleted: { id: ball.id, name: "Ball", categoryId: toys.id },
    });
    assert.deepEqual((await categories.nextData()).data, {
      categoryDeleted: { id: toys.id, name: "Toys", version: 2 },
    });
  } finally {
    await categories.close();
    await products.close();
  }
});

Deno.test("commandUpdated(id) sends the status as it is, each new one once, and completes when applied", async () => {
  const { backends, changes, subscribe } = setUp();
  const commandId = crypto.randomUUID();
  backends.statuses.set(commandId, status(commandId, "ACCEPTED"));
  await closing(
    await subscribe<{ commandUpdated: { id: string; status: string; handledAt: string | null } }>(
      "subscription ($id: ID!) { commandUpdated(id: $id) { id status handledAt } }",
      { id: commandId },
    ),
    async (subscription) => {
      assert.deepEqual((await subscription.nextData()).data, {
        commandUpdated: { id: commandId, status: "ACCEPTED", handledAt: null },
      });
      changes.command("UPDATED", status(crypto.randomUUID(), "APPLIED"));
      // The same status again (read first, then seen in the feed) is not repeated.
      changes.command("CREATED", status(commandId, "ACCEPTED"));
      changes.command("UPDATED", status(commandId, "FAILED"));
      changes.command("UPDATED", status(commandId, "APPLIED"));
      assert.deepEqual((await subscription.nextData()).data, {
        commandUpdated: { id: commandId, status: "FAILED", handledAt: "2026-01-02T03:04:06.000Z" },
      });
      assert.deepEqual((await subscription.nextData()).data, {
        commandUpdated: { id: commandId, status: "APPLIED", handledAt: "2026-01-02T03:04:06.000Z" },
      });
      assert.deepEqual(await subscription.next(), { event: "complete" });
    },
  );
});

Deno.test("commandUpdated(id) waits for a command the read side does not know yet", async () => {
  const { changes, subscribe } = setUp();
  const commandId = crypto.randomUUID();
  await closing(
    await subscribe<{ commandUpdated: { status: string } }>(
      "subscription ($id: ID!) { commandUpdated(id: $id) { status } }",
      { id: commandId },
    ),
    async (subscription) => {
      await eventually(
        "the subscription to listen",
        () => Promise.resolve(changes.listeners.size === 1),
      );
      changes.command("UPDATED", status(commandId, "REJECTED"));
      assert.deepEqual((await subscription.nextData()).data, {
        commandUpdated: { status: "REJECTED" },
      });
      assert.deepEqual(await subscription.next(), { event: "complete" });
    },
  );
});

Deno.test("a subscriber that falls behind ends with SUBSCRIBER_TOO_SLOW while others get every change", async () => {
  const { backends, changes, subscribe } = setUp({ bufferSize: 8 });
  const toys = backends.addCategory("Toys");
  const query = "subscription { categoryUpdated { name } }";
  const slow = await subscribe<{ categoryUpdated: { name: string } }>(query);
  const fast = await subscribe<{ categoryUpdated: { name: string } }>(query);
  try {
    const names = Array.from({ length: 100 }, (_, index) => `Toys ${index}`);
    const received: string[] = [];
    // The fast client reads as the changes come; the slow one reads nothing yet.
    for (const name of names) {
      changes.category("UPDATED", { ...toys, name });
      received.push((await fast.nextData()).data!.categoryUpdated.name);
    }
    assert.deepEqual(received, names);
    assert.equal(changes.listeners.size, 1);

    const late: string[] = [];
    let last: unknown;
    for (let event = await slow.next(); event?.event === "next"; event = await slow.next()) {
      if (event.data.data) late.push(event.data.data.categoryUpdated.name);
      else last = event.data.errors?.[0]?.extensions?.code;
    }
    assert.equal(last, "SUBSCRIBER_TOO_SLOW");
    // What it did get is the start of the sequence, in order, and no more than it could hold.
    assert.deepEqual(late, names.slice(0, late.length));
    assert.ok(late.length < names.length);
  } finally {
    await slow.close();
    await fast.close();
  }
});

Deno.test("a subscriber that disconnects stops listening", async () => {
  const { changes, subscribe } = setUp();
  const subscription = await subscribe("subscription { productCreated { id } }");
  await eventually(
    "the subscription to listen",
    () => Promise.resolve(changes.listeners.size === 1),
  );
  await subscription.close();
  await eventually("the listener to go", () => Promise.resolve(changes.listeners.size === 0));
});

Deno.test("subscribing with a malformed id fails with INVALID_ARGUMENT", async () => {
  const { subscribe } = setUp();
  await closing(
    await subscribe('subscription { categoryUpdated(id: "nope") { id } }'),
    async (subscription) => {
      const result = await subscription.nextData();
      assert.equal(result.errors?.[0]?.extensions?.code, "INVALID_ARGUMENT");
      assert.deepEqual(await subscription.next(), { event: "complete" });
    },
  );
});
