import assert from "node:assert/strict";
import { runScenario } from "./_scenario.ts";
import type postgres from "postgres";
import type { ProcessName, Stack } from "@catalog/dev";
import {
  auditExactlyOnce,
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
  type Outcome,
  outcomeName,
  receiptOf,
  scaled,
  send,
  Tally,
} from "./_load.ts";
import { observeCommands, type ObservedCommand } from "./_rabbitmq.ts";
import { Checks, crashesOf, recordResult, stopwatch } from "./_results.ts";
import { describeDrains, type Drain, measureDrain } from "./_drain.ts";

/** Updates of the one hot product, and updates spread over the other products, per phase. */
const HOT_UPDATES = scaled(1_000);
const SPREAD_UPDATES = scaled(500);
const PRODUCTS = 100;
/**
 * Commands queued while the workers are stopped, for each throughput
 * measurement: updates spread over the products, so no one partition's
 * sequence bounds the rate.
 */
const BACKLOG = scaled(1_600);
const WORKERS = 2;
const CONCURRENCY = 4;
const IN_FLIGHT = 48;

interface Update {
  id: string;
  name: string;
  price: number;
}

/** A phase's updates: the hot product's interleaved with the others'. */
function updatesFor(hot: string, products: string[], phase: string): Update[] {
  const updates: Update[] = [];
  for (let index = 0; index < Math.max(HOT_UPDATES, SPREAD_UPDATES); index++) {
    const price = ((index * 7919) % 99_999 + 1) / 100;
    if (index < HOT_UPDATES) updates.push({ id: hot, name: `${phase}-hot-${index}`, price });
    if (index < SPREAD_UPDATES) {
      updates.push({ id: products[index % products.length]!, name: `${phase}-${index}`, price });
    }
  }
  return updates;
}

/**
 * Sends count requests, IN_FLIGHT at once, calling halfway() once half have
 * started; answers the command ids of the receipts.
 */
async function sendAll(
  count: number,
  request: (index: number) => Promise<Outcome>,
  outcomes: Tally,
  halfway?: () => void,
): Promise<string[]> {
  const ids: string[] = [];
  await drive(async (index) => {
    if (index === Math.floor(count / 2)) halfway?.();
    const outcome = await request(index);
    outcomes.add(outcomeName(outcome));
    const receipt = receiptOf(outcome);
    if (receipt) ids.push(receipt.commandId);
  }, { concurrency: IN_FLIGHT, more: (index) => index < count });
  return ids;
}

/** Per aggregate, its commands in the order RabbitMQ accepted them. */
function acceptedOrder(observed: readonly ObservedCommand[]): Map<string, ObservedCommand[]> {
  const order = new Map<string, ObservedCommand[]>();
  for (const command of observed) {
    const list = order.get(command.aggregateId) ?? [];
    list.push(command);
    order.set(command.aggregateId, list);
  }
  return order;
}

/** Per aggregate, the command ids of its events in version order. */
async function appliedOrder(write: postgres.Sql): Promise<Map<string, string[]>> {
  const rows = await write<{ aggregate_id: string; command_ids: string[] }[]>`
    select aggregate_id, array_agg(command_id::text order by aggregate_version) as command_ids
    from events group by aggregate_id`;
  return new Map(rows.map((row) => [row.aggregate_id, row.command_ids]));
}

/** How many aggregates' events are not in the order of their (applicable) accepted commands. */
function countOutOfOrder(
  accepted: Map<string, ObservedCommand[]>,
  applied: Map<string, string[]>,
  applies: (command: ObservedCommand) => boolean,
  examples: string[],
): number {
  let mismatches = 0;
  for (const [aggregate, commands] of accepted) {
    const applicable = commands.filter(applies);
    const expected = applicable.map((command) => command.commandId);
    const actual = applied.get(aggregate) ?? [];
    if (JSON.stringify(expected) === JSON.stringify(actual)) continue;
    mismatches++;
    const at = expected.findIndex((id, index) => actual[index] !== id);
    const issued = (id: string | undefined) =>
      applicable.find((command) => command.commandId === id)?.issuedAt ?? "?";
    if (examples.length < 5) {
      examples.push(
        `${aggregate}: version ${at + 1} should be ${expected[at]} (issued ${
          issued(expected[at])
        }) but is ${actual[at]} (issued ${issued(actual[at])})`,
      );
    }
  }
  return mismatches;
}

interface ProductRow {
  id: string;
  name: string;
  price: string;
  version: number;
}

async function productRows(sql: postgres.Sql, table: "products" | "product_view") {
  const rows = await sql<ProductRow[]>`
    select id::text, name, price::text as price, version from ${sql(table)}`;
  return new Map(rows.map((row) => [row.id, row]));
}

/** How many products, on the write or the read side, differ from what was expected last. */
async function countWrongFinalStates(
  databases: { write: postgres.Sql; read: postgres.Sql },
  expected: Map<string, { name: string; price: string; version?: number }>,
  examples: string[],
): Promise<number> {
  let wrong = 0;
  for (const table of ["products", "product_view"] as const) {
    const rows = await productRows(
      table === "products" ? databases.write : databases.read,
      table,
    );
    for (const [id, last] of expected) {
      const row = rows.get(id);
      if (
        row?.name === last.name && row.price === last.price &&
        (last.version === undefined || row.version === last.version)
      ) continue;
      wrong++;
      if (examples.length < 5) {
        examples.push(`${table} ${id}: ${JSON.stringify(row)}, expected ${JSON.stringify(last)}`);
      }
    }
  }
  return wrong;
}

/** Stops a worker with signal and starts it again; says how it went. */
async function bounce(stack: Stack, worker: ProcessName, signal: Deno.Signal): Promise<string> {
  const started = performance.now();
  const status = await stack.stop(worker, { signal });
  const stopped = performance.now();
  await stack.start(worker);
  return `${signal} ${worker} (exit ${status?.signal ?? status?.code} after ${
    ((stopped - started) / 1000).toFixed(1)
  } s, ready again after ${((performance.now() - stopped) / 1000).toFixed(1)} s)`;
}

Deno.test("commands of one entity apply in acceptance order with two workers", async () => {
  const elapsed = stopwatch();
  const handledBy = new Tally();
  await runScenario(
    "ordering",
    async ({ stack, sandbox, write, read, url, log }) => {
      await using observer = await observeCommands(sandbox.env.AMQP_URL);
      const outcomes = new Tally();
      const bounced: string[] = [];
      const examples: string[] = [];
      const phases: Record<string, number> = {};
      let phase = stopwatch();
      const lap = (name: string) => {
        phases[name] = Math.round(phase() * 10) / 10;
        log.note(`phase ${name} done in ${phases[name]} s`);
        phase = stopwatch();
      };

      const category = receiptOf(await send(url, mutations.createCategory("ordering")));
      assert.ok(category, "Cannot create the category");
      // Order is kept per entity: a product's create may be decided before
      // its category's, which travels on another partition, unless the
      // category is applied first (docs/guarantees.md).
      await expectApplied(write, [category.commandId], "the category");
      const products: string[] = [];
      const created = await sendAll(PRODUCTS + 1, async (index) => {
        const outcome = await send(
          url,
          mutations.createProduct({
            name: `product-${index}`,
            price: 1,
            categoryId: category.aggregateId,
          }),
        );
        const receipt = receiptOf(outcome);
        if (receipt) products.push(receipt.aggregateId);
        return outcome;
      }, outcomes);
      assert.equal(created.length, PRODUCTS + 1, "Cannot send every product's create");
      await expectApplied(write, created, "the products");
      const hot = products.pop()!;
      lap("setup");

      // Phase A: blind updates. Halfway through, worker-2 is killed and restarted.
      const blind = updatesFor(hot, products, "a");
      let bouncing: Promise<void> = Promise.resolve();
      const blindIds = await sendAll(
        blind.length,
        (index) => send(url, mutations.updateProduct(blind[index]!)),
        outcomes,
        () => {
          log.note("SIGKILL worker-2");
          bouncing = bounce(stack, "worker-2", "SIGKILL").then((what) => void bounced.push(what));
        },
      );
      await bouncing;
      const blindHandled = await waitHandled(write, blindIds);
      const afterBlind = await observer.waitFor(2 + PRODUCTS + blindIds.length);
      await waitReadEqualsWrite(write, read);
      lap("blind updates");

      const acceptedBlind = acceptedOrder(afterBlind);
      let outOfOrder = countOutOfOrder(
        acceptedBlind,
        await appliedOrder(write),
        () => true,
        examples,
      );
      const lastBlind = new Map(
        [hot, ...products].map((id) => {
          const payload = acceptedBlind.get(id)!.at(-1)!.payload as {
            name: string;
            price: string;
          };
          return [id, { name: payload.name, price: payload.price }];
        }),
      );
      let wrongFinal = await countWrongFinalStates({ write, read }, lastBlind, examples);

      // Phase B: every update carries the version its client has just read;
      // many are stale by the time they are applied. Halfway through, the
      // first worker is stopped with SIGTERM and started again.
      const versionAtStart = new Map(
        [...(await productRows(write, "products")).values()].map((row) => [row.id, row.version]),
      );
      const checked = updatesFor(hot, products, "b");
      const checkedIds = await sendAll(
        checked.length,
        async (index) => {
          const update = checked[index]!;
          const seen = await send<{ product: { version: number } | null }>(url, {
            query: "query ($id: ID!) { product(id: $id) { version } }",
            variables: { id: update.id },
          });
          if (seen.kind !== "ok" || !seen.data.product) return seen as Outcome;
          return send(
            url,
            mutations.updateProduct({ ...update, expectedVersion: seen.data.product.version }),
          );
        },
        outcomes,
        () => {
          log.note("SIGTERM worker");
          bouncing = bounce(stack, "worker", "SIGTERM").then((what) => void bounced.push(what));
        },
      );
      await bouncing;
      const checkedHandled = await waitHandled(write, checkedIds);
      const afterChecked = await observer.waitFor(afterBlind.length + checkedIds.length);
      await waitReadEqualsWrite(write, read);
      lap("updates with expectedVersion");

      // Replays acceptance order: an update applies iff it expects the
      // version its product is at by then.
      const checkedSet = new Set(checkedIds);
      const verdicts = await write<
        { command_id: string; status: string; code: string; current_version: number | null }[]
      >`
        select command_id::text, status, code, current_version from commands
        where command_id = any(${checkedIds}::uuid[])`;
      const verdictOf = new Map(verdicts.map((row) => [row.command_id, row]));
      const version = new Map(versionAtStart);
      const lastChecked = new Map<string, { name: string; price: string; version: number }>();
      let simulatedApplied = 0;
      let simulatedStale = 0;
      let unlikeSimulation = 0;
      for (const command of afterChecked.filter((command) => checkedSet.has(command.commandId))) {
        const payload = command.payload as {
          name: string;
          price: string;
          expectedVersion: number;
        };
        const current = version.get(command.aggregateId)!;
        const verdict = verdictOf.get(command.commandId);
        let as: boolean;
        if (payload.expectedVersion === current) {
          simulatedApplied++;
          version.set(command.aggregateId, current + 1);
          lastChecked.set(command.aggregateId, {
            name: payload.name,
            price: payload.price,
            version: current + 1,
          });
          as = verdict?.status === "APPLIED";
        } else {
          simulatedStale++;
          as = verdict?.status === "REJECTED" && verdict.code === "VERSION_CONFLICT" &&
            verdict.current_version === current;
        }
        if (!as) {
          unlikeSimulation++;
          if (examples.length < 5) {
            examples.push(
              `${command.commandId} expected version ${payload.expectedVersion} with the product at ${current}: ${
                JSON.stringify(verdict)
              }`,
            );
          }
        }
      }
      wrongFinal += await countWrongFinalStates({ write, read }, lastChecked, examples);
      // The whole history this time: phase A's commands, and phase B's that applied.
      outOfOrder = countOutOfOrder(
        acceptedOrder(afterChecked),
        await appliedOrder(write),
        (command) => verdictOf.get(command.commandId)?.status !== "REJECTED",
        examples,
      );

      // Throughput: the same backlog, spread over the products, drained by one worker, then by two.
      const drains: Drain[] = [];
      for (const workers of [1, WORKERS]) {
        const options = { count: BACKLOG, products, tag: `c${workers}`, inFlight: IN_FLIGHT };
        drains.push(await measureDrain(stack, write, { ...options, workers, outcomes }));
        lap(`drain by ${workers} worker(s)`);
      }

      const audit = await auditExactlyOnce(write, observer.seen.map((c) => c.commandId));
      const difference = await waitReadEqualsWrite(write, read);
      examples.push(...difference.examples);
      lap("audit");

      const sent = [...outcomes.counts.values()].reduce((sum, count) => sum + count, 0);
      const checks = new Checks();
      checks.check(
        `no service exited by itself: ${crashesOf(stack)}`,
        stack.crashes.length === 0,
      );
      checks.check("every request answered OK", outcomes.get("ok") === sent);
      checks.check(
        "every blind update handled",
        blindIds.length === blind.length && blindHandled === blind.length,
      );
      checks.check(
        "every update with expectedVersion handled",
        checkedIds.length === checked.length && checkedHandled === checked.length,
      );
      checks.check("per entity, events in acceptance order", outOfOrder === 0);
      checks.check("final states equal the last applicable accepted update", wrongFinal === 0);
      checks.check(
        "exactly the stale updates REJECTED with VERSION_CONFLICT",
        unlikeSimulation === 0,
      );
      checks.check("both worker restarts done", bounced.length === 2);
      checks.check("exactly once", exactlyOnceHolds(audit));
      checks.check("read = write", readEqualsWrite(difference));

      const summary = `ordering with ${WORKERS} workers (concurrency ${CONCURRENCY}): ` +
        `${blindIds.length} blind updates (${HOT_UPDATES} to one product, ${SPREAD_UPDATES} ` +
        `over ${PRODUCTS}) and ${checkedIds.length} with expectedVersion (${simulatedApplied} ` +
        `applied, ${simulatedStale} stale: REJECTED VERSION_CONFLICT); ${outOfOrder} entities ` +
        `out of acceptance order, ${unlikeSimulation} outcomes unlike the simulation, ` +
        `${wrongFinal} wrong final states, ${audit.lost} lost, ${audit.duplicated} duplicated, ` +
        `${describeReadWrite(difference)}; ${bounced.join("; ")}; drain of ${BACKLOG} queued ` +
        `commands: ${describeDrains(drains)}`;
      await recordResult({
        number: 3,
        name: `Ordering with ${WORKERS} workers`,
        passed: checks.passed,
        summary,
        seconds: elapsed(),
        figures: {
          hotUpdates: HOT_UPDATES,
          spreadUpdates: SPREAD_UPDATES,
          products: PRODUCTS,
          workers: WORKERS,
          concurrency: CONCURRENCY,
          outcomes: outcomes.toJSON(),
          outOfOrder,
          wrongFinal,
          unlikeSimulation,
          simulatedApplied,
          simulatedStale,
          bounced,
          drains,
          phases,
          handledBy: handledBy.toJSON(),
          audit,
          readWrite: difference,
          examples,
          serviceLog: log.path,
        },
      });
      assert.deepEqual(
        checks.failed,
        [],
        `${summary}\n${examples.join("\n")}\nLogs: ${log.path}`,
      );
    },
    {
      workers: WORKERS,
      workerConcurrency: CONCURRENCY,
      onLog(line) {
        const match = /^(\S+)\s*\| (applied|rejected|skipped) /.exec(line);
        if (match) handledBy.add(`${match[1]} ${match[2]}`);
      },
    },
  );
});
