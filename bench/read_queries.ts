/**
 * Read-side benchmark: loads 100,000 products into a throwaway read database,
 * starts the query service on loopback, and times a name search and filtered,
 * sorted keyset pages through its gRPC API, each after a warm-up. Prints the
 * plans PostgreSQL chooses (EXPLAIN ANALYZE) and writes the figures to
 * bench/results/read_queries.json and .md. The database is dropped at the end.
 *
 *   deno task bench:reads
 *
 * Reads BENCH_PRODUCTS (default 100000), BENCH_ITERATIONS (default 500) and
 * the developer's READ_DATABASE_URL (the server the database goes on).
 */
import postgres from "postgres";
import { type PageProductsRequest, type QueryClient, type QueryRequests } from "@catalog/proto";
import { createQueryClient } from "@catalog/runtime";
import { createDatabase, formatGenerated } from "@catalog/testkit";
import { getProductStatistics, listProducts, pageProducts } from "../query/products.ts";
import { startQueryService } from "../query/service.ts";
import { applyMigrations } from "../worker/migrate.ts";

const PRODUCTS = Number(Deno.env.get("BENCH_PRODUCTS") ?? 100_000);
const ITERATIONS = Number(Deno.env.get("BENCH_ITERATIONS") ?? 500);
const WARM_UP = 50;
const CATEGORIES = 200;
const TARGET_MS = 20;

const materials = ["Oak", "Walnut", "Steel", "Brass", "Linen", "Wool", "Glass", "Clay", "Cork"];
const items = ["Desk", "Chair", "Stool", "Lamp", "Shelf", "Rug", "Vase", "Bowl", "Clock", "Mirror"];

const results = new URL("./results/", import.meta.url);

/** The query service methods the scenarios call, and their handler functions. */
type Method = "ListProducts" | "PageProducts" | "GetProductStatistics";

const handlers: {
  [M in Method]: (sql: postgres.Sql, request: QueryRequests[M]) => Promise<unknown>;
} = {
  ListProducts: listProducts,
  PageProducts: pageProducts,
  GetProductStatistics: (sql) => getProductStatistics(sql),
};

/** One timed scenario: a query service call, and the SQL it runs, for EXPLAIN. */
interface Scenario {
  name: string;
  /** Through the gRPC API. */
  call: (client: QueryClient) => Promise<unknown>;
  /** The handler function itself, on a pool of its own: the cost without gRPC. */
  handle: (sql: postgres.Sql) => Promise<unknown>;
  explain: string;
}

/** Percentiles of one way of calling, in ms. */
interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

interface Figures extends Percentiles {
  name: string;
  iterations: number;
  /** The same, calling the handler function directly (no gRPC). */
  handler: Percentiles;
  plan: string;
}

/**
 * Loads the catalog in two statements: categories, then products spread over
 * them with names like "Walnut Stool 004217", prices from 0.01 to 999.99 and
 * creation times one second apart. The statistics triggers run once per statement.
 */
async function load(sql: postgres.Sql): Promise<void> {
  await sql`
    insert into category_view (id, name, product_count, version, created_at, updated_at)
    select gen_random_uuid(), 'Category ' || lpad(i::text, 3, '0'), 0, 1,
      now() - i * interval '1 minute', now()
    from generate_series(1, ${CATEGORIES}) i`;
  await sql`
    with categories as (
      select id, name, row_number() over (order by name) - 1 as n from category_view
    )
    insert into product_view
      (id, name, price, category_id, category_name, version, created_at, updated_at)
    select gen_random_uuid(),
      (${materials}::text[])[1 + i % ${materials.length}] || ' ' ||
        (${items}::text[])[1 + (i / ${materials.length}) % ${items.length}] || ' ' ||
        lpad(i::text, 6, '0'),
      (1 + (i * 7919) % 99999) / 100.0,
      c.id, c.name, 1, timestamptz '2025-01-01' + i * interval '1 second', now()
    from generate_series(1, ${PRODUCTS}) i
    join categories c on c.n = i % ${CATEGORIES}`;
  await sql`
    update category_view c set product_count = counts.n
    from (select category_id, count(*) as n from product_view group by category_id) counts
    where counts.category_id = c.id`;
  await sql`vacuum analyze product_view`;
  await sql`vacuum analyze category_view`;
}

function percentile(sorted: number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)]!;
}

const round = (ms: number) => Math.round(ms * 100) / 100;

async function measure(run: () => Promise<unknown>): Promise<Percentiles> {
  for (let i = 0; i < WARM_UP; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < ITERATIONS; i++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return {
    p50: round(percentile(times, 50)),
    p90: round(percentile(times, 90)),
    p99: round(percentile(times, 99)),
    max: round(times.at(-1)!),
  };
}

/** The plan of a statement as one line: its nodes and the indexes they use, and the time. */
async function planOf(sql: postgres.Sql, statement: string): Promise<string> {
  const rows = await sql.unsafe<{ "QUERY PLAN": string }[]>(
    `explain (analyze, costs off, timing on, summary on) ${statement}`,
  );
  const lines = rows.map((row) => row["QUERY PLAN"]);
  const nodes = lines
    .filter((line) => /Scan|Sort|Limit|Aggregate|BitmapAnd|Nested Loop/.test(line))
    .map((line) => line.trim().replace(/^->\s*/, "").replace(/\s*\(actual.*$/, ""));
  const time = lines.find((line) => line.startsWith("Execution Time"))?.trim() ?? "";
  return `${nodes.join(" > ")}; ${time}`;
}

/** A call through the gRPC client (with a deadline long enough for the slowest) and to its handler. */
function call<M extends Method>(method: M, request: QueryRequests[M]) {
  return {
    call: (client: QueryClient) =>
      (client[method] as (r: QueryRequests[M], o: object) => Promise<unknown>)(request, {
        timeoutMs: 10_000,
      }),
    handle: (sql: postgres.Sql) => handlers[method](sql, request),
  };
}

async function scenarios(client: QueryClient, sql: postgres.Sql): Promise<Scenario[]> {
  const [category] = await sql<{ id: string }[]>`
    select id from category_view order by name offset 17 limit 1`;
  const categoryId = category!.id;
  const filtered: PageProductsRequest = {
    first: 20,
    filter: { categoryId, minPrice: "100", maxPrice: "500" },
    sort: "PRICE",
    direction: "DESC",
  };
  // A cursor some pages in, as a client that reads on would send.
  let deep = await client.PageProducts(filtered);
  for (let page = 0; page < 4; page++) {
    deep = await client.PageProducts({ ...filtered, after: deep.pageInfo.endCursor });
  }
  const byCreation = await client.PageProducts({
    first: 100,
    sort: "CREATED_AT",
    direction: "DESC",
  });
  const [cursorKey] = await sql<{ price: string; id: string }[]>`
    select price::text, id from product_view where id = ${deep.edges.at(-1)!.node.id}`;
  const [creationKey] = await sql<{ created_at: string; id: string }[]>`
    select created_at::text, id from product_view where id = ${byCreation.edges.at(-1)!.node.id}`;
  const columns = "id, name, price, category_id, category_name, version, created_at, updated_at";
  return [
    {
      name: 'searchProducts("walnut stool"): ListProducts nameContains, every match',
      ...call("ListProducts", { nameContains: "walnut stool" }),
      explain: `select ${columns} from product_view
        where true and name ilike '%walnut stool%' escape '\\' order by name, id`,
    },
    {
      name: 'searchProducts("walnut stool 01"): ListProducts nameContains, every match',
      ...call("ListProducts", { nameContains: "walnut stool 01" }),
      explain: `select ${columns} from product_view
        where true and name ilike '%walnut stool 01%' escape '\\' order by name, id`,
    },
    {
      name: 'productsConnection(first: 20, filter: { nameContains: "oak" }) by name',
      ...call("PageProducts", { first: 20, filter: { nameContains: "oak" } }),
      explain: `with searched as materialized (
          select * from product_view where true and name ilike '%oak%')
        select ${columns}, name as sort_key, (select count(*) from searched)::int as total
        from searched
        where true and name ilike '%oak%' and true order by name asc, id asc limit 21`,
    },
    {
      name: 'productsConnection(first: 20, filter: { nameContains: "walnut stool" }) by price',
      ...call("PageProducts", {
        first: 20,
        filter: { nameContains: "walnut stool" },
        sort: "PRICE",
      }),
      explain: `with searched as materialized (
          select * from product_view where true and name ilike '%walnut stool%')
        select ${columns}, price::text as sort_key, (select count(*) from searched)::int as total
        from searched
        where true and name ilike '%walnut stool%' and true order by price asc, id asc limit 21`,
    },
    {
      name: "productsConnection(first: 20, filter: { categoryId, minPrice: 100, maxPrice: 500 }, " +
        "orderBy: PRICE DESC), first page",
      ...call("PageProducts", filtered),
      explain: `select ${columns}, price::text as sort_key from product_view
        where true and category_id = '${categoryId}' and price >= 100 and price <= 500 and true
        order by price desc, id desc limit 21`,
    },
    {
      name: "the same, fifth page (after a cursor)",
      ...call("PageProducts", { ...filtered, after: deep.pageInfo.endCursor }),
      explain: `select ${columns}, price::text as sort_key from product_view
        where true and category_id = '${categoryId}' and price >= 100 and price <= 500
        and (price, id) < (${cursorKey!.price}::numeric, '${cursorKey!.id}'::uuid)
        order by price desc, id desc limit 21`,
    },
    {
      name:
        "productsConnection(first: 20, after: 100 rows in, orderBy: CREATED_AT DESC), unfiltered",
      ...call("PageProducts", {
        first: 20,
        sort: "CREATED_AT",
        direction: "DESC",
        after: byCreation.pageInfo.endCursor,
      }),
      explain: `select ${columns}, created_at::text as sort_key from product_view
        where true and (created_at, id) < ('${creationKey!.created_at}'::timestamptz,
          '${creationKey!.id}'::uuid)
        order by created_at desc, id desc limit 21`,
    },
    {
      name: "productStatistics: GetProductStatistics",
      ...call("GetProductStatistics", {}),
      explain: "select * from product_statistics",
    },
  ];
}

function markdown(report: {
  products: number;
  iterations: number;
  loadSeconds: number;
  figures: Figures[];
}): string {
  const under = (ms: number) => ms < TARGET_MS ? "yes" : "**no**";
  const rows = report.figures.map((figure) =>
    `| ${figure.name} | ${figure.p50} | ${figure.p90} | ${figure.p99} | ${figure.max} | ` +
    `${figure.handler.p50} | ${figure.handler.p99} | ${under(figure.p50)} / ${under(figure.p99)} |`
  );
  const plans = report.figures.map((figure) => `- ${figure.name}: \`${figure.plan}\``);
  return [
    "# Read queries at the query service",
    "",
    `${report.products.toLocaleString("en")} products in ${CATEGORIES} categories, loaded in ` +
    `${report.loadSeconds} s. Each call goes through the query service's gRPC API on loopback, ` +
    `${WARM_UP} warm-up calls, then ${report.iterations} timed ones, one at a time. ` +
    "The handler columns time the same call to the handler function directly, without gRPC. " +
    `Times in ms; target: under ${TARGET_MS} ms. The machine has 2 cores shared with other ` +
    "work, so the tails (p99, max) carry its noise.",
    "",
    "| Call | p50 | p90 | p99 | max | handler p50 | handler p99 | p50 / p99 under target |",
    "| ---- | --: | --: | --: | --: | ----------: | ----------: | :--------------------: |",
    ...rows,
    "",
    "Plans (EXPLAIN ANALYZE of the same SQL with the values inlined):",
    "",
    ...plans,
    "",
  ].join("\n");
}

async function main(): Promise<void> {
  await using database = await createDatabase("catalog_read_bench", {
    server: "read",
    create: true,
  });
  const sql = postgres(database.url, { max: 2, onnotice: () => {} });
  const service = await startQueryService(
    // The search scenario answers about 1,100 of the 100,000 products: over the default cap.
    { grpcHost: "127.0.0.1", grpcPort: 0, readDatabaseUrl: database.url, maxListItems: 10_000 },
    { log: () => {} },
  );
  const client = createQueryClient(`127.0.0.1:${service.port}`);
  const handlerSql = postgres(database.url, { max: 10, onnotice: () => {} });
  try {
    await applyMigrations(sql, "read", "the benchmark's read database");
    console.log(`Loading ${PRODUCTS.toLocaleString("en")} products…`);
    const loadStarted = performance.now();
    await load(sql);
    const loadSeconds = round((performance.now() - loadStarted) / 1000);
    console.log(`Loaded in ${loadSeconds} s`);

    const figures: Figures[] = [];
    for (const scenario of await scenarios(client, sql)) {
      const figure = {
        name: scenario.name,
        iterations: ITERATIONS,
        ...await measure(() => scenario.call(client)),
        handler: await measure(() => scenario.handle(handlerSql)),
        plan: await planOf(sql, scenario.explain),
      };
      figures.push(figure);
      const line = (p: Percentiles) =>
        `p50 ${p.p50} ms, p90 ${p.p90} ms, p99 ${p.p99} ms, max ${p.max} ms`;
      console.log(
        `${figure.name}\n  gRPC:    ${line(figure)}\n  handler: ${line(figure.handler)}\n` +
          `  plan: ${figure.plan}`,
      );
    }

    const report = {
      products: PRODUCTS,
      categories: CATEGORIES,
      iterations: ITERATIONS,
      warmUp: WARM_UP,
      loadSeconds,
      targetMs: TARGET_MS,
      measuredAt: new Date().toISOString(),
      figures,
    };
    await Deno.mkdir(results, { recursive: true });
    await Deno.writeTextFile(
      new URL("read_queries.json", results),
      `${JSON.stringify(report, null, 2)}\n`,
    );
    await Deno.writeTextFile(new URL("read_queries.md", results), markdown(report));
    await formatGenerated(
      new URL("read_queries.md", results).pathname,
      new URL("read_queries.json", results).pathname,
    );
    console.log(`Figures written to ${new URL("read_queries.md", results).pathname}`);
  } finally {
    client.close();
    await service.stop();
    await handlerSql.end({ timeout: 1 });
    await sql.end({ timeout: 1 });
  }
}

if (import.meta.main) await main();
