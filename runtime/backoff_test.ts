import assert from "node:assert/strict";
import { backoffDelay } from "./backoff.ts";

const ceiling = () => 1;
const floor = () => 0;

Deno.test("backoffDelay() doubles its ceiling from initialMs up to maxMs", () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 7, 100].map((attempt) => backoffDelay(attempt, { random: ceiling })),
    [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000],
  );
  assert.deepEqual(
    [0, 1, 2, 3].map((attempt) =>
      backoffDelay(attempt, { initialMs: 250, maxMs: 1000, random: ceiling })
    ),
    [250, 500, 1000, 1000],
  );
});

Deno.test("backoffDelay() waits at least half its ceiling (equal jitter)", () => {
  assert.deepEqual(
    [0, 1, 2, 6, 100].map((attempt) => backoffDelay(attempt, { random: floor })),
    [50, 100, 200, 2500, 2500],
  );
  assert.equal(backoffDelay(2, { random: () => 0.5 }), 300);
});

Deno.test("backoffDelay() spreads its delays between half the ceiling and the ceiling", () => {
  const delays = Array.from({ length: 500 }, () => backoffDelay(3));
  assert.ok(delays.every((delay) => delay >= 400 && delay <= 800), String(delays));
  assert.ok(new Set(delays).size > 50, "the delays are jittered");
  assert.ok(delays.every((delay) => Number.isInteger(delay)));
});

Deno.test("backoffDelay() keeps out-of-range attempts and random numbers in bounds", () => {
  assert.equal(backoffDelay(-3, { random: ceiling }), 100);
  assert.equal(backoffDelay(Number.MAX_SAFE_INTEGER, { random: ceiling }), 5000);
  assert.equal(backoffDelay(0, { random: () => 7 }), 100);
  assert.equal(backoffDelay(0, { random: () => -7 }), 50);
});

Deno.test("backoffDelay() doubles from 100 ms up to 5 s", () => {
  // The jitter pinned to its top: the delay is the ceiling itself.
  const random = () => 1;
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 7, 100].map((attempt) => backoffDelay(attempt, { random })),
    [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000],
  );
  assert.equal(backoffDelay(3, { initialMs: 10, maxMs: 50, random }), 50);
});
