import assert from "node:assert/strict";
import { eventually, withSystem } from "@catalog/testkit";

Deno.test("with the query service stopped, reads fail at once once the breaker is open, and recover within 2 s of its return", async () => {
  await withSystem(async ({ stack, gql }) => {
    const read = async () => {
      const started = performance.now();
      const result = await gql("{ categories { id } }");
      return { result, ms: performance.now() - started };
    };
    assert.equal((await read()).result.errors, undefined);
    await stack.stop("query");
    // Each read waits for a connection (GRPC_CONNECT_WAIT_MS) until the breaker
    // opens: five at a time open it within one wait.
    await eventually("the query service's circuit to open", async () => {
      const results = await Promise.all(Array.from({ length: 5 }, read));
      return results.some(({ result }) =>
        result.errors?.[0]?.message ===
          "Cannot reach the query service: it has failed repeatedly; calls resume once a probe succeeds"
      );
    }, 30_000);
    const refusals: number[] = [];
    for (let i = 0; i < 20; i++) {
      const { result, ms } = await read();
      assert.equal(result.errors?.[0]?.extensions?.code, "SERVICE_UNAVAILABLE");
      refusals.push(ms);
    }
    const slowest = Math.max(...refusals);
    const median = [...refusals].sort((a, b) => a - b)[10]!;
    // Through HTTP on a shared machine: the median is the circuit's cost, the slowest is printed.
    assert.ok(
      median < 10,
      `reads refused by the open circuit took ${median.toFixed(1)} ms (median)`,
    );

    await stack.start("query");
    const back = performance.now();
    await eventually("reads to succeed again", async () => {
      const { result } = await read();
      return result.errors === undefined;
    }, 10_000);
    const recoveredMs = performance.now() - back;
    console.log(
      `refusals with the circuit open: median ${median.toFixed(1)} ms, at most ${
        slowest.toFixed(1)
      } ms; ` +
        `reads back ${recoveredMs.toFixed(0)} ms after the query service was ready`,
    );
    assert.ok(
      recoveredMs <= 2000,
      `reads came back ${recoveredMs.toFixed(0)} ms after the restart`,
    );
  });
});
