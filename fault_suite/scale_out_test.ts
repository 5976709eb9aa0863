import assert from "node:assert/strict";
import { runScenario } from "./_scenario.ts";
import type { TcpProxy } from "@catalog/testkit";
import {
  auditExactlyOnce,
  databasesBehindProxy,
  describeReadWrite,
  exactlyOnceHolds,
  expectApplied,
  readEqualsWrite,
  waitReadEqualsWrite,
} from "./_databases.ts";
import { describeDrains, type Drain, measureDrain } from "./_drain.ts";
import { drive, mutations, receiptOf, scaled, send, Tally } from "./_load.ts";
import { Checks, crashesOf, recordResult, stopwatch } from "./_results.ts";

/**
 * Added to each round trip to PostgreSQL: a database on another host of the
 * same network, where a worker waits on round trips rather than on the CPU.
 */
const DATABASE_DELAY_MS = 2;
const PRODUCTS = 100;
const BACKLOG = scaled(1_000);
const WORKERS = 2;
const CONCURRENCY = 2;
const IN_FLIGHT = 48;

Deno.test("two workers drain a backlog faster than one when the database is a network hop away", async () => {
  const elapsed = stopwatch();
  let proxy: TcpProxy | undefined;
  try {
    await runScenario(
      "scale-out",
      async ({ stack, write, read, url, log }) => {
        const outcomes = new Tally();

        const category = receiptOf(await send(url, mutations.createCategory("scale-out")));
        assert.ok(category, "Cannot create the category");
        // A product's create may be decided before its category's otherwise (docs/guarantees.md).
        await expectApplied(write, [category.commandId], "the category");
        const products: string[] = [];
        const created: string[] = [category.commandId];
        await drive(async (index) => {
          const receipt = receiptOf(
            await send(
              url,
              mutations.createProduct({
                name: `product-${index}`,
                price: 1,
                categoryId: category.aggregateId,
              }),
            ),
          );
          if (!receipt) return;
          products.push(receipt.aggregateId);
          created.push(receipt.commandId);
        }, { concurrency: IN_FLIGHT, more: (index) => index < PRODUCTS });
        await expectApplied(write, created, "the products");

        proxy!.delayMs = DATABASE_DELAY_MS;
        const drains: Drain[] = [];
        const commandIds = [...created];
        for (const workers of [1, WORKERS]) {
          const options = { count: BACKLOG, products, tag: `w${workers}`, inFlight: IN_FLIGHT };
          drains.push(
            await measureDrain(stack, write, { ...options, workers, outcomes, commandIds }),
          );
        }
        proxy!.delayMs = 0;

        const audit = await auditExactlyOnce(write, commandIds);
        const difference = await waitReadEqualsWrite(write, read);
        const gain = (drains[1]?.perSecond ?? 0) / (drains[0]?.perSecond || 1);

        const checks = new Checks();
        checks.check(
          `no service exited by itself: ${crashesOf(stack)}`,
          stack.crashes.length === 0,
        );
        checks.check("every request answered OK", outcomes.get("ok") === 2 * BACKLOG);
        checks.check(
          "every queued command handled",
          drains.every((drain) => drain.commands === BACKLOG),
        );
        checks.check("exactly once", exactlyOnceHolds(audit));
        checks.check("read = write", readEqualsWrite(difference));

        const summary = `scale-out with PostgreSQL ${DATABASE_DELAY_MS} ms away (concurrency ` +
          `${CONCURRENCY} per worker): drain of ${BACKLOG} queued updates over ${PRODUCTS} ` +
          `products: ${describeDrains(drains)} (x${gain.toFixed(2)}); ${audit.lost} lost, ` +
          `${audit.duplicated} duplicated, ${describeReadWrite(difference)}`;
        await recordResult({
          number: 8,
          name: `Scale-out, PostgreSQL ${DATABASE_DELAY_MS} ms away`,
          passed: checks.passed,
          summary,
          seconds: elapsed(),
          figures: {
            databaseDelayMs: DATABASE_DELAY_MS,
            backlog: BACKLOG,
            products: PRODUCTS,
            concurrency: CONCURRENCY,
            drains,
            gain,
            outcomes: outcomes.toJSON(),
            audit,
            readWrite: difference,
            serviceLog: log.path,
          },
        });
        assert.deepEqual(checks.failed, [], `${summary}\nLogs: ${log.path}`);
      },
      {
        workers: WORKERS,
        workerConcurrency: CONCURRENCY,
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
