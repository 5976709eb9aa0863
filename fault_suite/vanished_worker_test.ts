import assert from "node:assert/strict";
import { runScenario } from "./_scenario.ts";
import {
  auditExactlyOnce,
  describeReadWrite,
  exactlyOnceHolds,
  readEqualsWrite,
  sandboxBehindProxies,
  waitHandled,
  waitReadEqualsWrite,
} from "./_databases.ts";
import { mutations, receiptOf, send, sleep, steadyLoad } from "./_load.ts";
import { Checks, crashesOf, recordResult, stopwatch } from "./_results.ts";
import type { ProcessName, Stack } from "@catalog/dev";
import { TcpProxy } from "@catalog/testkit";

/** How soon a live worker must own and drain the partitions of one that vanished. */
const MOVE_LIMIT_S = 30;
const PROBES = 40;

async function partitionsHeld(stack: Stack, worker: ProcessName): Promise<number> {
  const response = await fetch(`${stack.healthUrl(worker)}/ready`);
  const body = await response.json();
  return Number(String(body.checks?.partitions?.status ?? "0").split(" ")[0]);
}

Deno.test("the partitions of a worker whose host vanished move to a live worker within 30 s", async () => {
  const elapsed = stopwatch();
  // The second worker reaches PostgreSQL and RabbitMQ through proxies that
  // can make its host vanish: no byte passes either way, no socket closes.
  let database: TcpProxy | undefined;
  let broker: TcpProxy | undefined;
  const viaProxies: Record<string, string> = {};
  await runScenario(
    "vanished-worker",
    async ({ stack, write, read, url, log }) => {
      const accepted = new Set<string>();
      const submit = async (name: string) => {
        const outcome = await send(url, mutations.createCategory(name), { timeoutMs: 10_000 });
        const receipt = receiptOf(outcome);
        if (receipt) accepted.add(receipt.commandId);
        return receipt?.commandId;
      };
      const deadline = Date.now() + 30_000;
      while (
        (await partitionsHeld(stack, "worker")) === 0 ||
        (await partitionsHeld(stack, "worker-2")) === 0
      ) {
        if (Date.now() > deadline) throw new Error("Cannot start: the workers did not share");
        await sleep(200);
      }
      const before = await partitionsHeld(stack, "worker-2");
      const load = steadyLoad(async (index) => {
        await submit(`steady-${index}`);
      }, { concurrency: 4, pauseMs: 20 });
      await sleep(2_000);

      log.note("worker-2's host vanishes");
      database!.vanished = true;
      broker!.vanished = true;
      const vanishedAt = performance.now();
      // Commands for every partition, from just after the vanishing.
      const probes = (await Promise.all(
        Array.from({ length: PROBES }, (_, index) => submit(`probe-${index}`)),
      )).filter((id): id is string => id !== undefined);
      let ownedAllAfter: number | undefined;
      const watching = (async () => {
        while (performance.now() - vanishedAt < 60_000) {
          if ((await partitionsHeld(stack, "worker").catch(() => 0)) === 8) {
            ownedAllAfter = (performance.now() - vanishedAt) / 1000;
            return;
          }
          await sleep(200);
        }
      })();
      const probesHandled = await waitHandled(write, probes, {
        stallMs: 60_000,
        timeoutMs: 90_000,
      });
      const drainedAfter = (performance.now() - vanishedAt) / 1000;
      await watching;
      await load.stop();
      log.note("worker-2 is killed where it hangs");
      await stack.kill("worker-2");

      const ids = [...accepted];
      const handled = await waitHandled(write, ids);
      const audit = await auditExactlyOnce(write, ids);
      const difference = await waitReadEqualsWrite(write, read);

      const checks = new Checks();
      checks.check(
        `the live worker took every partition within ${MOVE_LIMIT_S} s`,
        ownedAllAfter !== undefined && ownedAllAfter <= MOVE_LIMIT_S,
      );
      checks.check(
        `every command sent after the vanishing was applied within ${MOVE_LIMIT_S} s`,
        probesHandled === probes.length && probes.length === PROBES && drainedAfter <= MOVE_LIMIT_S,
      );
      checks.check("every accepted command handled", handled === ids.length);
      checks.check("exactly once", exactlyOnceHolds(audit));
      checks.check("read = write", readEqualsWrite(difference));
      checks.check(
        `no process exited by itself (${crashesOf(stack)})`,
        stack.crashes.length === 0,
      );

      const summary =
        `worker-2 (holding ${before} of 8 partitions) vanished without closing a socket: ` +
        `worker took all 8 after ${ownedAllAfter?.toFixed(1) ?? "never"} s, the ${probes.length} ` +
        `commands sent right after were applied within ${drainedAfter.toFixed(1)} s; ` +
        `${ids.length} accepted, ${handled} handled, ${audit.lost} lost, ` +
        `${audit.duplicated} duplicated, ${describeReadWrite(difference)}`;
      await recordResult({
        number: 10,
        name: "Vanished worker",
        passed: checks.passed,
        summary,
        seconds: elapsed(),
        figures: {
          partitionsOfTheVanished: before,
          ownedAllAfterSeconds: ownedAllAfter,
          probes: probes.length,
          probesHandled,
          drainedAfterSeconds: drainedAfter,
          accepted: ids.length,
          handled,
          audit,
          readWrite: difference,
          serviceLog: log.path,
        },
      });
      assert.deepEqual(checks.failed, [], `${summary}\nLogs: ${log.path}`);
    },
    {
      workers: 2,
      envFor(sandbox) {
        const proxied = sandboxBehindProxies(sandbox);
        database = proxied.postgres;
        broker = proxied.rabbitmq;
        Object.assign(viaProxies, proxied.env);
        return {};
      },
      envOf: (process) => process === "worker-2" ? viaProxies : {},
    },
  ).finally(async () => {
    await database?.cut();
    await broker?.cut();
  });
});
