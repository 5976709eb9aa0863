import assert from "node:assert/strict";
import { runScenario } from "./_scenario.ts";
import { eventually, runDeno } from "@catalog/testkit";
import {
  auditExactlyOnce,
  describeReadWrite,
  exactlyOnceHolds,
  expectApplied,
  readEqualsWrite,
  waitHandled,
  waitReadEqualsWrite,
} from "./_databases.ts";
import { drive, mutations, outcomeName, receiptOf, scaled, send, Tally } from "./_load.ts";
import { copyDeadLetter, peekDeadLetters, putBackDeadLetter } from "./_rabbitmq.ts";
import { Checks, crashesOf, recordResult, stopwatch } from "./_results.ts";

/** Commands in the stream, the poison one included. */
const COMMANDS = scaled(10_000);
const CATEGORIES = 20;
const IN_FLIGHT = 48;

/** Runs `deno task dlq:replay -- <id>` against the sandbox; answers its exit code and output. */
async function replay(
  amqpUrl: string,
  commandId: string,
): Promise<{ code: number; output: string }> {
  const run = await runDeno(["task", "--quiet", "dlq:replay", "--", commandId], {
    AMQP_URL: amqpUrl,
  });
  return { code: run.code, output: (run.stdout + run.stderr).trim() };
}

Deno.test("a poison command is dead-lettered alone, then replayed once after the fix", async () => {
  const elapsed = stopwatch();
  let skipped = 0;
  let poisonShort = "";
  await runScenario(
    "poison",
    async ({ stack, sandbox, write, read, url, log }) => {
      const amqpUrl = sandbox.env.AMQP_URL;

      // Not a passing fault: the database refuses this name until the trigger goes.
      await write.unsafe(`
        create function refuse_poison() returns trigger language plpgsql as $$
        begin
          if new.name like 'poison-%' then
            raise exception 'Poisoned category name: %', new.name;
          end if;
          return new;
        end $$;
        create trigger refuse_poison before insert on categories
          for each row execute function refuse_poison();`);

      const categories: string[] = [];
      const setup: string[] = [];
      await drive(async (index) => {
        const receipt = receiptOf(
          await send(url, mutations.createCategory(`setup ${index}`)),
        );
        if (!receipt) throw new Error(`Cannot create category ${index}`);
        categories.push(receipt.aggregateId);
        setup.push(receipt.commandId);
      }, { concurrency: 8, more: (index) => index < CATEGORIES });
      await expectApplied(write, setup, "the categories");

      const poisonName = `poison-${crypto.randomUUID().slice(0, 8)}`;
      const poisonAt = Math.floor(COMMANDS / 2);
      let poison: { commandId: string; aggregateId: string } | undefined;
      const healthy: string[] = [];
      const products: string[] = [];
      const outcomes = new Tally();
      await drive(async (index) => {
        const category = categories[index % CATEGORIES]!;
        let request;
        if (index === poisonAt) request = mutations.createCategory(poisonName);
        else if (index % 3 === 0 || products.length === 0) {
          request = mutations.createProduct({
            name: `n-${index}`,
            price: 2.5,
            categoryId: category,
          });
        } else if (index % 3 === 1) {
          const product = products[index % products.length]!;
          request = mutations.updateProduct({ id: product, price: (index % 900) + 0.25 });
        } else request = mutations.updateCategory(category, `renamed ${index}`);
        const outcome = await send(url, request);
        outcomes.add(outcomeName(outcome));
        const receipt = receiptOf(outcome);
        if (!receipt) return;
        if (index === poisonAt) {
          poison = receipt;
          poisonShort = receipt.commandId.slice(0, 8);
        } else healthy.push(receipt.commandId);
        if (receipt.type === "CreateProduct") products.push(receipt.aggregateId);
      }, { concurrency: IN_FLIGHT, more: (index) => index < COMMANDS });
      assert.ok(poison, "Cannot send the poison command");
      const poisonId = poison.commandId;

      const handledHealthy = await waitHandled(write, healthy);
      await eventually("the poison command FAILED", async () => {
        const [row] = await read`
          select status from command_view where command_id = ${poisonId}::uuid`;
        return row?.status === "FAILED";
      }, 60_000).catch(() => {});
      const auditBefore = await auditExactlyOnce(write, healthy);
      const letters = await peekDeadLetters(amqpUrl);
      const [viewBefore] = await read<{ status: string; code: string; message: string }[]>`
        select status, code, message from command_view where command_id = ${poisonId}::uuid`;
      const [poisonBefore] = await write<{ handled: number }[]>`
        select count(*)::int as handled from commands where command_id = ${poisonId}::uuid`;
      const copy = await copyDeadLetter(amqpUrl, poisonId);
      log.note(`poison ${poisonId} dead-lettered: ${JSON.stringify(letters)}`);

      // The fix, then the operator's replay, twice; then a second copy of
      // the dead letter (at-least-once dead-lettering may make one) replayed too.
      await write.unsafe(
        "drop trigger refuse_poison on categories; drop function refuse_poison()",
      );
      const first = await replay(amqpUrl, poisonId);
      log.note(`replay 1: exit ${first.code}: ${first.output}`);
      await waitHandled(write, [poisonId], { stallMs: 20_000 });
      const second = await replay(amqpUrl, poisonId);
      log.note(`replay 2: exit ${second.code}: ${second.output}`);
      let third: { code: number; output: string } | undefined;
      if (copy) {
        await putBackDeadLetter(amqpUrl, copy);
        third = await replay(amqpUrl, poisonId);
        log.note(`replay of the copy: exit ${third.code}: ${third.output}`);
        await eventually(
          "the worker to skip the copy",
          () => Promise.resolve(skipped >= 1),
          20_000,
        )
          .catch(() => {});
      }

      const [effects] = await write<
        { categories: number; events: number; status: string | null }[]
      >`
        select
          (select count(*)::int from categories where name = ${poisonName}) as categories,
          (select count(*)::int from events where command_id = ${poisonId}::uuid) as events,
          (select status from commands where command_id = ${poisonId}::uuid) as status`;
      const lettersAfter = await peekDeadLetters(amqpUrl);
      const difference = await waitReadEqualsWrite(write, read);
      const [viewAfter] = await read<{ status: string }[]>`
        select status from command_view where command_id = ${poisonId}::uuid`;
      const audit = await auditExactlyOnce(write, [...healthy, poisonId]);
      const reason = letters.find((letter) => letter.commandId === poisonId)?.reason ?? "";

      const checks = new Checks();

      checks.check(
        `no service exited by itself: ${crashesOf(stack)}`,
        stack.crashes.length === 0,
      );
      checks.check(`all ${COMMANDS} commands accepted`, outcomes.get("ok") === COMMANDS);
      checks.check(
        `${COMMANDS - 1} healthy commands applied`,
        handledHealthy === COMMANDS - 1 && auditBefore.applied === COMMANDS - 1,
      );
      checks.check("the poison command not applied before the fix", poisonBefore?.handled === 0);
      checks.check(
        "only the poison command dead-lettered",
        letters.length === 1 && letters[0]?.commandId === poisonId,
      );
      checks.check("the reason names the error", /Poisoned category name/.test(reason));
      checks.check("the poison command FAILED", viewBefore?.status === "FAILED");
      checks.check("the replay succeeded", first.code === 0);
      checks.check("the second replay found nothing to replay", second.code !== 0);
      checks.check("the copy was replayed and skipped", third?.code === 0 && skipped >= 1);
      checks.check(
        "one effect after replays",
        effects?.categories === 1 && effects.events === 1 && effects.status === "APPLIED",
      );
      checks.check(
        "the poison command APPLIED on the read side",
        viewAfter?.status === "APPLIED",
      );
      checks.check("the dead-letter queue is empty", lettersAfter.length === 0);
      checks.check("exactly once", exactlyOnceHolds(audit));
      checks.check("read = write", readEqualsWrite(difference));

      const summary = `poison among ${COMMANDS}: ${auditBefore.applied} applied, ` +
        `${letters.length} dead-lettered (x-dead-letter-reason "${reason}"), status ` +
        `${viewBefore?.status}; after the fix, dlq:replay exit ${first.code}, again exit ` +
        `${second.code} (nothing left), a second copy replayed exit ${third?.code} and skipped: ` +
        `${effects?.categories} category, ${effects?.events} event, ${effects?.status}; ` +
        `${audit.lost} lost, ${audit.duplicated} duplicated, ${describeReadWrite(difference)}`;
      await recordResult({
        number: 6,
        name: "Poison command, fixed and replayed",
        passed: checks.passed,
        summary,
        seconds: elapsed(),
        figures: {
          commands: COMMANDS,
          outcomes: outcomes.toJSON(),
          healthyApplied: auditBefore.applied,
          deadLetters: letters,
          failedView: viewBefore,
          replays: [first, second, third],
          effects,
          audit,
          readWrite: difference,
          serviceLog: log.path,
        },
      });
      assert.deepEqual(checks.failed, [], `${summary}\nLogs: ${log.path}`);
    },
    {
      onLog(line) {
        if (poisonShort && line.includes(`| skipped CreateCategory ${poisonShort}`)) skipped++;
      },
    },
  );
});
