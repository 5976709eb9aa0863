import assert from "node:assert/strict";
import { residentMb, sendDistinctDocuments, withSystem, writerToken } from "@catalog/testkit";
import type { ProcessName } from "@catalog/dev";

/** Distinct documents before memory is first read: every cache fills, every pool opens. */
const WARM_UP = 2000;
/** Distinct documents after it, a quarter of them mutations. */
const SOAK = 20_000;
/** How much a service's resident memory may grow over the soak: generous, and far below 16 KB a document. */
const GROWTH_MB = 40;

const services: ProcessName[] = ["gateway", "command", "query", "worker"];

Deno.test("distinct documents, mutations and reads with their values inline, leave every service's memory flat", async () => {
  await withSystem(async ({ stack, data }) => {
    const { createCategory } = await data<{ createCategory: { id: string } }>(
      'mutation { createCategory(input: { name: "Soak" }) { id } }',
    );
    const send = (from: number, count: number) =>
      sendDistinctDocuments({
        url: stack.graphqlUrl,
        token: writerToken,
        categoryId: createCategory.id,
        from,
        count,
        inFlight: 16,
      });
    const warm = await send(0, WARM_UP);
    const before = await residentMb(stack, services);
    const soak = await send(WARM_UP, SOAK);
    const after = await residentMb(stack, services);
    for (const run of [warm, soak]) {
      assert.equal(
        run.failed,
        0,
        `${run.failed} requests failed, the first with ${run.firstFailure}`,
      );
    }
    const figures = services.map((service) =>
      `${service} ${before[service]!.toFixed(0)} → ${after[service]!.toFixed(0)} MB`
    ).join(", ");
    console.log(
      `memory over ${SOAK} distinct documents in ${soak.seconds.toFixed(0)} s: ${figures}`,
    );
    for (const service of services) {
      assert.ok(
        after[service]! - before[service]! <= GROWTH_MB,
        `${service} grew by more than ${GROWTH_MB} MB over ${SOAK} distinct documents: ${figures}`,
      );
    }
  });
});
