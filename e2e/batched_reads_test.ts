import assert from "node:assert/strict";
import postgres from "postgres";
import { type QueryClient } from "@catalog/proto";
import { createQueryClient } from "@catalog/runtime";
import { defaultConfig } from "../gateway/config.ts";
import { type CommandCalls, commandMethods, type QueryCalls } from "../gateway/context.ts";
import { createGateway } from "../gateway/gateway.ts";
import { startQueryService } from "../query/service.ts";
import { migrate } from "../worker/migrate.ts";
import { createDatabase } from "@catalog/testkit";

/**
 * The gateway in process over the real query service and read database,
 * counting the gRPC calls each GraphQL request makes: resolving a list's
 * categories or products must cost one call per entity type, whatever the
 * number of rows.
 */

const CATEGORIES = 12;
const PRODUCTS_PER_CATEGORY = 10;

/** The query client, counting calls per method into calls. */
function counting(client: QueryClient, calls: Map<string, number>): QueryCalls {
  return new Proxy(client, {
    get(target, method: string) {
      const call = target[method as keyof QueryClient];
      if (typeof call !== "function") return call;
      return (...args: unknown[]) => {
        calls.set(method, (calls.get(method) ?? 0) + 1);
        return (call as (...args: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** A command service that is never called by these reads. */
const noCommands = Object.fromEntries(
  commandMethods.map((method) => [method, () => Promise.reject(new Error(`Unexpected ${method}`))]),
) as unknown as CommandCalls;

/** Categories "c00".."c11" (two of them empty) with ten products each, straight into the views. */
async function seed(sql: postgres.Sql): Promise<void> {
  await sql`
    insert into category_view (id, name, product_count, version, created_at, updated_at)
    select gen_random_uuid(), 'c' || lpad(i::text, 2, '0'),
      case when i < ${CATEGORIES - 2} then ${PRODUCTS_PER_CATEGORY} else 0 end, 1, now(), now()
    from generate_series(0, ${CATEGORIES - 1}) i`;
  await sql`
    insert into product_view
      (id, name, price, category_id, category_name, version, created_at, updated_at)
    select gen_random_uuid(), c.name || '-p' || j, j + 0.99, c.id, c.name, 1, now(), now()
    from category_view c, generate_series(1, ${PRODUCTS_PER_CATEGORY}) j
    where c.product_count > 0`;
}

Deno.test("the gateway resolves nested categories and products in one batched call per type", async (t) => {
  await using write = await createDatabase("catalog_write_batched");
  await using read = await createDatabase("catalog_read_batched", { server: "read" });
  await migrate({ writeUrl: write.url, readUrl: read.url });
  const sql = postgres(read.url, { max: 2, onnotice: () => {} });
  const service = await startQueryService(
    { grpcHost: "127.0.0.1", grpcPort: 0, readDatabaseUrl: read.url },
    { log: () => {} },
  );
  const client = createQueryClient(`127.0.0.1:${service.port}`);
  try {
    await seed(sql);
    const calls = new Map<string, number>();
    const gateway = createGateway({
      commands: noCommands,
      queries: counting(client, calls),
      config: defaultConfig,
      checkBackend: () => Promise.resolve("SERVING"),
      logging: false,
    });
    const countCalls = async <T>(query: string): Promise<{ data: T; calls: object }> => {
      calls.clear();
      const response = await gateway.fetch(
        new Request("http://localhost/graphql", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ query }),
        }),
      );
      const body = await response.json();
      assert.equal(body.errors, undefined, JSON.stringify(body.errors));
      return { data: body.data as T, calls: Object.fromEntries(calls) };
    };
    const productCount = (CATEGORIES - 2) * PRODUCTS_PER_CATEGORY;

    await t.step("products { category { id name } } costs one ListProducts", async () => {
      const { data, calls } = await countCalls<{
        products: { name: string; category: { name: string } }[];
      }>("{ products { id name price category { id name } } }");
      assert.equal(data.products.length, productCount);
      for (const product of data.products) {
        assert.ok(product.name.startsWith(`${product.category.name}-p`), product.name);
      }
      // The category's id and name come with the product's row.
      assert.deepEqual(calls, { ListProducts: 1 });
    });

    await t.step("products { category } costs one ListProducts and one GetCategories", async () => {
      const { data, calls } = await countCalls<{
        products: { name: string; category: { name: string; productCount: number } }[];
      }>("{ products { id name price category { id name productCount } } }");
      assert.equal(data.products.length, productCount);
      for (const product of data.products) {
        assert.ok(product.name.startsWith(`${product.category.name}-p`), product.name);
        assert.equal(product.category.productCount, PRODUCTS_PER_CATEGORY);
      }
      assert.deepEqual(calls, { ListProducts: 1, GetCategories: 1 });
    });

    await t.step("categories { products { category } } costs one call per type", async () => {
      const { data, calls } = await countCalls<{
        categories: { name: string; products: { category: { name: string } }[] }[];
      }>("{ categories { id name products { id name category { name } } } }");
      assert.equal(data.categories.length, CATEGORIES);
      assert.equal(data.categories.flatMap((category) => category.products).length, productCount);
      for (const category of data.categories) {
        assert.ok(category.products.every((product) => product.category.name === category.name));
      }
      assert.deepEqual(calls, { ListCategories: 1, ListProducts: 1 });
    });

    await t.step(
      "the seed's combined request costs one call per list",
      async () => {
        const { data, calls } = await countCalls<{ categories: unknown[]; products: unknown[] }>(
          "{ categories { id name } products { id name price category { id name } } }",
        );
        assert.equal(data.categories.length, CATEGORIES);
        assert.equal(data.products.length, productCount);
        assert.deepEqual(calls, { ListCategories: 1, ListProducts: 1 });
      },
    );

    await t.step("productsConnection { nodes { category } } costs one call per type", async () => {
      const { data, calls } = await countCalls<{
        productsConnection: { nodes: { name: string; category: { name: string } }[] };
      }>("{ productsConnection(first: 100) { nodes { name category { name } } } }");
      const nodes = data.productsConnection.nodes;
      assert.equal(nodes.length, productCount);
      assert.ok(nodes.every((node) => node.name.startsWith(`${node.category.name}-p`)));
      assert.deepEqual(calls, { PageProducts: 1 });
    });

    await t.step(
      "categoriesConnection { edges { node { products } } } costs one call per type",
      async () => {
        const { data, calls } = await countCalls<{
          categoriesConnection: {
            edges: { node: { products: { category: { name: string } }[] } }[];
          };
        }>(
          "{ categoriesConnection(first: 100) { edges { node { name products { category { name } } } } } }",
        );
        const products = data.categoriesConnection.edges.flatMap((edge) => edge.node.products);
        assert.equal(products.length, productCount);
        assert.deepEqual(calls, { PageCategories: 1, ListProducts: 1 });
      },
    );
  } finally {
    client.close();
    await service.stop();
    await sql.end({ timeout: 1 });
  }
});
