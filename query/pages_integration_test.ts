import assert from "node:assert/strict";
import type postgres from "postgres";
import {
  type CategoryPage,
  fieldErrorsMetadataKey,
  grpc,
  type PageCategoriesRequest,
  type PageProductsRequest,
  type ProductPage,
} from "@catalog/proto";
import { failureOf } from "@catalog/testkit";
import { withReadDatabase } from "@catalog/testkit";
import { withClient } from "./_testing.ts";

const categoryIds = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
const words = ["anvil", "bolt", "crate", "drill"];

/**
 * 60 products with many ties on every sort key (so that the id decides),
 * timestamps that differ by microseconds only, and names with LIKE wildcards.
 */
async function seedCatalog(sql: postgres.Sql): Promise<void> {
  for (const [index, id] of categoryIds.entries()) {
    await sql`
      insert into category_view (id, name, product_count, version, created_at, updated_at)
      values (${id}, ${`category${index}`}, 0, 1, now(), now())`;
  }
  const rows = Array.from({ length: 60 }, (_, i) => {
    const special = ["100% pure", "under_score", "back\\slash"][i % 20];
    const cents = ((i * 37) % 20) * 125 + 100;
    return {
      id: crypto.randomUUID(),
      name: special ?? `${words[i % 4]}${String(i % 7).padStart(2, "0")}`,
      price: `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")}`,
      category_id: categoryIds[i % 3]!,
      category_name: `category${i % 3}`,
      version: 1,
      created_at: `2025-01-01T00:00:00.${String(i % 9).padStart(6, "0")}Z`,
      updated_at: "2025-01-01T00:00:00Z",
    };
  });
  await sql`insert into product_view ${sql(rows)}`;
  await sql`
    update category_view c set product_count = (
      select count(*) from product_view p where p.category_id = c.id)`;
}

/** Every row of a connection, page by page, checking each page's info on the way. */
async function walk<Page extends ProductPage | CategoryPage>(
  fetchPage: (after: string) => Promise<Page>,
  pageSize: number,
): Promise<{ ids: string[]; pages: Page[] }> {
  const ids: string[] = [];
  const pages: Page[] = [];
  let after = "";
  for (;;) {
    const page = await fetchPage(after);
    pages.push(page);
    ids.push(...page.edges.map((edge) => edge.node.id));
    assert.equal(page.pageInfo.hasPreviousPage, pages.length > 1);
    if (!page.pageInfo.hasNextPage) break;
    assert.equal(page.edges.length, pageSize);
    assert.equal(page.pageInfo.endCursor, page.edges.at(-1)!.cursor);
    after = page.pageInfo.endCursor;
    assert.ok(pages.length < 100, "pages never end");
  }
  return { ids, pages };
}

const columns = { NAME: "name", PRICE: "price", CREATED_AT: "created_at" } as const;

/** The ids one plain ORDER BY gives, with the conditions written without LIKE. */
async function expectedIds(
  sql: postgres.Sql,
  table: "product_view" | "category_view",
  order: { sort: keyof typeof columns; direction: "ASC" | "DESC" },
  filter: { categoryId?: string; minPrice?: string; maxPrice?: string; nameContains?: string } = {},
): Promise<string[]> {
  const conditions = [sql`true`];
  if (filter.categoryId) conditions.push(sql`category_id = ${filter.categoryId}`);
  if (filter.minPrice) conditions.push(sql`price >= ${filter.minPrice}::numeric`);
  if (filter.maxPrice) conditions.push(sql`price <= ${filter.maxPrice}::numeric`);
  if (filter.nameContains) {
    conditions.push(sql`strpos(lower(name), lower(${filter.nameContains})) > 0`);
  }
  const where = conditions.reduce((clause, condition) => sql`${clause} and ${condition}`);
  const direction = order.direction === "DESC" ? sql`desc` : sql`asc`;
  const rows = await sql<{ id: string }[]>`
    select id from ${sql(table)} where ${where}
    order by ${sql(columns[order.sort])} ${direction}, id ${direction}`;
  return rows.map((row) => row.id);
}

function invalidFields(error: grpc.ServiceError): unknown {
  assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
  return JSON.parse(String(error.metadata.get(fieldErrorsMetadataKey)[0]));
}

Deno.test("PageProducts pages through each sort both ways as one ORDER BY does", async () => {
  await withReadDatabase(async (db) => {
    await seedCatalog(db.sql);
    await withClient(db.url, async (client) => {
      for (const sort of ["NAME", "PRICE", "CREATED_AT"] as const) {
        for (const direction of ["ASC", "DESC"] as const) {
          const { ids, pages } = await walk(
            (after) => client.PageProducts({ first: 7, after, sort, direction }),
            7,
          );
          const label = `${sort} ${direction}`;
          assert.deepEqual(
            ids,
            await expectedIds(db.sql, "product_view", { sort, direction }),
            label,
          );
          assert.equal(pages.length, Math.ceil(60 / 7), label);
          assert.ok(pages.every((page) => page.totalCount === 60), label);
        }
      }
    });
  });
});

Deno.test("PageProducts filters by category, price range and name, alone and together", async () => {
  await withReadDatabase(async (db) => {
    await seedCatalog(db.sql);
    await withClient(db.url, async (client) => {
      const filters = [
        { categoryId: categoryIds[1] },
        { minPrice: "5", maxPrice: "12.25" },
        { minPrice: "20.00" },
        { maxPrice: "3.5" },
        { nameContains: "RIL" },
        { nameContains: "%" },
        { nameContains: "_" },
        { nameContains: "\\" },
        { categoryId: categoryIds[2], minPrice: "3", maxPrice: "18", nameContains: "o" },
        { nameContains: "nothing like it" },
      ];
      for (const filter of filters) {
        for (const sort of ["PRICE", "NAME"] as const) {
          const request = (after: string): PageProductsRequest => ({
            first: 4,
            after,
            filter,
            sort,
            direction: "DESC",
          });
          const { ids, pages } = await walk((after) => client.PageProducts(request(after)), 4);
          const expected = await expectedIds(db.sql, "product_view", {
            sort,
            direction: "DESC",
          }, filter);
          const label = JSON.stringify({ filter, sort });
          assert.deepEqual(ids, expected, label);
          assert.ok(pages.every((page) => page.totalCount === expected.length), label);
          // Past the last row: nothing, and still the count.
          const end = pages.at(-1)!.pageInfo.endCursor;
          if (end) {
            const beyond = await client.PageProducts(request(end));
            assert.deepEqual(beyond.edges, [], label);
            assert.equal(beyond.totalCount, expected.length, label);
            assert.equal(beyond.pageInfo.hasPreviousPage, true, label);
          }
        }
      }
      // The wildcards match only names that hold them (products 0, 20 and 40).
      const percent = await client.PageProducts({ filter: { nameContains: "%" } });
      assert.deepEqual(percent.edges.map((edge) => edge.node.name), Array(3).fill("100% pure"));
    });
  });
});

Deno.test("PageProducts keeps its place while rows are inserted and deleted between pages", async () => {
  await withReadDatabase(async (db) => {
    await seedCatalog(db.sql);
    await withClient(db.url, async (client) => {
      const before = await expectedIds(db.sql, "product_view", { sort: "NAME", direction: "ASC" });
      const first = await client.PageProducts({ first: 10, sort: "NAME" });
      const seen = first.edges.map((edge) => edge.node.id);
      assert.deepEqual(seen, before.slice(0, 10));

      // Rows sorting before the cursor (which must not show up), after it
      // (which must), and the cursor's own row deleted.
      const insert = async (name: string) => {
        const [row] = await db.sql<{ id: string }[]>`
          insert into product_view
            (id, name, price, category_id, category_name, version, created_at, updated_at)
          values (gen_random_uuid(), ${name}, 1.00, ${categoryIds[
          0
        ]!}, 'category0', 1, now(), now())
          returning id`;
        return row!.id;
      };
      const early = await insert("aaaa early");
      const late = await insert("zzzz late");
      const cursorRow = seen.at(-1)!;
      await db.sql`delete from product_view where id = ${cursorRow}`;

      const ids: string[] = [];
      let after = first.pageInfo.endCursor;
      for (let more = true; more;) {
        const page = await client.PageProducts({ first: 10, sort: "NAME", after });
        assert.equal(page.pageInfo.hasPreviousPage, true);
        ids.push(...page.edges.map((edge) => edge.node.id));
        after = page.pageInfo.endCursor;
        more = page.pageInfo.hasNextPage;
      }
      assert.deepEqual(ids, [...before.slice(10), late]);
      assert.ok(!ids.includes(early));
      assert.ok(ids.every((id) => !seen.includes(id)), "no row of the first page repeats");
    });
  });
});

Deno.test("PageProducts answers first: 0 with the count only", async () => {
  await withReadDatabase(async (db) => {
    await seedCatalog(db.sql);
    await withClient(db.url, async (client) => {
      const page = await client.PageProducts({ first: 0, filter: { categoryId: categoryIds[0] } });
      assert.deepEqual(page.edges, []);
      assert.equal(page.totalCount, 20);
      assert.equal(page.pageInfo.hasNextPage, true);
      assert.equal(page.pageInfo.endCursor, "");
      const defaults = await client.PageProducts({});
      assert.equal(defaults.edges.length, 20);
      assert.equal(defaults.totalCount, 60);
    });
  });
});

Deno.test("PageProducts refuses bad arguments, naming each", async () => {
  await withReadDatabase(async (db) => {
    await seedCatalog(db.sql);
    await withClient(db.url, async (client) => {
      const page = await client.PageProducts({ first: 1, sort: "PRICE" });
      const priceCursor = page.pageInfo.endCursor;
      const cases: [PageProductsRequest, unknown][] = [
        [{ first: 101 }, [{ field: "first", message: "Must be from 0 to 100" }]],
        [{ first: -1 }, [{ field: "first", message: "Must be from 0 to 100" }]],
        [{ after: "not a cursor" }, [{
          field: "after",
          message: "Must be a cursor this list gave (an edge's cursor or pageInfo.endCursor)",
        }]],
        [{ after: priceCursor, sort: "NAME" }, [{
          field: "after",
          message: "Must be a cursor of a list sorted by NAME; this one is of one sorted by PRICE",
        }]],
        [{ filter: { minPrice: "10.5", maxPrice: "9.99" } }, [{
          field: "filter.minPrice",
          message: "Must not exceed filter.maxPrice (10.5 > 9.99)",
        }]],
        [{ filter: { categoryId: "books", minPrice: "cheap" } }, [
          { field: "filter.categoryId", message: "Must be a UUID" },
          { field: "filter.minPrice", message: "Must be a decimal number, like 19.99" },
        ]],
        [{ sort: "POPULARITY" as "NAME", direction: "UP" as "ASC" }, [
          { field: "sort", message: "Must be one of NAME, PRICE, CREATED_AT" },
          { field: "direction", message: "Must be ASC or DESC" },
        ]],
        [{ filter: { nameContains: "x".repeat(201) } }, [{
          field: "filter.nameContains",
          message: "Must be at most 200 characters",
        }]],
      ];
      for (const [request, fields] of cases) {
        const error = await failureOf<grpc.ServiceError>(client.PageProducts(request));
        assert.deepEqual(invalidFields(error), fields, JSON.stringify(request));
        assert.match(error.details, /^Cannot page products: /);
      }
    });
  });
});

Deno.test("PageCategories pages by name and creation time, filtered by name", async () => {
  await withReadDatabase(async (db) => {
    const names = ["Books", "bookends", "Garden", "Toys", "Tools", "100% Cotton", "E_Books"];
    for (const [index, name] of names.entries()) {
      await db.sql`
        insert into category_view (id, name, product_count, version, created_at, updated_at)
        values (gen_random_uuid(), ${name}, ${index % 2}, 1,
          ${`2025-01-01T00:00:00.00000${index % 3}Z`}, now())`;
    }
    await withClient(db.url, async (client) => {
      const cases: { sort: "NAME" | "CREATED_AT"; nameContains?: string }[] = [
        { sort: "NAME" },
        { sort: "CREATED_AT" },
        { sort: "NAME", nameContains: "BOOK" },
        { sort: "CREATED_AT", nameContains: "o" },
        { sort: "NAME", nameContains: "_" },
      ];
      for (const { sort, nameContains } of cases) {
        for (const direction of ["ASC", "DESC"] as const) {
          const request = (after: string): PageCategoriesRequest => ({
            first: 2,
            after,
            sort,
            direction,
            filter: nameContains === undefined ? {} : { nameContains },
          });
          const { ids, pages } = await walk((after) => client.PageCategories(request(after)), 2);
          const expected = await expectedIds(db.sql, "category_view", { sort, direction }, {
            nameContains,
          });
          const label = JSON.stringify({ sort, direction, nameContains });
          assert.deepEqual(ids, expected, label);
          assert.ok(pages.every((page) => page.totalCount === expected.length), label);
        }
      }
      const error = await failureOf<grpc.ServiceError>(
        client.PageCategories({ first: 500, sort: "PRICE" as "NAME" }),
      );
      assert.deepEqual(invalidFields(error), [
        { field: "first", message: "Must be from 0 to 100" },
        { field: "sort", message: "Must be one of NAME, CREATED_AT" },
      ]);
      assert.match(error.details, /^Cannot page categories: /);
    });
  });
});
