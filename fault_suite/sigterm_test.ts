import assert from "node:assert/strict";
import { runScenario } from "./_scenario.ts";
import type { ServiceName } from "@catalog/dev";
import {
  auditExactlyOnce,
  describeReadWrite,
  exactlyOnceHolds,
  readEqualsWrite,
  waitHandled,
  waitReadEqualsWrite,
} from "./_databases.ts";
import { mutations, outcomeName, send, sleep, steadyLoad, Tally } from "./_load.ts";
import { Checks, recordResult, stopwatch } from "./_results.ts";

/** Every request's deadline on the client side. */
const DEADLINE_MS = 10_000;
const SERVICES: ServiceName[] = ["worker", "command", "query", "gateway"];
const BEFORE_MS = 3_000;
const BETWEEN_MS = 2_000;
const IN_FLIGHT = 16;
const PAUSE_MS = 100;

Deno.test("SIGTERM to each service under load loses no accepted command and strands no client", async () => {
  const elapsed = stopwatch();
  await runScenario(
    "sigterm",
    async ({ stack, write, read, url, log }) => {
      let phase = "before";
      const outcomes = new Map<string, Tally>();
      const examples = new Map<string, string>();
      /** Command ids the clients learnt: receipts, and errors that name an accepted command. */
      const accepted = new Set<string>();
      /** Categories that waiting mutations answered as created. */
      const created: string[] = [];
      const load = steadyLoad(async (index) => {
        const sentIn = phase;
        // One request in five waits for its effect (createCategory); the others are submits.
        const waits = index % 5 === 0;
        const request = waits
          ? mutations.createCategoryAndWait(`wait-${index}`)
          : mutations.createCategory(`submit-${index}`);
        const outcome = await send(url, request, { timeoutMs: DEADLINE_MS });
        const what = `${waits ? "wait" : "submit"} ${outcomeName(outcome)}`;
        const tally = outcomes.get(sentIn) ?? new Tally();
        tally.add(what);
        outcomes.set(sentIn, tally);
        if (outcome.kind === "ok") {
          const data = outcome.data as {
            receipt?: { commandId: string };
            createCategory?: { id: string };
          };
          if (data.receipt) accepted.add(data.receipt.commandId);
          if (data.createCategory) created.push(data.createCategory.id);
        } else if (outcome.kind === "error") {
          const commandId = outcome.extensions.commandId;
          if (typeof commandId === "string") accepted.add(commandId);
        }
        if (outcome.kind !== "ok" && !examples.has(what)) {
          examples.set(what, `${sentIn}: ${JSON.stringify(outcome).slice(0, 300)}`);
        }
      }, { concurrency: IN_FLIGHT, pauseMs: PAUSE_MS });

      const stops: {
        service: string;
        exit: string;
        stopSeconds: number;
        readySeconds: number;
      }[] = [];
      // A service that dies by itself is a failure; it is started again so
      // that the next SIGTERM still means something.
      const crashes: string[] = [];
      let seen = 0;
      const restartCrashed = async () => {
        for (const { process, status } of stack.crashes.slice(seen)) {
          seen++;
          crashes.push(`${process} ${status.signal ?? `code ${status.code}`} during ${phase}`);
          log.note(`restarting ${process}, which exited by itself during ${phase}`);
          if (!stack.isRunning(process)) await stack.start(process);
        }
      };
      await sleep(BEFORE_MS);
      for (const service of SERVICES) {
        await restartCrashed();
        phase = `${service} SIGTERM`;
        log.note(`SIGTERM ${service}`);
        const stopping = stopwatch();
        const status = await stack.stop(service, { signal: "SIGTERM", graceMs: 30_000 });
        const stopSeconds = stopping();
        const starting = stopwatch();
        await stack.start(service);
        stops.push({
          service,
          exit: status?.signal ?? `code ${status?.code}`,
          stopSeconds,
          readySeconds: starting(),
        });
        log.note(`${service} ready again`);
        await sleep(BETWEEN_MS);
      }
      await restartCrashed();
      phase = "after";
      await sleep(BETWEEN_MS);
      await load.stop();
      await restartCrashed();

      const ids = [...accepted];
      const handled = await waitHandled(write, ids);
      const [found] = await write<{ count: number }[]>`
        select count(*)::int as count from categories where id = any(${created}::uuid[])`;
      const audit = await auditExactlyOnce(write, ids);
      const difference = await waitReadEqualsWrite(write, read);
      const all = new Tally();
      for (const tally of outcomes.values()) {
        for (const [what, count] of tally.counts) all.add(what, count);
      }
      const timeouts = all.get("wait timeout") + all.get("submit timeout");

      const checks = new Checks();
      checks.check("no request hit its deadline", timeouts === 0);
      checks.check(
        "every service exited 0 on SIGTERM",
        stops.every((stop) => stop.exit === "code 0"),
      );
      checks.check(
        `no service exited by itself (${crashes.join(", ") || "none did"})`,
        crashes.length === 0,
      );
      checks.check("every accepted command handled", handled === ids.length);
      checks.check(
        "every category a waiting mutation returned exists",
        found?.count === created.length,
      );
      checks.check("exactly once", exactlyOnceHolds(audit));
      checks.check("read = write", readEqualsWrite(difference));

      const summary =
        `SIGTERM ${SERVICES.join(", ")} under load: ${
          [...all.counts.values()].reduce((a, b) => a + b, 0)
        } requests (${all}), ${timeouts} past the ${DEADLINE_MS / 1000} s deadline; ` +
        `${ids.length} accepted, ${handled} handled, ${audit.lost} lost, ${audit.duplicated} ` +
        `duplicated, ${describeReadWrite(difference)}; exits: ${
          stops.map((stop) => `${stop.service} ${stop.exit} in ${stop.stopSeconds.toFixed(1)} s`)
            .join(", ")
        }` + (crashes.length > 0 ? `; exited by itself: ${crashes.join(", ")}` : "");
      await recordResult({
        number: 7,
        name: "SIGTERM to each service",
        passed: checks.passed,
        summary,
        seconds: elapsed(),
        figures: {
          deadlineMs: DEADLINE_MS,
          outcomes: Object.fromEntries(
            [...outcomes].map(([name, tally]) => [name, tally.toJSON()]),
          ),
          examples: Object.fromEntries(examples),
          stops,
          accepted: ids.length,
          handled,
          createdByWaitingMutations: created.length,
          audit,
          readWrite: difference,
          crashes,
          serviceLog: log.path,
        },
      });
      assert.deepEqual(
        checks.failed,
        [],
        `${summary}\n${[...examples.values()].join("\n")}\nLogs: ${log.path}`,
      );
    },
    { env: { COMMAND_WAIT_TIMEOUT_MS: "3000" } },
  );
});
