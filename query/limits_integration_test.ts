import assert from "node:assert/strict";
import type postgres from "postgres";
import {
  fieldErrorsMetadataKey,
  grpc,
  type ListTooLong,
  listTooLongMetadataKey,
  serviceNames,
  statusOriginMetadataKey,
} from "@catalog/proto";
import { eventually, failureOf, withReadDatabase } from "@catalog/testkit";
import { withClient } from "./_testing.ts";

const LIMIT = 5;
const tools = crypto.randomUUID();
const toys = crypto.randomUUID();

/** Categories "Category 1" to "Category <count>", each with no products. */
async function addCategories(sql: postgres.Sql, count: number, from = 1): Promise<void> {
  await sql`
    insert into category_view (id, name, product_count, version, created_at, updated_at)
    select gen_random_uuid(), 'Category ' || i, 0, 1, now(), now()
    from generate_series(${from}::int, ${from + count - 1}::int) i`;
}

/** count products named "<prefix> <n>" in the category. */
async function addProducts(
  sql: postgres.Sql,
  category: { id: string; name: string },
  count: number,
  prefix: string,
): Promise<void> {
  await sql`
    insert into product_view
      (id, name, price, category_id, category_name, version, created_at, updated_at)
    select gen_random_uuid(), ${prefix} || ' ' || i, 9.99, ${category.id}, ${category.name}, 1,
      now(), now()
    from generate_series(1, ${count}::int) i`;
}

async function seedShelves(sql: postgres.Sql): Promise<void> {
  await sql`
    insert into category_view (id, name, product_count, version, created_at, updated_at)
    values (${tools}, 'Tools', 3, 1, now(), now()), (${toys}, 'Toys', 3, 1, now(), now())`;
  await addProducts(sql, { id: tools, name: "Tools" }, 3, "Hammer");
  await addProducts(sql, { id: toys, name: "Toys" }, 3, "Kite");
}

function grpcError(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  return failureOf<grpc.ServiceError>(promise);
}

/** The list a FAILED_PRECONDITION refused, as its trailer says, after checking it is the service's own. */
function refusedList(error: grpc.ServiceError): ListTooLong {
  assert.equal(error.code, grpc.status.FAILED_PRECONDITION, error.details);
  assert.equal(error.metadata.get(statusOriginMetadataKey)[0], serviceNames.query);
  return JSON.parse(String(error.metadata.get(listTooLongMetadataKey)[0]));
}

function invalidFields(error: grpc.ServiceError): unknown {
  assert.equal(error.code, grpc.status.INVALID_ARGUMENT, error.details);
  return JSON.parse(String(error.metadata.get(fieldErrorsMetadataKey)[0]));
}

/**
 * Holds an ACCESS EXCLUSIVE lock on the table until release() is called:
 * every read of it waits meanwhile, like a read stuck behind a slow migration.
 */
async function lockTable(sql: postgres.Sql, table: string): Promise<() => Promise<void>> {
  const locked = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const transaction = sql.begin(async (tx) => {
    await tx`lock table ${tx(table)} in access exclusive mode`;
    locked.resolve();
    await release.promise;
  });
  transaction.catch(locked.reject);
  await locked.promise;
  return async () => {
    release.resolve();
    await transaction;
  };
}

/** How many of the query service's statements are waiting for a lock right now. */
async function waitingOnLocks(sql: postgres.Sql): Promise<number> {
  const [row] = await sql<{ count: number }[]>`
    select count(*)::int as count from pg_stat_activity
    where datname = current_database() and application_name = 'catalog-query'
      and wait_event_type = 'Lock'`;
  return row?.count ?? 0;
}

/** PostgreSQL's own words for a cancelled statement or a lock, which no caller may see. */
const POSTGRES_TEXT = /canceling statement|statement timeout|statement_timeout|lock|57014/i;

Deno.test("ListProducts and ListCategories serve MAX_LIST_ITEMS rows, and refuse one more with the page to use", async () => {
  await withReadDatabase(async (db) => {
    await addCategories(db.sql, LIMIT);
    await addProducts(db.sql, await firstCategory(db.sql), LIMIT, "Lamp");
    await withClient(db.url, async (client) => {
      const categories = await client.ListCategories({});
      assert.equal(categories.categories.length, LIMIT);
      assert.equal(categories.totalCount, LIMIT);
      const products = await client.ListProducts({});
      assert.equal(products.products.length, LIMIT);
      assert.equal((await client.ListProducts({ nameContains: "lamp" })).products.length, LIMIT);

      await addCategories(db.sql, 1, LIMIT + 1);
      await addProducts(db.sql, await firstCategory(db.sql), 1, "Lamp extra");

      const tooManyCategories = await grpcError(client.ListCategories({}));
      assert.deepEqual(refusedList(tooManyCategories), { entity: "categories", limit: LIMIT });
      assert.equal(
        tooManyCategories.details,
        `Cannot list categories: more than ${LIMIT} match, the most an unpaged list answers; ` +
          "page through them with PageCategories",
      );
      const tooManyProducts = await grpcError(client.ListProducts({}));
      assert.deepEqual(refusedList(tooManyProducts), { entity: "products", limit: LIMIT });
      assert.match(tooManyProducts.details, /page through them with PageProducts$/);
      // A search is an unpaged list too.
      const search = await grpcError(client.ListProducts({ nameContains: "LAMP" }));
      assert.deepEqual(refusedList(search), { entity: "products", limit: LIMIT });
      const categorySearch = await grpcError(client.ListCategories({ nameContains: "category" }));
      assert.deepEqual(refusedList(categorySearch), { entity: "categories", limit: LIMIT });
      // A narrower search and a page of the long list are still served.
      assert.deepEqual(
        (await client.ListProducts({ nameContains: "extra" })).products.map((p) => p.name),
        ["Lamp extra 1"],
      );
      const page = await client.ListCategories({ page: { page: 2, perPage: LIMIT } });
      assert.deepEqual(page.categories.map((c) => c.name), ["Category 6"]);
      assert.equal(page.totalCount, LIMIT + 1);
    }, { maxListItems: LIMIT });
  });
});

async function firstCategory(sql: postgres.Sql): Promise<{ id: string; name: string }> {
  const [row] = await sql<{ id: string; name: string }[]>`
    select id, name from category_view order by name limit 1`;
  return row!;
}

Deno.test("ListProducts with categoryIds counts the products of all the categories together", async () => {
  await withReadDatabase(async (db) => {
    await seedShelves(db.sql);
    await withClient(db.url, async (client) => {
      // Three each: one category at a time fits, both together (six) do not.
      const one = await client.ListProducts({ categoryIds: [tools] });
      assert.deepEqual(one.products.map((p) => p.name), ["Hammer 1", "Hammer 2", "Hammer 3"]);
      const both = await grpcError(client.ListProducts({ categoryIds: [tools, toys] }));
      assert.deepEqual(refusedList(both), {
        entity: "products",
        limit: LIMIT,
        categoryCount: 2,
      });
      assert.equal(
        both.details,
        `Cannot list the products of 2 categories: together they have more than ${LIMIT}, ` +
          "the most an unpaged list answers; page through each category's products with " +
          "PageProducts (filter.categoryId)",
      );
      await addProducts(db.sql, { id: tools, name: "Tools" }, 3, "Saw");
      const alone = await grpcError(client.ListProducts({ categoryIds: [tools] }));
      assert.deepEqual(refusedList(alone), { entity: "products", limit: LIMIT, categoryCount: 1 });
      assert.match(alone.details, /^Cannot list the products of 1 category: it has more than 5,/);
    }, { maxListItems: LIMIT });
  });
});

Deno.test("ListProducts and ListCategories refuse a page larger than an unpaged list may be", async () => {
  await withReadDatabase(async (db) => {
    await seedShelves(db.sql);
    await withClient(db.url, async (client) => {
      const products = await grpcError(
        client.ListProducts({ page: { page: 1, perPage: LIMIT + 1 } }),
      );
      assert.deepEqual(invalidFields(products), [
        { field: "page.perPage", message: `Must be at most ${LIMIT}` },
      ]);
      const categories = await grpcError(
        client.ListCategories({ page: { page: 1, perPage: LIMIT + 1 } }),
      );
      assert.deepEqual(invalidFields(categories), [
        { field: "page.perPage", message: `Must be at most ${LIMIT}` },
      ]);
      const page = await client.ListProducts({ page: { page: 1, perPage: LIMIT } });
      assert.equal(page.products.length, LIMIT);
      assert.equal(page.totalCount, 6);
    }, { maxListItems: LIMIT });
  });
});

Deno.test("ListProducts and ListCategories refuse a search term longer than any name", async () => {
  await withReadDatabase(async (db) => {
    await seedShelves(db.sql);
    await withClient(db.url, async (client) => {
      const products = await grpcError(client.ListProducts({ nameContains: "k".repeat(201) }));
      assert.deepEqual(invalidFields(products), [
        { field: "nameContains", message: "Must be at most 200 characters" },
      ]);
      assert.match(products.details, /^Cannot list products: nameContains: /);
      const categories = await grpcError(
        client.ListCategories({ nameContains: "t".repeat(101) }),
      );
      assert.deepEqual(invalidFields(categories), [
        { field: "nameContains", message: "Must be at most 100 characters" },
      ]);
      // At the longest name's length, a search runs (and here finds nothing).
      assert.deepEqual(
        (await client.ListProducts({ nameContains: "k".repeat(200) })).products,
        [],
      );
      assert.deepEqual(
        (await client.ListCategories({ nameContains: "t".repeat(100) })).categories,
        [],
      );
    });
  });
});

Deno.test("a read stopped by the statement timeout is DEADLINE_EXCEEDED, without PostgreSQL's words", async () => {
  await withReadDatabase(async (db) => {
    await seedShelves(db.sql);
    const logs: string[] = [];
    await withClient(db.url, async (client) => {
      const release = await lockTable(db.sql, "product_view");
      try {
        const started = performance.now();
        const list = await grpcError(client.ListProducts({}, { timeoutMs: 10_000 }));
        const elapsed = performance.now() - started;
        assert.equal(list.code, grpc.status.DEADLINE_EXCEEDED, list.details);
        assert.equal(list.metadata.get(statusOriginMetadataKey)[0], serviceNames.query);
        assert.equal(
          list.details,
          "Cannot answer ListProducts: the read took longer than 200 ms and was stopped",
        );
        assert.doesNotMatch(list.details, POSTGRES_TEXT);
        assert.ok(elapsed >= 190 && elapsed < 5_000, `answered after ${elapsed} ms`);
        // A page's statements run in a transaction: the same answer.
        const page = await grpcError(
          client.PageProducts({ first: 2, filter: { nameContains: "kite" } }, {
            timeoutMs: 10_000,
          }),
        );
        assert.equal(page.code, grpc.status.DEADLINE_EXCEEDED, page.details);
        assert.equal(
          page.details,
          "Cannot answer PageProducts: the read took longer than 200 ms and was stopped",
        );
        // What PostgreSQL said is for the operator's log.
        assert.ok(
          logs.some((line) => /^ListProducts failed: .*statement timeout/.test(line)),
          logs.join("\n"),
        );
      } finally {
        await release();
      }
      // Nothing lingers: the next read is served at once.
      assert.equal((await client.ListProducts({})).products.length, 6);
    }, { statementTimeoutMs: 200, log: (line) => logs.push(line) });
  });
});

Deno.test("a read whose call is cancelled stops in the database, long before its statement timeout", async () => {
  await withReadDatabase(async (db) => {
    await seedShelves(db.sql);
    const logs: string[] = [];
    await withClient(db.url, async (client) => {
      const release = await lockTable(db.sql, "product_view");
      try {
        const calls = [
          client.ListProducts({}, { timeoutMs: 500 }),
          client.PageProducts({ first: 2 }, { timeoutMs: 500 }),
          client.GetProducts({ ids: [crypto.randomUUID()] }, { timeoutMs: 500 }),
        ];
        await eventually(
          "the three reads to wait for the lock",
          async () => await waitingOnLocks(db.sql) === 3,
          3_000,
        );
        const errors = await Promise.all(calls.map(grpcError));
        for (const error of errors) assert.equal(error.code, grpc.status.DEADLINE_EXCEEDED);
        // Still locked, and the statement timeout (30 s) far away: only the
        // cancellation can have ended them.
        await eventually(
          "the cancelled reads to stop",
          async () => await waitingOnLocks(db.sql) === 0,
          3_000,
        );
      } finally {
        await release();
      }
      assert.equal((await client.ListProducts({})).products.length, 6);
      for (const method of ["ListProducts", "PageProducts", "GetProducts"]) {
        assert.ok(
          logs.includes(`${method} cancelled by its caller; its reads were stopped`),
          method,
        );
      }
    }, { statementTimeoutMs: 30_000, log: (line) => logs.push(line) });
  });
});
