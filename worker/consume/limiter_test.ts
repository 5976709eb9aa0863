import assert from "node:assert/strict";
import { limiter } from "./limiter.ts";

/** A task that runs until told to finish. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => open = resolve);
  return { open, opened };
}

Deno.test("limiter() runs at most limit tasks at once, the others in arrival order", async () => {
  const run = limiter(2);
  const started: number[] = [];
  const gates = [gate(), gate(), gate(), gate()];
  const tasks = gates.map((g, index) =>
    run(async () => {
      started.push(index);
      await g.opened;
      return index;
    })
  );
  await new Promise((resolve) => setTimeout(resolve, 1));
  assert.deepEqual(started, [0, 1]);
  gates[1]!.open();
  await tasks[1];
  await new Promise((resolve) => setTimeout(resolve, 1));
  assert.deepEqual(started, [0, 1, 2]);
  gates[0]!.open();
  gates[2]!.open();
  gates[3]!.open();
  assert.deepEqual(await Promise.all(tasks), [0, 1, 2, 3]);
  assert.deepEqual(started, [0, 1, 2, 3]);
});

Deno.test("limiter() frees the place of a task that fails", async () => {
  const run = limiter(1);
  await assert.rejects(run(() => Promise.reject(new Error("boom"))), /boom/);
  assert.equal(await run(() => Promise.resolve("next")), "next");
});
