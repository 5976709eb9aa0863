import assert from "node:assert/strict";
import { runScenario } from "./_scenario.ts";
import {
  auditExactlyOnce,
  describeReadWrite,
  exactlyOnceHolds,
  readEqualsWrite,
  waitHandled,
  waitReadEqualsWrite,
} from "./_databases.ts";
import {
  mutations,
  type Outcome,
  outcomeName,
  scaled,
  send,
  sleep,
  steadyLoad,
  Tally,
} from "./_load.ts";
import { Checks, crashesOf, recordResult, stopwatch } from "./_results.ts";
import { subscribeSse } from "@catalog/testkit";

/** Every request's deadline on the client side. */
const DEADLINE_MS = 10_000;
/** Restarts of each backend, one after the other. */
const RESTARTS = scaled(20);
const IN_FLIGHT = 12;
const PAUSE_MS = 20;
/**
 * How long after a backend is ready again a gateway may still fail a call:
 * the gateway reconnects on its next call, or after its reconnect backoff
 * (at most 1 s, with jitter) if its last attempt met the backend still down.
 */
const RECONNECT_MS = 1_500;
/** What a client may see while a backend is down, beside success. */
const EXPECTED_WHILE_DOWN = new Set([
  "SERVICE_UNAVAILABLE",
  "COMMAND_PENDING",
  "COMMAND_OUTCOME_UNKNOWN",
]);
/** An internal address or a stack frame, which no answer may carry. */
const LEAK = /\b\d{1,3}(?:\.\d{1,3}){3}\b|localhost:\d+|\[::1?\]|ECONN|EPIPE|\bat .+:\d+:\d+/;

const READ = "{ categories { id name } products { id name price category { id name } } }";

interface Request {
  startedAt: number;
  endedAt: number;
  what: string;
  outcome: Outcome;
}

Deno.test("rolling restarts of the command and query services strand no gateway and lose nothing", async () => {
  const elapsed = stopwatch();
  await runScenario(
    "rolling-restarts",
    async ({ stack, write, read, log }) => {
      const urls = stack.graphqlUrls;
      const subscribers = await Promise.all(
        urls.map((url) => subscribeSse(url, "subscription { categoryCreated { id } }")),
      );
      const seen = subscribers.map(() => new Map<string, number>());
      const listening = subscribers.map(async (subscriber, index) => {
        try {
          while (true) {
            const event = await subscriber.next();
            if (event?.event !== "next") return event?.event ?? "ended";
            const id = (event.data.data as { categoryCreated?: { id: string } } | undefined)
              ?.categoryCreated?.id;
            if (id) seen[index]!.set(id, (seen[index]!.get(id) ?? 0) + 1);
          }
        } catch (error) {
          // Its gateway went away: the subscriber check below fails.
          return `broken: ${error instanceof Error ? error.message : error}`;
        }
      });

      const requests: Request[] = [];
      const accepted = new Set<string>();
      const unknown = new Set<string>();
      const load = steadyLoad(async (index) => {
        const url = urls[index % urls.length]!;
        const kind = index % 4;
        const what = ["read", "submit", "wait", "read"][kind]!;
        const request = what === "read"
          ? { query: READ }
          : what === "submit"
          ? mutations.createCategory(`submit-${index}`)
          : mutations.createCategoryAndWait(`wait-${index}`);
        const startedAt = Date.now();
        const outcome = await send(url, request, { timeoutMs: DEADLINE_MS });
        requests.push({ startedAt, endedAt: Date.now(), what, outcome });
        if (outcome.kind === "ok") {
          const data = outcome.data as {
            receipt?: { commandId: string };
          };
          if (data.receipt) accepted.add(data.receipt.commandId);
        } else if (outcome.kind === "error") {
          const commandId = outcome.extensions.commandId;
          if (typeof commandId !== "string") return;
          if (outcome.code === "COMMAND_OUTCOME_UNKNOWN") unknown.add(commandId);
          else accepted.add(commandId);
        }
      }, { concurrency: IN_FLIGHT, pauseMs: PAUSE_MS });

      /** When each backend was down: from its SIGTERM until it was ready again. */
      const down: { service: string; from: number; to: number }[] = [];
      const exits: string[] = [];
      await sleep(2_000);
      for (let round = 0; round < RESTARTS; round++) {
        for (const service of ["query", "command"] as const) {
          log.note(`SIGTERM ${service} (${round + 1} of ${RESTARTS})`);
          const from = Date.now();
          const status = await stack.stop(service, { signal: "SIGTERM", graceMs: 30_000 });
          exits.push(status?.signal ?? `code ${status?.code}`);
          await stack.start(service);
          down.push({ service, from, to: Date.now() });
          log.note(`${service} ready again`);
          await sleep(300 + Math.floor(Math.random() * 500));
        }
      }
      await sleep(2_000);
      await load.stop();

      // A created category's event reaches every gateway's subscriber once.
      const ids = [...accepted];
      const handled = await waitHandled(write, ids);
      const [categories] = await write<{ count: number }[]>`
        select count(*)::int as count from categories`;
      const expected = categories?.count ?? 0;
      const deadline = Date.now() + 30_000;
      while (seen.some((ids) => ids.size < expected) && Date.now() < deadline) await sleep(200);
      for (const subscriber of subscribers) await subscriber.close();
      await Promise.all(listening);

      const audit = await auditExactlyOnce(write, ids);
      const unknownHandled = await auditExactlyOnce(write, [...unknown]);
      const difference = await waitReadEqualsWrite(write, read);

      const tally = new Tally();
      const examples = new Map<string, string>();
      const outsideDown: Request[] = [];
      const unexpected: Request[] = [];
      const leaking: Request[] = [];
      for (const request of requests) {
        const what = `${request.what} ${outcomeName(request.outcome)}`;
        tally.add(what);
        if (request.outcome.kind === "ok") continue;
        if (!examples.has(what)) {
          const { outcome } = request;
          examples.set(what, outcome.kind === "error" ? outcome.message : outcome.kind);
        }
        const overlapsDown = down.some((window) =>
          request.startedAt <= window.to + RECONNECT_MS && request.endedAt >= window.from
        );
        if (!overlapsDown) outsideDown.push(request);
        if (
          request.outcome.kind !== "error" || !EXPECTED_WHILE_DOWN.has(request.outcome.code)
        ) unexpected.push(request);
        if (request.outcome.kind === "error" && LEAK.test(request.outcome.message)) {
          leaking.push(request);
        }
      }
      const example = (list: Request[]) =>
        list.slice(0, 3).map((request) => JSON.stringify(request.outcome).slice(0, 300)).join(
          "\n",
        );

      const checks = new Checks();
      checks.check(`no process exited by itself (${crashesOf(stack)})`, stack.crashes.length === 0);
      checks.check("every SIGTERM exited 0", exits.every((exit) => exit === "code 0"));
      checks.check(
        `failures only while a backend was down (${outsideDown.length} outside)`,
        outsideDown.length === 0,
      );
      checks.check(
        `every failure has an expected code (${unexpected.length} other)`,
        unexpected.length === 0,
      );
      checks.check(
        `no answer shows an address or a stack (${leaking.length} did)`,
        leaking.length === 0,
      );
      checks.check("every accepted command handled", handled === ids.length);
      checks.check("exactly once", exactlyOnceHolds(audit));
      checks.check(
        "a command of unknown outcome is applied at most once",
        unknownHandled.duplicated === 0,
      );
      checks.check(
        "every subscriber saw every created category exactly once",
        seen.every((ids) => ids.size === expected && [...ids.values()].every((n) => n === 1)),
      );
      checks.check("read = write", readEqualsWrite(difference));

      const failures = requests.filter((request) => request.outcome.kind !== "ok").length;
      const summary = `${RESTARTS} SIGTERM restarts each of query and command, two gateways: ` +
        `${requests.length} requests (${tally}), ${failures} failed, ` +
        `${outsideDown.length} outside a restart; ${ids.length} accepted, ${handled} handled, ` +
        `${audit.lost} lost, ${audit.duplicated} duplicated, ${unknown.size} of unknown outcome ` +
        `(${unknownHandled.handled} applied); subscribers saw ${
          seen.map((ids) => ids.size).join(" and ")
        } of ${expected} categories; ${describeReadWrite(difference)}; ` +
        `gateway exits by itself: ${stack.crashes.length}`;
      await recordResult({
        number: 9,
        name: "Rolling restarts",
        passed: checks.passed,
        summary,
        seconds: elapsed(),
        figures: {
          restarts: RESTARTS,
          requests: requests.length,
          outcomes: tally.toJSON(),
          examples: Object.fromEntries(examples),
          failures,
          outsideDown: outsideDown.length,
          downSeconds: down.reduce((sum, window) => sum + (window.to - window.from), 0) / 1000,
          accepted: ids.length,
          handled,
          unknown: unknown.size,
          unknownApplied: unknownHandled.handled,
          audit,
          subscribersSaw: seen.map((ids) => ids.size),
          categories: expected,
          readWrite: difference,
          crashes: crashesOf(stack),
          serviceLog: log.path,
        },
      });
      assert.deepEqual(
        checks.failed,
        [],
        `${summary}\noutside: ${example(outsideDown)}\nunexpected: ${example(unexpected)}\n` +
          `leaking: ${example(leaking)}\nLogs: ${log.path}`,
      );
    },
    { gateways: 2, env: { COMMAND_WAIT_TIMEOUT_MS: "3000" } },
  );
});
