import assert from "node:assert/strict";
import { AcceptedBatch } from "./accepted_batch.ts";

Deno.test("AcceptedBatch has its first copy linger, and the others wait with it", () => {
  const batch = new AcceptedBatch<number>();
  assert.deepEqual(batch.add(1), { record: "after", ms: 5 });
  assert.equal(batch.add(2), undefined);
  assert.equal(batch.add(3), undefined);
  assert.equal(batch.length, 3);
  assert.deepEqual(batch.take(), [1, 2, 3]);
  assert.equal(batch.length, 0);
  assert.deepEqual(batch.add(4), { record: "after", ms: 5 }, "after a take, the next lingers");
});

Deno.test("AcceptedBatch records at once when it is full", () => {
  const batch = new AcceptedBatch<number>({ size: 3, lingerMs: 20 });
  assert.deepEqual(batch.add(1), { record: "after", ms: 20 });
  assert.equal(batch.add(2), undefined);
  assert.deepEqual(batch.add(3), { record: "now" });
  assert.deepEqual(batch.add(4), { record: "now" }, "still full until taken");
  assert.deepEqual(batch.take(), [1, 2, 3, 4]);
});

Deno.test("AcceptedBatch holds 500 copies at most by default", () => {
  const batch = new AcceptedBatch<number>();
  const steps = Array.from({ length: 500 }, (_, index) => batch.add(index));
  assert.deepEqual(steps[0], { record: "after", ms: 5 });
  assert.ok(steps.slice(1, 499).every((step) => step === undefined));
  assert.deepEqual(steps[499], { record: "now" });
});

Deno.test("AcceptedBatch of size 1 records every copy at once", () => {
  const batch = new AcceptedBatch<string>({ size: 1 });
  assert.deepEqual(batch.add("a"), { record: "now" });
  assert.deepEqual(batch.take(), ["a"]);
  assert.deepEqual(batch.take(), []);
});
