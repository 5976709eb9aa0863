import assert from "node:assert/strict";
import postgres from "postgres";
import type { QueryClient } from "@catalog/proto";
import { type ReadDatabase, withReadDatabase } from "@catalog/testkit";
import { withClient } from "./_testing.ts";

/** The figures counted from the views themselves, as the service used to at every request. */
async function scanned(sql: postgres.Sql) {
  const [products] = await sql`
    select
      count(*)::int as "totalCount",
      coalesce(round(avg(price), 2)::text, '') as "averagePrice",
      coalesce(sum(price)::text, '') as "totalValue",
      coalesce(min(price)::text, '') as "minPrice",
      coalesce(max(price)::text, '') as "maxPrice"
    from product_view`;
  const [categories] = await sql`
    select
      count(*)::int as "totalCount",
      (count(*) filter (where product_count > 0))::int as "withProductsCount",
      (count(*) filter (where product_count = 0))::int as "emptyCount"
    from category_view`;
  return { products: { ...products }, categories: { ...categories } };
}

/** Checks that the service's figures are those of a scan, and returns them. */
async function agree(client: QueryClient, sql: postgres.Sql, label: string) {
  const expected = await scanned(sql);
  const actual = {
    products: await client.GetProductStatistics({}),
    categories: await client.GetCategoryStatistics({}),
  };
  assert.deepEqual(actual, expected, label);
  return actual;
}

async function addCategory(sql: postgres.Sql, name: string): Promise<string> {
  const [row] = await sql<{ id: string }[]>`
    insert into category_view (id, name, product_count, version, created_at, updated_at)
    values (gen_random_uuid(), ${name}, 0, 1, now(), now()) returning id`;
  return row!.id;
}

/** Adds products as the projector does: the row, then the category's product_count. */
async function addProducts(sql: postgres.Sql, categoryId: string, prices: string[]) {
  await sql.begin(async (tx) => {
    for (const price of prices) {
      await tx`
        insert into product_view
          (id, name, price, category_id, category_name, version, created_at, updated_at)
        select gen_random_uuid(), ${`p${price}`}, ${price}::numeric, id, name, 1, now(), now()
        from category_view where id = ${categoryId}`;
      await tx`update category_view set product_count = product_count + 1 where id = ${categoryId}`;
    }
  });
}

async function recount(sql: postgres.Sql, categoryId: string) {
  await sql`
    update category_view set product_count =
      (select count(*) from product_view where category_id = ${categoryId})
    where id = ${categoryId}`;
}

Deno.test("GetProductStatistics and GetCategoryStatistics follow every change of the views", async () => {
  await withReadDatabase(async (db: ReadDatabase) => {
    const { sql } = db;
    await withClient(db.url, async (client) => {
      const empty = await agree(client, sql, "empty");
      assert.equal(empty.products.totalValue, "");

      const books = await addCategory(sql, "Books");
      const toys = await addCategory(sql, "Toys");
      await addCategory(sql, "Empty");
      await addProducts(sql, books, ["12.50", "30.00", "5.00"]);
      await addProducts(sql, toys, ["999.99", "0.01", "19.90"]);
      const added = await agree(client, sql, "after inserts");
      assert.deepEqual(added.categories, { totalCount: 3, withProductsCount: 2, emptyCount: 1 });
      assert.equal(added.products.minPrice, "0.01");

      await sql`update product_view set price = 1000.00 where price = 5.00`;
      await sql`update product_view set price = 0.50 where price = 0.01`;
      const repriced = await agree(client, sql, "after a new highest and lowest price");
      assert.equal(repriced.products.maxPrice, "1000.00");
      assert.equal(repriced.products.minPrice, "0.50");

      await sql`delete from product_view where price in (1000.00, 0.50)`;
      await recount(sql, books);
      await recount(sql, toys);
      const deleted = await agree(client, sql, "after deleting the highest and lowest");
      assert.equal(deleted.products.maxPrice, "999.99");

      // A rename touches every product of the category and none of the figures.
      await sql`update product_view set category_name = 'Novels' where category_id = ${books}`;
      await agree(client, sql, "after a rename");

      await sql`update product_view set category_id = ${toys}, category_name = 'Toys'`;
      await recount(sql, books);
      await recount(sql, toys);
      const moved = await agree(client, sql, "after moving every product to Toys");
      assert.equal(moved.categories.withProductsCount, 1);

      await sql`delete from category_view where id = ${books}`;
      await agree(client, sql, "after deleting a category");

      await sql`delete from product_view`;
      await recount(sql, toys);
      const none = await agree(client, sql, "after deleting every product");
      assert.equal(none.products.averagePrice, "");

      await addProducts(sql, toys, ["7.00"]);
      await sql`truncate product_view, category_view`;
      await agree(client, sql, "after a truncate");
    });
  });
});

Deno.test("GetProductStatistics adds up writers that run at the same time", async () => {
  await withReadDatabase(async (db: ReadDatabase) => {
    const category = await addCategory(db.sql, "Shared");
    const writers = Array.from({ length: 4 }, () => postgres(db.url, { max: 1 }));
    try {
      await Promise.all(writers.map((writer, w) =>
        (async () => {
          for (let round = 0; round < 10; round++) {
            const price = `${w + 1}.${String(round).padStart(2, "0")}`;
            await addProducts(writer, category, [price, "0.99"]);
            if (round % 3 === 2) {
              await writer`delete from product_view where price = ${price}::numeric`;
              await writer`update category_view set product_count = product_count - 1
                where id = ${category}`;
            }
          }
        })()
      ));
    } finally {
      await Promise.all(writers.map((writer) => writer.end({ timeout: 1 })));
    }
    await withClient(db.url, async (client) => {
      const figures = await agree(client, db.sql, "after concurrent writers");
      assert.equal(figures.products.totalCount, 4 * (10 * 2 - 3));
    });
  });
});
