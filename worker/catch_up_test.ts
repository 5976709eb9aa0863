import assert from "node:assert/strict";
import { startCatchUp } from "./catch_up.ts";
import type { ProjectionReport } from "./project.ts";

function reports(...heldBack: boolean[]) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    run(): Promise<ProjectionReport> {
      const held = heldBack[Math.min(calls, heldBack.length - 1)] ?? false;
      calls += 1;
      return Promise.resolve({ events: 0, commands: 0, heldBack: held });
    },
  };
}

Deno.test("startCatchUp() projects again until nothing is held back", async () => {
  const source = reports(true, true, false);
  const catchUp = startCatchUp(() => source.run(), { initialDelayMs: 1, maxDelayMs: 2 });
  catchUp.poke();
  catchUp.poke();
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(source.calls, 3);
  await catchUp.stop();
});

Deno.test("startCatchUp() keeps going after a failed projection, and stops when told", async () => {
  let calls = 0;
  const lines: string[] = [];
  const catchUp = startCatchUp(() => {
    calls += 1;
    return Promise.reject(new Error("read database is down"));
  }, { initialDelayMs: 1, maxDelayMs: 5, log: (line) => lines.push(line) });
  catchUp.poke();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await catchUp.stop();
  const seen = calls;
  assert.ok(seen >= 2, `expected retries, saw ${seen} calls`);
  assert.equal(lines[0], "cannot catch up the read database: read database is down");
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(calls, seen);
  catchUp.poke();
  assert.equal(calls, seen);
});
