/**
 * Scenario: the gateway's CPU per mutation by the shape of its document.
 * createProduct at a fixed open-loop rate, in blocks that alternate between
 * documents with their values written inline (each one new, as GraphiQL
 * users write them) and one document with variables; the gateway's CPU
 * seconds come from its own /metrics (prom-client reads the process's CPU
 * time) before and after each block. Alternating in one sitting is what
 * makes the two comparable on a shared machine.
 */
import { graphql, openLoop, scrapeMetrics, writerToken } from "@catalog/testkit";
import type { Catalog } from "./_reads.ts";
import type { System } from "./_system.ts";

/** What runDocumentCpu() measured. */
export interface DocumentCpuFigures {
  /** Mutations offered per second in each block. */
  perSecond: number;
  /** Mutations in each block. */
  perBlock: number;
  /** The gateway's CPU per mutation in each inline block, in ms, in the order run. */
  inlineMs: number[];
  /** The same for each block with variables. */
  variablesMs: number[];
  /** Mutations that did not answer with a product. */
  failed: number;
}

const PER_SECOND = 150;
const ROUNDS = 3;
const byVariables =
  "mutation Create($input: CreateProductInput!) { createProduct(input: $input) { id name price } }";

async function gatewayCpuSeconds(system: System): Promise<number> {
  const scrape = await scrapeMetrics(`${system.stack.healthUrl("gateway")}/metrics`);
  return scrape.value("catalog_process_cpu_seconds_total");
}

export async function runDocumentCpu(
  system: System,
  catalog: Catalog,
): Promise<DocumentCpuFigures> {
  const perBlock = Math.max(30, Math.round(1500 * system.scale));
  const categoryId = catalog.categoryIds[0]!;
  const options = { token: writerToken };
  let failed = 0;
  let sequence = 0;
  async function block(inline: boolean, count = perBlock): Promise<number> {
    const before = await gatewayCpuSeconds(system);
    const results = await openLoop(PER_SECOND, count / PER_SECOND, () => {
      const index = sequence++;
      const name = `cpu ${index}`;
      const price = `${(index % 997) + 1}.${index % 10}5`;
      return inline
        ? graphql(
          system.stack.graphqlUrl,
          `mutation { createProduct(input: { name: "${name}", price: ${price}, ` +
            `categoryId: "${categoryId}" }) { id name price } }`,
          {},
          options,
        )
        : graphql(system.stack.graphqlUrl, byVariables, {
          input: { name, price: Number(price), categoryId },
        }, options);
    });
    const after = await gatewayCpuSeconds(system);
    failed += results.filter((result) => result.errors?.length || !result.data).length;
    system.accepted.count += results.length;
    return Math.round((after - before) / results.length * 1_000_000) / 1000;
  }
  // The first mutations of each shape pay for code the gateway has not run yet.
  await block(true, Math.round(perBlock / 5));
  await block(false, Math.round(perBlock / 5));
  const inlineMs: number[] = [];
  const variablesMs: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    inlineMs.push(await block(true));
    variablesMs.push(await block(false));
    system.log(
      `  round ${round + 1}: inline ${inlineMs.at(-1)} ms, variables ${variablesMs.at(-1)} ms ` +
        "of gateway CPU per mutation",
    );
  }
  return { perSecond: PER_SECOND, perBlock, inlineMs, variablesMs, failed };
}
