import assert from "node:assert/strict";
import { attempt } from "./attempt.ts";

const backoff = { initialMs: 2, maxMs: 4, random: () => 1 };
const fault = () => Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });

/** Work that fails with each of `failures` in turn, then answers "done". */
function failing(...failures: Error[]) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    work(): Promise<string> {
      const failure = failures[calls++];
      return failure ? Promise.reject(failure) : Promise.resolve("done");
    },
  };
}

Deno.test("attempt() retries passing faults and other failures, saying so, until the work succeeds", async () => {
  const lines: string[] = [];
  const work = failing(fault(), new TypeError("boom"), fault());
  const outcome = await attempt("handle X", () => work.work(), {
    abandon: new AbortController().signal,
    log: (line) => lines.push(line),
    backoff,
  });
  assert.deepEqual(outcome, { kind: "ok", value: "done" });
  assert.equal(work.calls, 4);
  assert.deepEqual(lines, [
    "cannot handle X yet (connect ECONNREFUSED); retrying in 2 ms",
    "cannot handle X: boom; retry 1 of 3 in 2 ms",
    "cannot handle X yet (connect ECONNREFUSED); retrying in 4 ms",
  ]);
});

Deno.test("attempt() gives up after its retries with the last error", async () => {
  const last = new TypeError("boom 3");
  const work = failing(new TypeError("boom 1"), new TypeError("boom 2"), last);
  const outcome = await attempt("handle X", () => work.work(), {
    abandon: new AbortController().signal,
    log: () => {},
    retries: 2,
    backoff,
  });
  assert.deepEqual(outcome, { kind: "failed", error: last });
  assert.equal(work.calls, 3);
});

Deno.test("attempt() is abandoned while it waits once its signal aborts", async () => {
  const leaving = new AbortController();
  const work = failing(...Array.from({ length: 100 }, fault));
  const outcome = attempt("handle X", () => work.work(), {
    abandon: leaving.signal,
    log: () => {},
    backoff: { initialMs: 10_000, random: () => 1 },
  });
  await new Promise((resolve) => setTimeout(resolve, 5));
  const started = Date.now();
  leaving.abort();
  assert.deepEqual(await outcome, { kind: "abandoned" });
  assert.ok(Date.now() - started < 1000);
  assert.equal(work.calls, 1);
});

Deno.test("attempt() does not start work that was abandoned already", async () => {
  const leaving = new AbortController();
  leaving.abort();
  const work = failing();
  const outcome = await attempt("handle X", () => work.work(), {
    abandon: leaving.signal,
    log: () => {},
  });
  assert.deepEqual(outcome, { kind: "abandoned" });
  assert.equal(work.calls, 0);
});

Deno.test("attempt() gives up at once when PostgreSQL refuses the data, without waiting", async () => {
  const lines: string[] = [];
  const refused = Object.assign(new Error("value too long for type character varying(100)"), {
    code: "22001",
  });
  const work = failing(refused);
  const started = Date.now();
  const outcome = await attempt("handle X", () => work.work(), {
    abandon: new AbortController().signal,
    log: (line) => lines.push(line),
    backoff: { initialMs: 10_000, random: () => 1 },
  });
  assert.deepEqual(outcome, { kind: "failed", error: refused });
  assert.equal(work.calls, 1);
  assert.deepEqual(lines, []);
  assert.ok(Date.now() - started < 1000);
});
