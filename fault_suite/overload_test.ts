/**
 * Scenario 11: three times what the stack can carry (runOverload() of the
 * test kit: the capacity measured in the same run, then its latency at half
 * of it, then 3 × capacity offered open loop for 30 s), every answer checked
 * against the write database once it is all over. Goodput and latencies are
 * reported, not asserted: they are the benchmark's to judge (its overload
 * row), as the suite asserts no timing.
 */
import assert from "node:assert/strict";
import { defaultAdmissionEnv, percentile, runOverload, writerToken } from "@catalog/testkit";
import { auditExactlyOnce, exactlyOnceHolds } from "./_databases.ts";
import { mutations, send, Tally } from "./_load.ts";
import { Checks, crashesOf, recordResult, stopwatch } from "./_results.ts";
import { runScenario } from "./_scenario.ts";

const OVERLOAD_S = 30;

Deno.test("three times the stack's capacity: refused at once, every answer accounted for, memory bounded", async () => {
  const elapsed = stopwatch();
  await runScenario("overload", async ({ stack, write, url, log }) => {
    const category = await send<{ createCategory: { id: string } }>(
      url,
      mutations.createCategoryAndWait("overload"),
    );
    assert.ok(category.kind === "ok", "Cannot create the category");
    const run = await runOverload({
      stack,
      token: writerToken,
      categoryId: category.data.createCategory.id,
      seconds: { capacity: 6, half: 6, overload: OVERLOAD_S },
      log: (line) => log.note(line),
    });
    const { answers, capacity, halfP99, offered } = run;
    const { start, peak, after } = run.gatewayMb;

    const created = new Set(
      (await write<{ name: string }[]>`
        select name from products where name = any(${answers.map((answer) => answer.name)})`)
        .map((row) => row.name),
    );
    const kinds = new Tally();
    for (const answer of answers) kinds.add(answer.kind);
    const refusals = answers.filter((answer) => answer.kind === "overloaded");
    const products = answers.filter((answer) => answer.kind === "product");
    const bare = answers.filter((answer) => answer.kind === "error");
    const createdBehindBare = bare.filter((answer) => created.has(answer.name)).length;
    const createdRefused = refusals.filter((answer) => created.has(answer.name)).length;
    const goodput = products.length / OVERLOAD_S;
    const admittedP99 = percentile(products.map((answer) => answer.ms), 99);
    const refusalP99 = percentile(refusals.map((answer) => answer.ms), 99);
    const audit = await auditExactlyOnce(
      write,
      answers.flatMap((answer) => answer.commandId ? [answer.commandId] : []),
    );

    const checks = new Checks();
    checks.check(`no service exited by itself: ${crashesOf(stack)}`, stack.crashes.length === 0);
    checks.check(
      "every refusal is 503 with Retry-After and OVERLOADED",
      refusals.every((answer) => answer.status === 503 && answer.retryAfter === "1"),
    );
    checks.check(
      `the gateway refused some of ${offered}/s (${refusals.length})`,
      refusals.length > 0,
    );
    checks.check(`no refused command was applied (${createdRefused})`, createdRefused === 0);
    checks.check(
      `no product created behind an answer without a commandId (${createdBehindBare})`,
      createdBehindBare === 0,
    );
    checks.check(
      "no connection failure or client timeout",
      kinds.get("transport") + kinds.get("timeout") === 0,
    );
    checks.check("every command with an id handled exactly once", exactlyOnceHolds(audit));
    checks.check(`gateway RSS peak ${peak.toFixed(0)} MB ≤ 300 MB`, peak <= 300);
    checks.check(
      `gateway RSS after ${after.toFixed(0)} MB within 50 MB of the start ${start.toFixed(0)} MB`,
      after - start <= 50,
    );

    const summary = `overload: capacity ${capacity.toFixed(0)}/s; offered ${offered}/s for ` +
      `${OVERLOAD_S} s (${answers.length} requests, answered after ${
        run.answeredAfter.toFixed(1)
      } s): ${kinds}; goodput ${goodput.toFixed(0)}/s; p99 admitted ${admittedP99} ms ` +
      `(half capacity ${halfP99} ms), refusals ${refusalP99} ms; created behind a bare error ` +
      `${createdBehindBare}, refused but created ${createdRefused}; gateway RSS ` +
      `${start.toFixed(0)} → peak ${peak.toFixed(0)} → ${after.toFixed(0)} MB`;
    await recordResult({
      number: 11,
      name: "Three times the capacity",
      passed: checks.passed,
      summary,
      seconds: elapsed(),
      figures: {
        capacity,
        offered,
        kinds: kinds.toJSON(),
        goodput,
        admittedP99,
        halfP99,
        refusalP99,
        createdBehindBare,
        createdRefused,
        gatewayMb: run.gatewayMb,
        audit,
        serviceLog: log.path,
      },
    });
    assert.deepEqual(checks.failed, [], `${summary}\nLogs: ${log.path}`);
  }, { env: defaultAdmissionEnv });
});
