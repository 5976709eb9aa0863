import assert from "node:assert/strict";
import { RetryPolicy } from "./retry_policy.ts";

const fault = () => Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
const bug = () => new TypeError("Cannot read properties of undefined");
const backoff = { random: () => 1 };

Deno.test("RetryPolicy retries a passing fault for as long as it lasts, backing off", () => {
  const policy = new RetryPolicy({ backoff });
  const delays = Array.from({ length: 10 }, () => policy.next(fault()));
  assert.ok(delays.every((retry) => retry?.transient === true && retry.failures === 0));
  assert.deepEqual(
    delays.map((retry) => retry?.delayMs),
    [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000],
  );
});

Deno.test("RetryPolicy gives up on another failure after its retries", () => {
  const policy = new RetryPolicy({ backoff });
  assert.deepEqual(policy.next(bug()), { delayMs: 100, transient: false, failures: 1, retries: 3 });
  assert.deepEqual(policy.next(bug()), { delayMs: 200, transient: false, failures: 2, retries: 3 });
  assert.deepEqual(policy.next(bug()), { delayMs: 400, transient: false, failures: 3, retries: 3 });
  assert.equal(policy.next(bug()), undefined);
});

Deno.test("RetryPolicy counts passing faults and other failures apart", () => {
  const policy = new RetryPolicy({ retries: 1, backoff });
  assert.equal(policy.next(fault())?.delayMs, 100);
  assert.equal(policy.next(fault())?.delayMs, 200);
  assert.deepEqual(policy.next(bug()), { delayMs: 100, transient: false, failures: 1, retries: 1 });
  assert.equal(policy.next(fault())?.delayMs, 400, "a passing fault still retries");
  assert.equal(policy.next(bug()), undefined);
});

Deno.test("RetryPolicy with no retries gives up at the first failure that is not a passing fault", () => {
  const policy = new RetryPolicy({ retries: 0, backoff });
  assert.equal(policy.next(fault())?.transient, true);
  assert.equal(policy.next(bug()), undefined);
});

Deno.test("RetryPolicy gives up at once on a PostgreSQL data exception, with no delay", () => {
  for (const code of ["22021", "22P05", "22001"]) {
    const refused = Object.assign(new Error(`data exception ${code}`), { code });
    assert.equal(new RetryPolicy({ backoff }).next(refused), undefined, code);
    assert.equal(new RetryPolicy({ retries: 10, backoff }).next(refused), undefined, code);
  }
});

Deno.test("RetryPolicy gives up on a data exception even after passing faults and retries", () => {
  const policy = new RetryPolicy({ backoff });
  assert.equal(policy.next(fault())?.transient, true);
  assert.equal(policy.next(bug())?.failures, 1);
  const wrapped = new Error("Cannot handle CreateCategory", {
    cause: Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), {
      code: "22021",
    }),
  });
  assert.equal(policy.next(wrapped), undefined);
});

Deno.test("RetryPolicy jitters its delays unless told otherwise", () => {
  const delays = Array.from({ length: 50 }, () => new RetryPolicy().next(bug())?.delayMs ?? 0);
  assert.ok(delays.every((delay) => delay >= 50 && delay <= 100), String(delays));
});
