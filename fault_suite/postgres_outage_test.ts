import assert from "node:assert/strict";
import { runScenario } from "./_scenario.ts";
import { TcpProxy } from "@catalog/testkit";
import {
  auditExactlyOnce,
  countAllHandled,
  countFailed,
  databasesBehindProxy,
  describeReadWrite,
  exactlyOnceHolds,
  expectApplied,
  readEqualsWrite,
  waitHandled,
  waitReadEqualsWrite,
} from "./_databases.ts";
import {
  drive,
  mutations,
  outcomeName,
  receiptOf,
  send,
  sleep,
  steadyLoad,
  Tally,
} from "./_load.ts";
import { peekDeadLetters } from "./_rabbitmq.ts";
import { Checks, recordResult, stopwatch } from "./_results.ts";

const OUTAGE_MS = 30_000;
const BEFORE_MS = 5_000;
const AFTER_MS = 5_000;
const PRODUCTS = 20;
const IN_FLIGHT = 4;
const PAUSE_MS = 100;

Deno.test("PostgreSQL away for 30 s: nothing dead-lettered, nothing lost, backlog drained", async () => {
  const elapsed = stopwatch();
  let proxy: TcpProxy | undefined;
  try {
    await runScenario(
      "postgres-outage",
      async ({ stack, sandbox, write, read, url, log }) => {
        const category = receiptOf(await send(url, mutations.createCategory("pg-products")));
        assert.ok(category, "Cannot create the category");
        const products: string[] = [];
        const setup = [category.commandId];
        await drive(async (index) => {
          const receipt = receiptOf(
            await send(
              url,
              mutations.createProduct({
                name: `pg-product-${index}`,
                price: 10,
                categoryId: category.aggregateId,
              }),
            ),
          );
          if (!receipt) throw new Error(`Cannot create product ${index}`);
          products.push(receipt.aggregateId);
          setup.push(receipt.commandId);
        }, { concurrency: 8, more: (index) => index < PRODUCTS });
        await expectApplied(write, setup, "the categories");

        const outcomes = new Tally();
        const accepted: string[] = [];
        const load = steadyLoad(async (index) => {
          const request = index % 2 === 0
            ? mutations.createCategory(`pg-${index}`)
            : mutations.updateProduct({
              id: products[index % PRODUCTS]!,
              name: `pg-${index}`,
              price: (index % 1000) + 0.5,
            });
          const outcome = await send(url, request);
          outcomes.add(outcomeName(outcome));
          const receipt = receiptOf(outcome);
          if (receipt) accepted.push(receipt.commandId);
        }, { concurrency: IN_FLIGHT, pauseMs: PAUSE_MS });

        await sleep(BEFORE_MS);
        log.note("cutting PostgreSQL");
        await proxy!.cut();
        const handledAtCut = await countAllHandled(write);
        await sleep(OUTAGE_MS);
        const handledAtEnd = await countAllHandled(write);
        const backlog = accepted.length + setup.length - handledAtEnd;
        proxy!.open();
        log.note(`PostgreSQL reachable again; backlog ${backlog}`);
        const reopened = stopwatch();
        await sleep(AFTER_MS);
        await load.stop();
        let handled = await waitHandled(write, accepted, {
          stallMs: 20_000,
          giveUp: () => stack.crashes.length > 0,
        });
        // A service that died is a failure in itself, but what it left behind
        // is still worth checking: start it again and count once more.
        const crashes = stack.crashes.map(({ process, status }) =>
          `${process} exited by itself (${status.signal ?? `code ${status.code}`})`
        );
        for (const { process } of stack.crashes) {
          if (stack.isRunning(process)) continue;
          log.note(`restarting ${process}, which exited by itself`);
          await stack.start(process);
        }
        if (crashes.length > 0) handled = await waitHandled(write, accepted);
        const drainSeconds = reopened();
        log.note(`drained ${drainSeconds.toFixed(1)} s after PostgreSQL came back`);

        const audit = await auditExactlyOnce(write, accepted);
        const difference = await waitReadEqualsWrite(write, read);
        const deadLetters = (await peekDeadLetters(sandbox.env.AMQP_URL)).length;
        const failed = await countFailed(read);

        const checks = new Checks();
        checks.check(
          `no service exited by itself (${crashes.join(", ") || "none did"})`,
          crashes.length === 0,
        );
        checks.check("every submission accepted", outcomes.get("ok") === accepted.length);
        checks.check("nothing handled while PostgreSQL was away", handledAtEnd === handledAtCut);
        checks.check("every accepted command handled", handled === accepted.length);
        checks.check("nothing dead-lettered", deadLetters === 0);
        checks.check("no command FAILED", failed === 0);
        checks.check("exactly once", exactlyOnceHolds(audit));
        checks.check("read = write", readEqualsWrite(difference));

        const summary = `PostgreSQL away ${OUTAGE_MS / 1000} s: ${accepted.length} accepted ` +
          `(${outcomes}), backlog ${backlog} when it came back, drained ${
            drainSeconds.toFixed(0)
          } s ` +
          `later; ${audit.applied} applied, ${audit.rejected} rejected, ${audit.lost} lost, ` +
          `${audit.duplicated} duplicated, ${deadLetters} dead-lettered, ${failed} FAILED, ` +
          `${describeReadWrite(difference)}` +
          (crashes.length > 0 ? `; ${crashes.join(", ")}: counted after restarting it` : "");
        await recordResult({
          number: 5,
          name: "PostgreSQL away for 30 s",
          passed: checks.passed,
          summary,
          seconds: elapsed(),
          figures: {
            outageSeconds: OUTAGE_MS / 1000,
            outcomes: outcomes.toJSON(),
            handledAtCut,
            handledAtEnd,
            backlog,
            drainSeconds,
            audit,
            readWrite: difference,
            deadLetters,
            failed,
            crashes,
            serviceLog: log.path,
          },
        });
        assert.deepEqual(checks.failed, [], `${summary}\nLogs: ${log.path}`);
      },
      {
        envFor(sandbox) {
          const behind = databasesBehindProxy(sandbox);
          proxy = behind.proxy;
          return behind.env;
        },
      },
    );
  } finally {
    await proxy?.cut();
  }
});
