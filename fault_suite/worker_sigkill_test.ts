import assert from "node:assert/strict";
import { runScenario } from "./_scenario.ts";
import {
  auditExactlyOnce,
  countAllHandled,
  countFailed,
  describeReadWrite,
  exactlyOnceHolds,
  expectApplied,
  readEqualsWrite,
  waitHandled,
  waitReadEqualsWrite,
} from "./_databases.ts";
import { drive, mutations, outcomeName, receiptOf, scaled, send, sleep, Tally } from "./_load.ts";
import { peekDeadLetters } from "./_rabbitmq.ts";
import { Checks, crashesOf, recordResult, stopwatch } from "./_results.ts";

/** Commands in the stream, besides the categories created before it. */
const COMMANDS = scaled(10_000);
const KILLS = 5;
const CATEGORIES = 50;
const IN_FLIGHT = 48;

Deno.test("a worker killed five times mid-stream loses and duplicates nothing", async () => {
  const elapsed = stopwatch();
  await runScenario(
    "worker-sigkill",
    async ({ stack, sandbox, write, read, url }) => {
      const categories: string[] = [];
      const setup: string[] = [];
      await drive(async (index) => {
        const receipt = receiptOf(await send(url, mutations.createCategory(`s-${index}`)));
        if (!receipt) throw new Error(`Cannot create category s-${index}`);
        categories.push(receipt.aggregateId);
        setup.push(receipt.commandId);
      }, { concurrency: 16, more: (index) => index < CATEGORIES });
      await expectApplied(write, setup, "the categories");

      // Creates and updates of products, renames of categories, in a stream
      // that runs while the killer kills the worker whenever it has handled
      // another sixth of the stream.
      const accepted: string[] = [];
      const products: string[] = [];
      const outcomes = new Tally();
      const kills: { handled: number; restartSeconds: number }[] = [];
      let killerGaveUp = "";
      const killer = (async () => {
        for (let kill = 1; kill <= KILLS; kill++) {
          const threshold = CATEGORIES + Math.floor((COMMANDS * kill) / (KILLS + 1));
          let last = -1;
          let progressAt = Date.now();
          while (true) {
            const handled = await countAllHandled(write);
            if (handled >= threshold) break;
            if (handled > last) [last, progressAt] = [handled, Date.now()];
            if (Date.now() - progressAt > 60_000) {
              killerGaveUp = `no progress past ${handled} handled commands for 60 s`;
              return;
            }
            await sleep(50);
          }
          const killedAt = await countAllHandled(write);
          await stack.kill("worker");
          const restarted = performance.now();
          await stack.start("worker");
          kills.push({
            handled: killedAt - CATEGORIES,
            restartSeconds: (performance.now() - restarted) / 1000,
          });
        }
      })();

      const streamed = stopwatch();
      await drive(async (index) => {
        const kind = index % 10;
        const category = categories[index % categories.length]!;
        const price = ((index * 37) % 99_999 + 1) / 100;
        let request;
        if (kind < 3 || products.length === 0) {
          request = mutations.createProduct({ name: `p-${index}`, price, categoryId: category });
        } else if (kind < 8) {
          const product = products[Math.floor(Math.random() * products.length)]!;
          request = mutations.updateProduct({ id: product, name: `p-${index}`, price });
        } else {
          request = mutations.updateCategory(category, `c-${index}`);
        }
        const outcome = await send(url, request);
        outcomes.add(outcomeName(outcome));
        const receipt = receiptOf(outcome);
        if (!receipt) return;
        accepted.push(receipt.commandId);
        if (receipt.type === "CreateProduct") products.push(receipt.aggregateId);
      }, { concurrency: IN_FLIGHT, more: (index) => index < COMMANDS });
      const submitSeconds = streamed();
      await killer;

      const handled = await waitHandled(write, accepted);
      const drainSeconds = streamed();
      const audit = await auditExactlyOnce(write, accepted);
      const difference = await waitReadEqualsWrite(write, read);
      const deadLetters = (await peekDeadLetters(sandbox.env.AMQP_URL)).length;
      const failed = await countFailed(read);

      const checks = new Checks();

      checks.check(`no service exited by itself: ${crashesOf(stack)}`, stack.crashes.length === 0);
      checks.check(`all ${COMMANDS} commands accepted`, accepted.length === COMMANDS);
      checks.check(
        `the worker killed ${KILLS} times (${killerGaveUp || "ok"})`,
        kills.length === KILLS,
      );
      checks.check("every accepted command handled", handled === accepted.length);
      checks.check("exactly once", exactlyOnceHolds(audit));
      checks.check("read = write", readEqualsWrite(difference));
      checks.check("nothing dead-lettered or FAILED", deadLetters === 0 && failed === 0);
      const restart = kills.map((kill) => kill.restartSeconds);
      const summary = `worker SIGKILL x${kills.length}: ${audit.accepted} accepted, ` +
        `${audit.applied} applied, ${audit.rejected} rejected, ${audit.lost} lost, ` +
        `${audit.duplicated} duplicated, ${audit.versionGaps} version gaps, ` +
        `${describeReadWrite(difference)}, ${deadLetters} dead-lettered ` +
        `(killed after ${kills.map((kill) => kill.handled).join("/")} handled; restart ` +
        `${Math.max(0, ...restart).toFixed(1)} s at most; submitted in ${
          submitSeconds.toFixed(0)
        } s, ` +
        `drained in ${drainSeconds.toFixed(0)} s, ${
          (handled / drainSeconds).toFixed(0)
        } commands/s)`;
      await recordResult({
        number: 1,
        name: "Worker killed (SIGKILL x5)",
        passed: checks.passed,
        summary,
        seconds: elapsed(),
        figures: {
          commands: COMMANDS,
          outcomes: outcomes.toJSON(),
          audit,
          readWrite: difference,
          deadLetters,
          failed,
          kills,
          submitSeconds,
          drainSeconds,
        },
      });
      assert.deepEqual(checks.failed, [], `${summary}\n${difference.examples.join("\n")}`);
    },
    { logTail: 80 },
  );
});
