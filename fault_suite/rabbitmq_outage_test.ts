import assert from "node:assert/strict";
import { runScenario } from "./_scenario.ts";
import { TcpProxy } from "@catalog/testkit";
import {
  auditExactlyOnce,
  countFailed,
  describeReadWrite,
  exactlyOnceHolds,
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
import { Checks, crashesOf, recordResult, stopwatch } from "./_results.ts";

const OUTAGE_MS = 30_000;
const BEFORE_MS = 5_000;
/** Load after RabbitMQ is back: until this long after the first OK answer. */
const AFTER_OK_MS = 3_000;
/** Give up waiting for service to resume after this long. */
const RESUME_LIMIT_MS = 30_000;
const IN_FLIGHT = 8;
const PAUSE_MS = 100;
const REFUSED_PAUSE_MS = 1_000;

type Window = "before" | "during" | "after";

Deno.test("RabbitMQ away for 30 s: refusals are SERVICE_UNAVAILABLE or of unknown outcome, receipts apply, service resumes", async () => {
  const elapsed = stopwatch();
  let proxy: TcpProxy | undefined;
  try {
    await runScenario(
      "rabbitmq-outage",
      async ({ stack, sandbox, write, read, url, log }) => {
        let window: Window = "before";
        const outcomes = { before: new Tally(), during: new Tally(), after: new Tally() };
        const unexpected: string[] = [];
        const accepted: string[] = [];
        const refused: number[] = [];
        /** Commands cut off between publish and confirm: their ids, by request. */
        const unknown = new Map<number, string>();
        let firstOkAfter: number | undefined;
        let reopenedAt = 0;
        const name = (index: number) => `rmq-${index}`;
        const load = steadyLoad(async (index) => {
          const sentIn = window;
          const outcome = await send(
            url,
            mutations.createCategory(name(index), `rmq-key-${index}`),
          );
          const what = outcomeName(outcome);
          outcomes[sentIn].add(what);
          const receipt = receiptOf(outcome);
          if (receipt) {
            accepted.push(receipt.commandId);
            if (window === "after" && firstOkAfter === undefined) {
              firstOkAfter = performance.now() - reopenedAt;
              log.note(`first OK receipt after RabbitMQ came back, ${firstOkAfter.toFixed(0)} ms`);
            }
            return;
          }
          refused.push(index);
          // A command whose connection was cut between its publish and its
          // confirm may be queued: the client is told so, with its id.
          const commandId = outcome.kind === "error" ? outcome.extensions.commandId : undefined;
          if (what === "COMMAND_OUTCOME_UNKNOWN" && typeof commandId === "string") {
            unknown.set(index, commandId);
          } else if (what !== "SERVICE_UNAVAILABLE" && unexpected.length < 5) {
            unexpected.push(`${sentIn}: ${JSON.stringify(outcome)}`);
          }
          // As a client would, back off after a refusal.
          await sleep(REFUSED_PAUSE_MS);
        }, { concurrency: IN_FLIGHT, pauseMs: PAUSE_MS });

        await sleep(BEFORE_MS);
        log.note("cutting RabbitMQ");
        window = "during";
        await proxy!.cut();
        await sleep(OUTAGE_MS);
        proxy!.open();
        reopenedAt = performance.now();
        window = "after";
        log.note("RabbitMQ reachable again");
        const resumeDeadline = Date.now() + RESUME_LIMIT_MS;
        while (firstOkAfter === undefined && Date.now() < resumeDeadline) await sleep(100);
        await sleep(AFTER_OK_MS);
        await load.stop();

        // A request of unknown outcome may have been queued (its confirm was
        // lost with the connection): retrying it with its idempotency key
        // must give the same command, and not apply it twice.
        const retried = new Tally();
        let sameCommand = 0;
        await drive(async (n) => {
          const index = refused[n]!;
          const outcome = await send(
            url,
            mutations.createCategory(name(index), `rmq-key-${index}`),
          );
          retried.add(outcomeName(outcome));
          const receipt = receiptOf(outcome);
          if (receipt) accepted.push(receipt.commandId);
          if (receipt && receipt.commandId === unknown.get(index)) sameCommand++;
        }, { concurrency: 16, more: (n) => n < refused.length });

        const handled = await waitHandled(write, accepted);
        const audit = await auditExactlyOnce(write, accepted);
        const [categories] = await write<{ count: number; distinct: number }[]>`
        select count(*)::int as count, count(distinct name)::int as distinct from categories
        where name like 'rmq-%'`;
        const sent = Object.values(outcomes).reduce(
          (sum, tally) => sum + [...tally.counts.values()].reduce((a, b) => a + b, 0),
          0,
        );
        const difference = await waitReadEqualsWrite(write, read);
        const deadLetters = (await peekDeadLetters(sandbox.env.AMQP_URL)).length;
        const failed = await countFailed(read);
        const distinctAccepted = new Set(accepted).size;

        const checks = new Checks();

        checks.check(
          `no service exited by itself: ${crashesOf(stack)}`,
          stack.crashes.length === 0,
        );
        checks.check(
          "every refusal is SERVICE_UNAVAILABLE, or COMMAND_OUTCOME_UNKNOWN with its id",
          unexpected.length === 0,
        );
        checks.check(
          "a retry of a command of unknown outcome is the same command",
          sameCommand === unknown.size,
        );
        checks.check(
          "no request hit its deadline",
          Object.values(outcomes).every((t) => t.get("timeout") === 0),
        );
        checks.check("commands accepted before the outage", outcomes.before.get("ok") > 0);
        checks.check("refusals during the outage", outcomes.during.get("SERVICE_UNAVAILABLE") > 0);
        checks.check("service resumed by itself", firstOkAfter !== undefined);
        checks.check("every receipt's command handled", handled === distinctAccepted);
        checks.check("every receipt's command APPLIED", audit.applied === distinctAccepted);
        checks.check(
          "retries with the idempotency key all accepted",
          retried.get("ok") === refused.length,
        );
        checks.check(
          "one category per request, none twice",
          categories?.count === sent && categories?.distinct === sent,
        );
        checks.check("exactly once", exactlyOnceHolds(audit));
        checks.check("read = write", readEqualsWrite(difference));
        checks.check("nothing dead-lettered or FAILED", deadLetters === 0 && failed === 0);

        const summary =
          `RabbitMQ away ${OUTAGE_MS / 1000} s: ${sent} requests (before: ${outcomes.before}; ` +
          `during: ${outcomes.during}; after: ${outcomes.after}), ${
            distinctAccepted - (retried.get("ok"))
          } ` +
          `receipts during the run, all ${
            audit.applied === distinctAccepted ? "APPLIED" : "NOT applied"
          }; ` +
          `service resumed ${
            firstOkAfter === undefined ? "NEVER" : `${(firstOkAfter / 1000).toFixed(1)} s`
          } ` +
          `after RabbitMQ came back, without restarts; ${refused.length} refused requests (${unknown.size} ` +
          `of unknown outcome) retried with ` +
          `their idempotency keys (${retried}): ${categories?.count} categories for ${sent} requests, ` +
          `${audit.lost} lost, ${audit.duplicated} duplicated, ${describeReadWrite(difference)}`;
        await recordResult({
          number: 4,
          name: "RabbitMQ away for 30 s",
          passed: checks.passed,
          summary,
          seconds: elapsed(),
          figures: {
            outageSeconds: OUTAGE_MS / 1000,
            outcomes,
            unexpected,
            resumedAfterMs: firstOkAfter,
            refused: refused.length,
            unknownOutcome: unknown.size,
            retried: retried.toJSON(),
            categories,
            audit,
            readWrite: difference,
            deadLetters,
            failed,
            serviceLog: log.path,
          },
        });
        assert.deepEqual(
          checks.failed,
          [],
          `${summary}\n${unexpected.join("\n")}\nLogs: ${log.path}`,
        );
      },
      {
        envFor(sandbox) {
          const inFront = TcpProxy.inFrontOf(sandbox.env.AMQP_URL, 5672);
          proxy = inFront.proxy;
          proxy.open();
          return { AMQP_URL: inFront.url };
        },
      },
    );
  } finally {
    await proxy?.cut();
  }
});
