import { graphql, type ProcessName, type Stack } from "@catalog/dev";
import { type Scrape, scrapeMetrics } from "./metrics.ts";

/** Options of sendDistinctDocuments(). */
export interface DistinctDocumentsOptions {
  /** The gateway's /graphql. */
  url: string;
  /** A catalog:write token. */
  token: string;
  /** The category the products are created in. */
  categoryId: string;
  /** The first document's number: documents from..from+count-1 are sent, never one twice. */
  from: number;
  count: number;
  /** Requests in flight, a closed loop. Default 8; 16 still stays below the stack's capacity here. */
  inFlight?: number;
}

/** How sendDistinctDocuments() went. */
export interface DistinctDocumentsRun {
  sent: number;
  failed: number;
  /** The first failure's error, as JSON. */
  firstFailure?: string;
  seconds: number;
}

/**
 * Sends documents each of its own, as GraphiQL users and many clients write
 * them: every fourth a createProduct with its values inline, the others a
 * read of one product by an id written inline.
 */
export async function sendDistinctDocuments(
  options: DistinctDocumentsOptions,
): Promise<DistinctDocumentsRun> {
  const started = performance.now();
  const end = options.from + options.count;
  let next = options.from;
  let failed = 0;
  let firstFailure: string | undefined;
  async function loop() {
    while (next < end) {
      const index = next++;
      const query = index % 4 === 0
        ? `mutation { createProduct(input: { name: "distinct ${index}", price: ${
          (index % 997) + 1
        }.${index % 10}5, categoryId: "${options.categoryId}" }) { id name } }`
        : `{ product(id: "${crypto.randomUUID()}") { id name price } }`;
      const result = await graphql(options.url, query, {}, { token: options.token });
      if (result.errors?.length) {
        failed++;
        firstFailure ??= JSON.stringify(result.errors[0]);
      }
    }
  }
  await Promise.all(Array.from({ length: options.inFlight ?? 8 }, loop));
  return {
    sent: options.count,
    failed,
    ...(firstFailure ? { firstFailure } : {}),
    seconds: (performance.now() - started) / 1000,
  };
}

/** A process's resident memory in MB, from a scrape of its own /metrics. */
export function residentMbOf(scrape: Scrape): number {
  return scrape.value("catalog_process_resident_memory_bytes") / 1024 / 1024;
}

/** Each process's resident memory in MB, as its own /metrics reports it. */
export async function residentMb(
  stack: Stack,
  processes: readonly ProcessName[],
): Promise<Record<string, number>> {
  const entries = await Promise.all(processes.map(async (process) => {
    const scrape = await scrapeMetrics(`${stack.healthUrl(process)}/metrics`);
    return [process, residentMbOf(scrape)] as const;
  }));
  return Object.fromEntries(entries);
}
