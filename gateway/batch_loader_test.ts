import assert from "node:assert/strict";
import { BatchLoader } from "./batch_loader.ts";

function squares() {
  const batches: number[][] = [];
  const loader = new BatchLoader<number, number>((keys) => {
    batches.push(keys);
    return Promise.resolve(new Map(keys.filter((key) => key >= 0).map((key) => [key, key * key])));
  });
  return { loader, batches };
}

Deno.test("BatchLoader.load() fetches the keys of one turn in one batch, each once", async () => {
  const { loader, batches } = squares();
  const first = loader.load(2);
  // Loads made a few microtasks later still join the batch.
  const later = Promise.resolve().then(() => Promise.resolve()).then(() => loader.load(3));
  const values = await Promise.all([first, loader.load(2), later, loader.load(-1)]);
  assert.deepEqual(values, [4, 4, 9, undefined]);
  assert.deepEqual(batches, [[2, -1, 3]]);
});

Deno.test("BatchLoader.load() answers a loaded key from its cache until clearAll()", async () => {
  const { loader, batches } = squares();
  await loader.load(5);
  await loader.load(5);
  assert.equal(batches.length, 1);
  loader.clearAll();
  assert.equal(await loader.load(5), 25);
  assert.equal(batches.length, 2);
});

Deno.test("BatchLoader.load() rejects every key of a failed batch and forgets them", async () => {
  let fail = true;
  const loader = new BatchLoader<string, string>((keys) =>
    fail ? Promise.reject(new Error("down")) : Promise.resolve(new Map(keys.map((k) => [k, k])))
  );
  const results = await Promise.allSettled([loader.load("a"), loader.load("b")]);
  assert.deepEqual(results.map((result) => result.status), ["rejected", "rejected"]);
  fail = false;
  assert.equal(await loader.load("a"), "a");
});
