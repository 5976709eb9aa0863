/**
 * Scenario: memory under distinct documents. After a warm-up, documents each
 * of its own (inline mutations and reads, as sendDistinctDocuments() sends
 * them) go through the gateway; each service's resident memory is read from
 * its /metrics before and after, and its growth reported per 10,000
 * documents.
 */
import { residentMb, sendDistinctDocuments, writerToken } from "@catalog/testkit";
import type { ProcessName } from "@catalog/dev";
import type { Catalog } from "./_reads.ts";
import type { System } from "./_system.ts";

/** One service's memory over the scenario. */
export interface DocumentMemory {
  name: string;
  /** RSS once the warm-up was done, in MB. */
  beforeMb: number;
  /** RSS after the scenario's documents, in MB. */
  afterMb: number;
  /** (after − before) per 10,000 documents, in MB. */
  growthPer10kMb: number;
}

/** What runDocuments() measured. */
export interface DocumentFigures {
  documents: number;
  seconds: number;
  failed: number;
  services: DocumentMemory[];
}

const services: ProcessName[] = ["gateway", "command", "query", "worker"];

export async function runDocuments(system: System, catalog: Catalog): Promise<DocumentFigures> {
  const documents = Math.max(200, Math.round(20_000 * system.scale));
  const options = {
    url: system.stack.graphqlUrl,
    token: writerToken,
    categoryId: catalog.categoryIds[0]!,
  };
  system.log(`  warm-up: ${Math.round(documents / 5)} distinct documents`);
  await sendDistinctDocuments({ ...options, from: 0, count: Math.round(documents / 5) });
  const before = await residentMb(system.stack, services);
  system.log(`  ${documents} distinct documents`);
  const run = await sendDistinctDocuments({
    ...options,
    from: Math.round(documents / 5),
    count: documents,
  });
  const after = await residentMb(system.stack, services);
  return {
    documents,
    seconds: Math.round(run.seconds * 10) / 10,
    failed: run.failed,
    services: services.map((name) => ({
      name,
      beforeMb: Math.round(before[name]!),
      afterMb: Math.round(after[name]!),
      growthPer10kMb: Math.round((after[name]! - before[name]!) / documents * 10_000 * 10) / 10,
    })),
  };
}
