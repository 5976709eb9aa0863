import assert from "node:assert/strict";
import type postgres from "postgres";
import {
  commandOutcomeChannel,
  fieldErrorsMetadataKey,
  grpc,
  type QueryClient,
} from "@catalog/proto";
import { checkHealth, createQueryClient } from "@catalog/runtime";
import { type ReadDatabase, withReadDatabase } from "@catalog/testkit";
import { eventually, failureOf, freePort, TcpProxy } from "@catalog/testkit";
import { type QueryService, startQueryService } from "./service.ts";

interface Running {
  service: QueryService;
  client: QueryClient;
  address: string;
  logs: string[];
}

async function withService(
  readDatabaseUrl: string,
  fn: (running: Running) => Promise<void>,
): Promise<void> {
  const logs: string[] = [];
  const service = await startQueryService(
    { grpcHost: "127.0.0.1", grpcPort: 0, readDatabaseUrl },
    { log: (line) => logs.push(line), healthIntervalMs: 100 },
  );
  const address = `127.0.0.1:${service.port}`;
  const client = createQueryClient(address);
  try {
    await fn({ service, client, address, logs });
  } finally {
    client.close();
    await service.stop();
  }
}

function grpcError(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  return failureOf<grpc.ServiceError>(promise);
}

const created = "2025-01-01T10:00:00.123Z";
const updated = "2025-02-03T04:05:06.789Z";

const ids = {
  books: "11111111-1111-4111-8111-111111111111",
  electronics: "22222222-2222-4222-8222-222222222222",
  emptyShelf: "33333333-3333-4333-8333-333333333333",
  cotton: "44444444-4444-4444-8444-444444444444",
  bookshelves: "55555555-5555-4555-8555-555555555555",
  novel: "a1111111-1111-4111-8111-111111111111",
  atlas: "a2222222-2222-4222-8222-222222222222",
  laptop: "a3333333-3333-4333-8333-333333333333",
  mouse: "a4444444-4444-4444-8444-444444444444",
  mousepad: "a5555555-5555-4555-8555-555555555555",
  shirt: "a6666666-6666-4666-8666-666666666666",
  unknown: "ffffffff-ffff-4fff-8fff-ffffffffffff",
};

async function seed(sql: postgres.Sql): Promise<void> {
  const categories = [
    [ids.books, "Books", 2, 3],
    [ids.electronics, "Electronics", 3, 1],
    [ids.emptyShelf, "Empty_Shelf", 0, 1],
    [ids.cotton, "100% Cotton", 1, 1],
    [ids.bookshelves, "Bookshelves", 0, 2],
  ] as const;
  for (const [id, name, productCount, version] of categories) {
    await sql`
      insert into category_view (id, name, product_count, version, created_at, updated_at)
      values (${id}, ${name}, ${productCount}, ${version}, ${created}, ${updated})`;
  }
  const products = [
    [ids.novel, "Novel", "12.50", ids.books, "Books"],
    [ids.atlas, "Atlas", "30", ids.books, "Books"],
    [ids.laptop, "Laptop", "999.99", ids.electronics, "Electronics"],
    [ids.mouse, "Mouse", "19.9", ids.electronics, "Electronics"],
    [ids.mousepad, "Mousepad", "5.00", ids.electronics, "Electronics"],
    [ids.shirt, "T-Shirt", "15.00", ids.cotton, "100% Cotton"],
  ] as const;
  for (const [id, name, price, categoryId, categoryName] of products) {
    await sql`
      insert into product_view
        (id, name, price, category_id, category_name, version, created_at, updated_at)
      values (${id}, ${name}, ${price}, ${categoryId}, ${categoryName}, 1, ${created}, ${updated})`;
  }
}

/**
 * Writes a command's row as the worker would (an ACCEPTED one not handled
 * yet), over any row it has, and notifies waiters unless told not to.
 */
async function recordCommand(
  sql: postgres.Sql,
  commandId: string,
  outcome: { status: string; code?: string; message?: string; currentVersion?: number },
  notify = true,
): Promise<void> {
  const handledAt = outcome.status === "ACCEPTED" ? null : updated;
  await sql.begin(async (tx) => {
    await tx`
      insert into command_view (
        command_id, type, aggregate_id, status, code, message, current_version, accepted_at,
        handled_at
      ) values (${commandId}, 'CreateCategory', ${ids.books}, ${outcome.status},
        ${outcome.code ?? ""}, ${outcome.message ?? ""}, ${outcome.currentVersion ?? null},
        ${created}, ${handledAt})
      on conflict (command_id) do update set
        status = excluded.status, code = excluded.code, message = excluded.message,
        current_version = excluded.current_version, handled_at = excluded.handled_at`;
    if (notify) await tx`select pg_notify(${commandOutcomeChannel}, ${commandId})`;
  });
}

/**
 * A message without the virtual oneof fields that proto-loader adds for each
 * `optional` field present (`_currentVersion: "currentVersion"`).
 */
function fieldsOf(message: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(message).filter(([key]) => !key.startsWith("_")));
}

function invalidFields(error: grpc.ServiceError): unknown {
  assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
  return JSON.parse(String(error.metadata.get(fieldErrorsMetadataKey)[0]));
}

const names = (list: { name: string }[]) => list.map((item) => item.name);

Deno.test("startQueryService() answers every read from the read database", async (t) => {
  await withReadDatabase(async (db: ReadDatabase) => {
    await seed(db.sql);
    await withService(db.url, async ({ client, address }) => {
      await t.step("it reports SERVING", async () => {
        assert.equal(await checkHealth(address, "catalog.v1.QueryService"), "SERVING");
        assert.equal(await checkHealth(address), "SERVING");
      });

      await t.step(
        "GetCategories returns known ids, in any case, and leaves unknown out",
        async () => {
          const list = await client.GetCategories({
            ids: [ids.emptyShelf, ids.books.toUpperCase(), ids.unknown, ids.books],
          });
          assert.equal(list.totalCount, 2);
          assert.deepEqual(names(list.categories).sort(), ["Books", "Empty_Shelf"]);
          const books = list.categories.find((category) => category.name === "Books");
          assert.deepEqual(books, {
            id: ids.books,
            name: "Books",
            version: 3,
            productCount: 2,
            createdAt: created,
            updatedAt: updated,
          });
          assert.deepEqual(await client.GetCategories({ ids: [] }), {
            categories: [],
            totalCount: 0,
          });
        },
      );

      await t.step("GetCategories rejects ids that are not UUIDs", async () => {
        const error = await grpcError(client.GetCategories({ ids: [ids.books, "nope"] }));
        assert.deepEqual(invalidFields(error), [{ field: "ids[1]", message: "Must be a UUID" }]);
        assert.match(error.details, /ids\[1\]: Must be a UUID/);
      });

      await t.step("ListCategories orders by name and counts before paging", async () => {
        const all = await client.ListCategories({});
        assert.deepEqual(names(all.categories), [
          "100% Cotton",
          "Books",
          "Bookshelves",
          "Electronics",
          "Empty_Shelf",
        ]);
        assert.equal(all.totalCount, 5);

        const second = await client.ListCategories({ page: { page: 2, perPage: 2 } });
        assert.deepEqual(names(second.categories), ["Bookshelves", "Electronics"]);
        assert.equal(second.totalCount, 5);
        const last = await client.ListCategories({ page: { page: 3, perPage: 2 } });
        assert.deepEqual(names(last.categories), ["Empty_Shelf"]);
        const beyond = await client.ListCategories({ page: { page: 9, perPage: 2 } });
        assert.deepEqual(beyond, { categories: [], totalCount: 5 });
        const first = await client.ListCategories({ page: { page: 0, perPage: 1 } });
        assert.deepEqual(names(first.categories), ["100% Cotton"]);
        const everything = await client.ListCategories({ page: { page: 3, perPage: 0 } });
        assert.equal(everything.categories.length, 5);
      });

      await t.step("ListCategories filters by exact name, case-insensitively", async () => {
        const exact = await client.ListCategories({ name: " BOOKS " });
        assert.deepEqual(names(exact.categories), ["Books"]);
        assert.equal(exact.totalCount, 1);
        assert.deepEqual(await client.ListCategories({ name: "Book" }), {
          categories: [],
          totalCount: 0,
        });
      });

      await t.step(
        "ListCategories filters by substring, with LIKE wildcards taken literally",
        async () => {
          const book = await client.ListCategories({ nameContains: "BOOK" });
          assert.deepEqual(names(book.categories), ["Books", "Bookshelves"]);
          assert.deepEqual(
            names((await client.ListCategories({ nameContains: "%" })).categories),
            ["100% Cotton"],
          );
          assert.deepEqual(
            names((await client.ListCategories({ nameContains: "_" })).categories),
            ["Empty_Shelf"],
          );
          const paged = await client.ListCategories({
            nameContains: "e",
            page: { page: 2, perPage: 1 },
          });
          assert.deepEqual(names(paged.categories), ["Electronics"]);
          assert.equal(paged.totalCount, 3);
        },
      );

      await t.step("ListCategories rejects a negative page", async () => {
        const error = await grpcError(client.ListCategories({ page: { page: -1, perPage: 5 } }));
        assert.deepEqual(invalidFields(error), [
          { field: "page.page", message: "Must not be negative" },
        ]);
      });

      await t.step(
        "GetProducts returns products with their category and exact prices",
        async () => {
          const list = await client.GetProducts({ ids: [ids.mouse, ids.unknown] });
          assert.deepEqual(list, {
            products: [{
              id: ids.mouse,
              name: "Mouse",
              price: "19.90",
              categoryId: ids.electronics,
              categoryName: "Electronics",
              version: 1,
              createdAt: created,
              updatedAt: updated,
            }],
            totalCount: 1,
          });
          const error = await grpcError(client.GetProducts({ ids: ["1"] }));
          assert.deepEqual(invalidFields(error), [{ field: "ids[0]", message: "Must be a UUID" }]);
        },
      );

      await t.step("ListProducts orders by name and pages", async () => {
        const all = await client.ListProducts({});
        assert.deepEqual(names(all.products), [
          "Atlas",
          "Laptop",
          "Mouse",
          "Mousepad",
          "Novel",
          "T-Shirt",
        ]);
        assert.equal(all.totalCount, 6);
        assert.deepEqual(all.products.map((product) => product.price), [
          "30.00",
          "999.99",
          "19.90",
          "5.00",
          "12.50",
          "15.00",
        ]);
        const page = await client.ListProducts({ page: { page: 2, perPage: 4 } });
        assert.deepEqual(names(page.products), ["Novel", "T-Shirt"]);
        assert.equal(page.totalCount, 6);
      });

      await t.step("ListProducts filters by name, substring and categories", async () => {
        assert.deepEqual(names((await client.ListProducts({ name: "mouse" })).products), [
          "Mouse",
        ]);
        assert.deepEqual(
          names((await client.ListProducts({ nameContains: "MOUSE" })).products),
          ["Mouse", "Mousepad"],
        );
        const books = await client.ListProducts({ categoryIds: [ids.books] });
        assert.deepEqual(names(books.products), ["Atlas", "Novel"]);
        const two = await client.ListProducts({ categoryIds: [ids.books, ids.cotton] });
        assert.deepEqual(names(two.products), ["Atlas", "Novel", "T-Shirt"]);
        assert.equal(two.totalCount, 3);
        const none = await client.ListProducts({ categoryIds: [ids.emptyShelf] });
        assert.deepEqual(none, { products: [], totalCount: 0 });
      });

      await t.step("ListProducts filters by an inclusive price range", async () => {
        const range = await client.ListProducts({ minPrice: "15", maxPrice: "30.00" });
        assert.deepEqual(names(range.products), ["Atlas", "Mouse", "T-Shirt"]);
        assert.equal(range.totalCount, 3);
        assert.deepEqual(
          names((await client.ListProducts({ minPrice: "999.99" })).products),
          ["Laptop"],
        );
        assert.deepEqual(names((await client.ListProducts({ maxPrice: "5" })).products), [
          "Mousepad",
        ]);
        const combined = await client.ListProducts({
          categoryIds: [ids.electronics],
          maxPrice: "20",
          nameContains: "pad",
        });
        assert.deepEqual(names(combined.products), ["Mousepad"]);
        assert.equal((await client.ListProducts({ minPrice: "", maxPrice: " " })).totalCount, 6);
      });

      await t.step("ListProducts rejects bad bounds and category ids, naming each", async () => {
        const error = await grpcError(
          client.ListProducts({ minPrice: "cheap", maxPrice: "-1", categoryIds: ["x"] }),
        );
        assert.deepEqual(invalidFields(error), [
          { field: "categoryIds[0]", message: "Must be a UUID" },
          { field: "minPrice", message: "Must be a decimal number, like 19.99" },
          { field: "maxPrice", message: "Must be a decimal number, like 19.99" },
        ]);
      });

      await t.step(
        "GetCategoryStatistics counts categories with and without products",
        async () => {
          assert.deepEqual(await client.GetCategoryStatistics({}), {
            totalCount: 5,
            withProductsCount: 3,
            emptyCount: 2,
          });
        },
      );

      await t.step("GetProductStatistics computes in decimals", async () => {
        // 12.50 + 30.00 + 999.99 + 19.90 + 5.00 + 15.00 = 1082.39; / 6 = 180.398…
        assert.deepEqual(await client.GetProductStatistics({}), {
          totalCount: 6,
          averagePrice: "180.40",
          totalValue: "1082.39",
          minPrice: "5.00",
          maxPrice: "999.99",
        });
      });

      await t.step("GetCommand returns a command's outcome", async () => {
        const rejected = crypto.randomUUID();
        await recordCommand(db.sql, rejected, {
          status: "REJECTED",
          code: "CATEGORY_NAME_TAKEN",
          message: 'Cannot create category "Books": the name is taken',
        }, false);
        assert.deepEqual(await client.GetCommand({ commandId: rejected.toUpperCase() }), {
          commandId: rejected,
          type: "CreateCategory",
          aggregateId: ids.books,
          status: "REJECTED",
          code: "CATEGORY_NAME_TAKEN",
          message: 'Cannot create category "Books": the name is taken',
          acceptedAt: created,
          handledAt: updated,
        });
      });

      await t.step("GetCommand returns a version conflict with the current version", async () => {
        const conflict = crypto.randomUUID();
        const message = `Cannot update category "${ids.books}": expected version 1, but it is at ` +
          "version 2";
        await recordCommand(db.sql, conflict, {
          status: "REJECTED",
          code: "VERSION_CONFLICT",
          message,
          currentVersion: 2,
        }, false);
        assert.deepEqual(fieldsOf(await client.GetCommand({ commandId: conflict })), {
          commandId: conflict,
          type: "CreateCategory",
          aggregateId: ids.books,
          status: "REJECTED",
          code: "VERSION_CONFLICT",
          message,
          acceptedAt: created,
          handledAt: updated,
          currentVersion: 2,
        });
      });

      await t.step("GetCommand returns an ACCEPTED command, not handled yet", async () => {
        const accepted = crypto.randomUUID();
        await recordCommand(db.sql, accepted, { status: "ACCEPTED" }, false);
        assert.deepEqual(await client.GetCommand({ commandId: accepted }), {
          commandId: accepted,
          type: "CreateCategory",
          aggregateId: ids.books,
          status: "ACCEPTED",
          code: "",
          message: "",
          acceptedAt: created,
          handledAt: "",
        });
      });

      await t.step("GetCommand returns a FAILED command with the reason", async () => {
        const failed = crypto.randomUUID();
        await recordCommand(db.sql, failed, {
          status: "FAILED",
          code: "DEAD_LETTERED",
          message: "Cannot read command: body is not JSON",
        }, false);
        const status = await client.GetCommand({ commandId: failed });
        assert.equal(status.status, "FAILED");
        assert.equal(status.code, "DEAD_LETTERED");
        assert.equal(status.message, "Cannot read command: body is not JSON");
        assert.equal(status.handledAt, updated);
        assert.equal(status.currentVersion, undefined);
      });

      await t.step("GetCommand answers NOT_FOUND for an unknown command", async () => {
        const error = await grpcError(client.GetCommand({ commandId: ids.unknown }));
        assert.equal(error.code, grpc.status.NOT_FOUND);
        assert.match(error.details, new RegExp(ids.unknown));
        const invalid = await grpcError(client.GetCommand({ commandId: "42" }));
        assert.deepEqual(invalidFields(invalid), [
          { field: "commandId", message: "Must be a UUID" },
        ]);
      });

      await t.step("WaitForCommand answers at once for a handled command", async () => {
        const commandId = crypto.randomUUID();
        await recordCommand(db.sql, commandId, { status: "APPLIED" }, false);
        const started = Date.now();
        const status = await client.WaitForCommand({ commandId, timeoutMs: 20_000 });
        assert.equal(status.status, "APPLIED");
        assert.ok(Date.now() - started < 2000);
      });

      await t.step("WaitForCommand resolves when the outcome is notified", async () => {
        const commandId = crypto.randomUUID();
        const started = Date.now();
        const waiting = client.WaitForCommand({ commandId, timeoutMs: 20_000 }, {
          timeoutMs: 25_000,
        });
        await recordCommand(db.sql, commandId, { status: "APPLIED" });
        const status = await waiting;
        assert.equal(status.status, "APPLIED");
        assert.equal(status.commandId, commandId);
        assert.equal(status.aggregateId, ids.books);
        assert.ok(Date.now() - started < 5000, "answered well before its timeout");
      });

      await t.step("WaitForCommand serves many waiters over one LISTEN connection", async () => {
        const commandIds = Array.from({ length: 20 }, () => crypto.randomUUID());
        const waiting = commandIds.map((commandId) =>
          client.WaitForCommand({ commandId, timeoutMs: 20_000 }, { timeoutMs: 25_000 })
        );
        for (const commandId of commandIds) {
          await recordCommand(db.sql, commandId, { status: "APPLIED" });
        }
        const statuses = await Promise.all(waiting);
        assert.deepEqual(statuses.map((status) => status.commandId), commandIds);
        const [row] = await db.sql<{ count: number }[]>`
          select count(*)::int as count from pg_stat_activity
          where datname = ${db.name} and query ilike ${`listen%${commandOutcomeChannel}%`}`;
        assert.equal(row!.count, 1);
      });

      await t.step("WaitForCommand waits past ACCEPTED until the command is handled", async () => {
        const commandId = crypto.randomUUID();
        await recordCommand(db.sql, commandId, { status: "ACCEPTED" }, false);
        let answered = false;
        const waiting = client.WaitForCommand({ commandId, timeoutMs: 20_000 }, {
          timeoutMs: 25_000,
        }).finally(() => answered = true);
        // Woken by a notification while the command is still only ACCEPTED.
        await recordCommand(db.sql, commandId, { status: "ACCEPTED" });
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(answered, false, "an ACCEPTED command does not end the wait");
        await recordCommand(db.sql, commandId, {
          status: "REJECTED",
          code: "VERSION_CONFLICT",
          message: "Stale",
          currentVersion: 4,
        });
        const status = await waiting;
        assert.equal(status.status, "REJECTED");
        assert.equal(status.currentVersion, 4);
        assert.equal(status.handledAt, updated);
      });

      await t.step("WaitForCommand resolves when the command FAILED", async () => {
        const commandId = crypto.randomUUID();
        const waiting = client.WaitForCommand({ commandId, timeoutMs: 20_000 }, {
          timeoutMs: 25_000,
        });
        await recordCommand(db.sql, commandId, {
          status: "FAILED",
          code: "DEAD_LETTERED",
          message: "Cannot read command: body is not JSON",
        });
        const status = await waiting;
        assert.equal(status.status, "FAILED");
        assert.equal(status.message, "Cannot read command: body is not JSON");
      });

      await t.step("WaitForCommand answers the ACCEPTED command when the time is up", async () => {
        const commandId = crypto.randomUUID();
        await recordCommand(db.sql, commandId, { status: "ACCEPTED" });
        const started = Date.now();
        const status = await client.WaitForCommand({ commandId, timeoutMs: 300 });
        const elapsed = Date.now() - started;
        assert.equal(status.status, "ACCEPTED");
        assert.equal(status.handledAt, "");
        assert.equal(status.acceptedAt, created);
        assert.ok(elapsed >= 290 && elapsed < 3000, `answered after ${elapsed} ms`);
      });

      await t.step("WaitForCommand answers PENDING when the time is up", async () => {
        const commandId = crypto.randomUUID();
        const started = Date.now();
        const status = await client.WaitForCommand({ commandId, timeoutMs: 300 });
        const elapsed = Date.now() - started;
        assert.deepEqual(status, {
          commandId,
          type: "",
          aggregateId: "",
          status: "PENDING",
          code: "",
          message: "",
          acceptedAt: "",
          handledAt: "",
        });
        assert.ok(elapsed >= 290 && elapsed < 3000, `answered after ${elapsed} ms`);
      });

      await t.step("WaitForCommand answers before the caller's own deadline", async () => {
        const started = Date.now();
        const status = await client.WaitForCommand(
          { commandId: crypto.randomUUID(), timeoutMs: 20_000 },
          { timeoutMs: 800 },
        );
        assert.equal(status.status, "PENDING");
        assert.ok(Date.now() - started < 800);
      });
    });
  });
});

Deno.test("startQueryService() answers zeros and empty lists from an empty read database", async () => {
  await withReadDatabase(async (db) => {
    await withService(db.url, async ({ client }) => {
      assert.deepEqual(await client.ListCategories({}), { categories: [], totalCount: 0 });
      assert.deepEqual(await client.ListProducts({}), { products: [], totalCount: 0 });
      assert.deepEqual(await client.GetCategoryStatistics({}), {
        totalCount: 0,
        withProductsCount: 0,
        emptyCount: 0,
      });
      assert.deepEqual(await client.GetProductStatistics({}), {
        totalCount: 0,
        averagePrice: "",
        totalValue: "",
        minPrice: "",
        maxPrice: "",
      });
    });
  });
});

Deno.test("startQueryService() stop() answers waiting calls with their status", async () => {
  await withReadDatabase(async (db) => {
    const service = await startQueryService(
      { grpcHost: "127.0.0.1", grpcPort: 0, readDatabaseUrl: db.url },
      { log: () => {} },
    );
    const client = createQueryClient(`127.0.0.1:${service.port}`);
    try {
      const commandId = crypto.randomUUID();
      const waiting = client.WaitForCommand({ commandId, timeoutMs: 20_000 });
      // Nothing else reads command_view here, so once the service has, the call is waiting.
      await eventually("the call reads command_view", async () => {
        const [row] = await db.sql<{ count: number }[]>`
          select count(*)::int as count from pg_stat_activity
          where datname = ${db.name} and application_name = 'catalog-query'
            and query like '%from command_view%'`;
        return row!.count > 0;
      });
      const started = Date.now();
      await service.stop();
      assert.equal((await waiting).status, "PENDING");
      assert.ok(Date.now() - started < 3000);
    } finally {
      client.close();
      await service.stop();
    }
  });
});

Deno.test("startQueryService() starts without its database and reports NOT_SERVING", async () => {
  await withService(`postgres://postgres@127.0.0.1:${freePort()}/nowhere`, async (running) => {
    const { client, address, logs } = running;
    assert.equal(await checkHealth(address, "catalog.v1.QueryService"), "NOT_SERVING");
    const error = await grpcError(client.ListCategories({}));
    assert.equal(error.code, grpc.status.UNAVAILABLE);
    assert.match(error.details, /read database is unavailable/);
    assert.ok(logs.some((line) => line.includes("Cannot reach the read database")));
  });
});

Deno.test("startQueryService() follows the database away and back, LISTEN included", async () => {
  await withReadDatabase(async (db) => {
    const { proxy, url: viaProxy } = TcpProxy.inFrontOf(db.url, 5432);
    try {
      await withService(viaProxy, async ({ client, address }) => {
        const health = () => checkHealth(address, "catalog.v1.QueryService");
        assert.equal(await health(), "NOT_SERVING");

        for (const round of ["first connection", "after an outage"]) {
          proxy.open();
          await eventually(`SERVING (${round})`, async () => await health() === "SERVING");
          const commandId = crypto.randomUUID();
          const waiting = client.WaitForCommand({ commandId, timeoutMs: 10_000 }, {
            timeoutMs: 15_000,
          });
          await recordCommand(db.sql, commandId, { status: "APPLIED" });
          assert.equal((await waiting).status, "APPLIED", round);

          await proxy.cut();
          await eventually(`NOT_SERVING (${round})`, async () => await health() === "NOT_SERVING");
          const error = await grpcError(client.GetCategoryStatistics({}));
          assert.equal(error.code, grpc.status.UNAVAILABLE);
        }
      });
    } finally {
      await proxy.cut();
    }
  });
});
