import assert from "node:assert/strict";
import { runScenario } from "./_scenario.ts";
import { eventually } from "@catalog/testkit";
import {
  auditExactlyOnce,
  countAllHandled,
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
  type Receipt,
  receiptOf,
  scaled,
  send,
  Tally,
} from "./_load.ts";
import { observeCommands } from "./_rabbitmq.ts";
import { Checks, crashesOf, recordResult, stopwatch } from "./_results.ts";

const COMMANDS = scaled(1_000);
const COPIES = 3;
const IN_FLIGHT = 48;

Deno.test("a command sent three times with one idempotency key has one effect", async () => {
  const elapsed = stopwatch();
  let skipped = 0;
  await runScenario(
    "idempotency",
    async ({ stack, sandbox, write, read, url }) => {
      await using observer = await observeCommands(sandbox.env.AMQP_URL);

      const setup = receiptOf(await send(url, mutations.createCategory("idempotency")));
      assert.ok(setup, "Cannot create the products' category");
      await expectApplied(write, [setup.commandId], "the products' category");

      // Even commands create categories, odd ones products. The three copies
      // of command i go out all at once (i % 3 = 0), one after the other
      // (i % 3 = 1), or two at once now and the third once everything has been
      // applied (i % 3 = 2), as a client retrying much later would.
      const request = (index: number) =>
        index % 2 === 0
          ? mutations.createCategory(`idem-${index}`, `key-${index}`)
          : mutations.createProduct(
            { name: `idem-${index}`, price: (index % 500) + 0.99, categoryId: setup.aggregateId },
            `key-${index}`,
          );
      const receipts: (Receipt | undefined)[][] = Array.from({ length: COMMANDS }, () => []);
      const outcomes = new Tally();
      const sendCopy = async (index: number) => {
        const outcome = await send(url, request(index));
        outcomes.add(outcomeName(outcome));
        receipts[index]!.push(receiptOf(outcome));
      };
      await drive(async (index) => {
        if (index % 3 === 0) {
          await Promise.all(Array.from({ length: COPIES }, () => sendCopy(index)));
        } else if (index % 3 === 1) {
          for (let copy = 0; copy < COPIES; copy++) await sendCopy(index);
        } else {
          await Promise.all([sendCopy(index), sendCopy(index)]);
        }
      }, { concurrency: IN_FLIGHT / COPIES, more: (index) => index < COMMANDS });
      const firstIds = [
        ...new Set(receipts.flatMap((copies) => copies.flatMap((r) => r ? [r.commandId] : []))),
      ];
      await waitHandled(write, firstIds);
      const late = receipts.map((_, index) => index).filter((index) => index % 3 === 2);
      await drive((n) => sendCopy(late[n]!), {
        concurrency: IN_FLIGHT,
        more: (n) => n < late.length,
      });

      // Every copy must have reached the worker before counting effects.
      const observed = await observer.waitFor(1 + COMMANDS * COPIES);
      const commandIds = [
        ...new Set(receipts.flatMap((copies) => copies.flatMap((r) => r ? [r.commandId] : []))),
      ];
      await waitHandled(write, commandIds);
      // The worker says "skipped" for each copy it recognises; count effects
      // only once it has seen every copy.
      const duplicates = COMMANDS * (COPIES - 1);
      await eventually(
        "the worker to skip every duplicate",
        () => Promise.resolve(skipped >= duplicates),
        30_000,
      )
        .catch(() => {});
      const audit = await auditExactlyOnce(write, commandIds);
      const [entities] = await write<{ categories: number; products: number }[]>`
      select
        (select count(*)::int from categories where name like 'idem-%') as categories,
        (select count(*)::int from products where name like 'idem-%') as products`;
      const [events] = await write<{ events: number }[]>`
      select count(*)::int as events from events where command_id = any(${commandIds}::uuid[])`;
      const allHandled = (await countAllHandled(write)) - 1;
      const difference = await waitReadEqualsWrite(write, read);
      const consistent = receipts.filter((copies) =>
        copies.length === COPIES &&
        copies.every((receipt) =>
          receipt && receipt.commandId === copies[0]?.commandId &&
          receipt.aggregateId === copies[0]?.aggregateId
        )
      ).length;

      const checks = new Checks();

      checks.check(`no service exited by itself: ${crashesOf(stack)}`, stack.crashes.length === 0);
      checks.check(
        `all ${COMMANDS * COPIES} copies accepted`,
        outcomes.get("ok") === COMMANDS * COPIES,
      );
      checks.check("every copy reached RabbitMQ", observed.length === 1 + COMMANDS * COPIES);
      checks.check("the copies of a command share its id and entity id", consistent === COMMANDS);
      checks.check(`${COMMANDS} distinct command ids`, commandIds.length === COMMANDS);
      checks.check(`${COMMANDS} commands handled in all`, allHandled === COMMANDS);
      checks.check(`${COMMANDS} events`, events?.events === COMMANDS);
      checks.check(
        `${COMMANDS} entities`,
        (entities?.categories ?? 0) + (entities?.products ?? 0) === COMMANDS,
      );
      checks.check("the worker saw and skipped every duplicate", skipped === duplicates);
      checks.check("exactly once", exactlyOnceHolds(audit) && audit.applied === COMMANDS);
      checks.check("read = write", readEqualsWrite(difference));
      const summary = `idempotency: ${COMMANDS} commands x${COPIES} copies (${outcomes}), ` +
        `${commandIds.length} distinct command ids, ${allHandled} handled, ${audit.applied} applied, ` +
        `${skipped} duplicates skipped by the worker, ` +
        `${events?.events} events, ${entities?.categories} categories + ${entities?.products} ` +
        `products, ${audit.duplicated} duplicated, ${describeReadWrite(difference)}`;
      await recordResult({
        number: 2,
        name: "Idempotency (same key x3)",
        passed: checks.passed,
        summary,
        seconds: elapsed(),
        figures: {
          commands: COMMANDS,
          copies: COPIES,
          outcomes: outcomes.toJSON(),
          distinctCommandIds: commandIds.length,
          consistentCopies: consistent,
          handled: allHandled,
          duplicatesSkipped: skipped,
          events: events?.events,
          entities,
          audit,
          readWrite: difference,
        },
      });
      assert.deepEqual(checks.failed, [], summary);
    },
    {
      onLog: (line) => line.includes("| skipped ") && skipped++,
    },
  );
});
