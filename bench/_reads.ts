/**
 * Scenario 1, reads: the seed's composite query and a product(id) lookup
 * through the full stack at concurrency 50, against the layers below it (the
 * query service's gRPC API, the same SQL through postgres.js) and against
 * baselines (graphql-yoga with static resolvers, a bare grpc-js echo).
 */
import postgres from "postgres";
import { listCategories } from "../query/categories.ts";
import { getProducts, listProducts } from "../query/products.ts";
import type { GrpcLoadOptions } from "./_grpc_load.ts";
import { closedLoop, openLoop, type Run } from "./_load.ts";
import { postGraphql, startBaselineServer, type System, waitVisible } from "./_system.ts";
import type { Percentiles } from "./histogram.ts";

/** One measurement, as the report shows it. */
export interface Measurement {
  name: string;
  /** "closed loop, concurrency 50" or "open loop, 120/s". */
  mode: string;
  ok: number;
  errors: Record<string, number>;
  seconds: number;
  perSecond: number;
  latencyMs: Percentiles;
}

export function measurementOf(name: string, mode: string, run: Run): Measurement {
  return {
    name,
    mode,
    ok: run.ok,
    errors: run.errors,
    seconds: Number(run.seconds.toFixed(2)),
    perSecond: Number(run.perSecond.toFixed(1)),
    latencyMs: run.latency.summary(),
  };
}

/** Runs bench/_grpc_load.ts with these options and answers its figures. */
async function grpcLoad(options: GrpcLoadOptions): Promise<Omit<Measurement, "name" | "mode">> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL("./_grpc_load.ts", import.meta.url).pathname,
      JSON.stringify(options),
    ],
    cwd: new URL("../", import.meta.url).pathname,
    stdin: "null",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  const line = text.split("\n").findLast((l) => l.startsWith("{"));
  if (!line) {
    throw new Error(`Cannot run the gRPC load client: ${text.slice(0, 300) || "no output"}`);
  }
  const run = JSON.parse(line) as Omit<Measurement, "name" | "mode" | "latencyMs"> & {
    latency: Measurement["latencyMs"];
  };
  return {
    ok: run.ok,
    errors: run.errors,
    seconds: Number(run.seconds.toFixed(2)),
    perSecond: Number(run.perSecond.toFixed(1)),
    latencyMs: run.latency,
  };
}

/** What the reads scenario measured. */
export interface ReadFigures {
  products: number;
  categories: number;
  composite: Measurement[];
  product: Measurement[];
  echo: Measurement;
  /** The full stack, open loop, at half the rate it reached closed loop. */
  halfRate: Measurement[];
}

export const compositeQuery =
  "{ categories { id name } products { id name price category { id name } } }";
export const productQuery = "query ($id: ID!) { product(id: $id) { id name price categoryId } }";

/** The catalog the scenarios work on: ids of its categories and products. */
export interface Catalog {
  categoryIds: string[];
  productIds: string[];
}

/** Creates `categories` categories and `products` products spread over them, and waits for them. */
export async function seedCatalog(
  system: System,
  options: { categories: number; products: number },
): Promise<Catalog> {
  const url = system.stack.graphqlUrl;
  const categoryIds: string[] = [];
  for (let i = 0; i < options.categories; i++) {
    const data = await postGraphql<{ createCategory: { id: string } }>(
      url,
      "mutation ($name: String!) { createCategory(input: { name: $name }) { id } }",
      { name: `Bench category ${String(i + 1).padStart(2, "0")}` },
    );
    categoryIds.push(data.createCategory.id);
    system.accepted.count++;
  }
  const productIds = await Promise.all(
    Array.from({ length: options.products }, async (_, i) => {
      const data = await postGraphql<{ receipt: { aggregateId: string } }>(
        url,
        `mutation ($input: CreateProductInput!) {
          receipt: submitCreateProduct(input: $input) { aggregateId }
        }`,
        {
          input: {
            name: `Bench product ${String(i + 1).padStart(3, "0")}`,
            price: ((i * 7919) % 99_999 + 1) / 100,
            categoryId: categoryIds[i % categoryIds.length],
          },
        },
      );
      system.accepted.count++;
      return data.receipt.aggregateId;
    }),
  );
  await waitVisible(system);
  return { categoryIds, productIds };
}

function durations(system: System) {
  return {
    warmUpMs: Math.max(200, Math.round(1500 * system.scale)),
    durationMs: Math.max(500, Math.round(5000 * system.scale)),
  };
}

const CONCURRENCY = 50;
const closedMode = `closed loop, concurrency ${CONCURRENCY}`;

/** Runs scenario 1 on a seeded catalog. */
export async function runReads(system: System, catalog: Catalog): Promise<ReadFigures> {
  const { warmUpMs, durationMs } = durations(system);
  const closed = (task: (index: number) => Promise<unknown>) =>
    closedLoop(task, { concurrency: CONCURRENCY, warmUpMs, durationMs });
  const url = system.stack.graphqlUrl;
  const ids = catalog.productIds;
  const composite: Measurement[] = [];
  const product: Measurement[] = [];
  const say = (m: Measurement) =>
    system.log(
      `  ${m.name}: ${m.perSecond}/s, p50 ${m.latencyMs.p50} ms, p99 ${m.latencyMs.p99} ms` +
        (Object.keys(m.errors).length ? `, errors ${JSON.stringify(m.errors)}` : ""),
    );

  // The static data: exactly what the full stack answers.
  const answer = await postGraphql<{ categories: unknown[]; products: { id: string }[] }>(
    url,
    "{ categories { id name } products { id name price categoryId category { id name } } }",
  );
  const staticFile = await Deno.makeTempFile({ prefix: "bench_static_", suffix: ".json" });
  await Deno.writeTextFile(staticFile, JSON.stringify(answer));

  system.log("Reads: full stack");
  composite.push(measurementOf(
    "full stack: gateway → query → PostgreSQL",
    closedMode,
    await closed(() => postGraphql(url, compositeQuery)),
  ));
  say(composite.at(-1)!);
  product.push(measurementOf(
    "full stack: gateway → query → PostgreSQL",
    closedMode,
    await closed((i) => postGraphql(url, productQuery, { id: ids[i % ids.length] })),
  ));
  say(product.at(-1)!);

  system.log("Reads: the query service's gRPC API, called directly from a child process");
  const address = `127.0.0.1:${system.stack.ports.query}`;
  composite.push({
    name: "layer: query service gRPC (the gateway's 2 calls)",
    mode: closedMode,
    ...await grpcLoad({
      address,
      kind: "composite",
      concurrency: CONCURRENCY,
      warmUpMs,
      durationMs,
    }),
  });
  say(composite.at(-1)!);
  product.push({
    name: "layer: query service gRPC GetProducts",
    mode: closedMode,
    ...await grpcLoad({
      address,
      kind: "product",
      ids,
      concurrency: CONCURRENCY,
      warmUpMs,
      durationMs,
    }),
  });
  say(product.at(-1)!);

  system.log("Reads: the same SQL through postgres.js, in this process");
  // The query service's handler functions on a pool as large as its own.
  const sql = postgres(system.sandbox.env.READ_DATABASE_URL, { max: 10, onnotice: () => {} });
  try {
    composite.push(measurementOf(
      "baseline: same SQL via postgres.js (pool 10)",
      closedMode,
      await closed(() => Promise.all([listCategories(sql, {}), listProducts(sql, {})])),
    ));
    say(composite.at(-1)!);
    product.push(measurementOf(
      "baseline: same SQL via postgres.js (pool 10)",
      closedMode,
      await closed((i) => getProducts(sql, [ids[i % ids.length]!])),
    ));
    say(product.at(-1)!);
  } finally {
    await sql.end({ timeout: 2 });
  }

  system.log("Reads: graphql-yoga with static resolvers, in a child process");
  {
    await using yoga = await startBaselineServer(["yoga", staticFile]);
    const yogaUrl = `http://127.0.0.1:${yoga.port}/graphql`;
    composite.push(measurementOf(
      "baseline: graphql-yoga, static resolvers",
      closedMode,
      await closed(() => postGraphql(yogaUrl, compositeQuery)),
    ));
    say(composite.at(-1)!);
    product.push(measurementOf(
      "baseline: graphql-yoga, static resolvers",
      closedMode,
      await closed((i) => postGraphql(yogaUrl, productQuery, { id: ids[i % ids.length] })),
    ));
    say(product.at(-1)!);
  }
  await Deno.remove(staticFile);

  system.log("Reads: bare grpc-js unary echo, server and client each in a child process");
  let echo: Measurement;
  {
    await using server = await startBaselineServer(["grpc"]);
    // About the size of one product as the query service answers it.
    const payload = JSON.stringify(answer.products[0] ?? {});
    echo = {
      name: `baseline: grpc-js unary echo (${payload.length} bytes)`,
      mode: closedMode,
      ...await grpcLoad({
        address: `127.0.0.1:${server.port}`,
        kind: "echo",
        payload,
        concurrency: CONCURRENCY,
        warmUpMs,
        durationMs,
      }),
    };
    say(echo);
  }

  system.log("Reads: the full stack, open loop at half the rate it reached");
  const halfRate: Measurement[] = [];
  for (const [query, figures] of [[compositeQuery, composite], [productQuery, product]] as const) {
    const rate = Math.max(1, figures[0]!.perSecond / 2);
    const run = await openLoop(
      (i) => postGraphql(url, query, query === productQuery ? { id: ids[i % ids.length] } : {}),
      { rate, durationMs, warmUpMs },
    );
    halfRate.push(measurementOf(
      `full stack, ${query === compositeQuery ? "composite" : "product(id)"}`,
      `open loop, ${rate.toFixed(0)}/s`,
      run,
    ));
    say(halfRate.at(-1)!);
  }

  return {
    products: answer.products.length,
    categories: answer.categories.length,
    composite,
    product,
    echo,
    halfRate,
  };
}
