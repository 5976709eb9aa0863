import assert from "node:assert/strict";
import { type DenoRun, runDeno } from "@catalog/testkit";
import { commandEnvelope, toysAndKite, withDatabases } from "./_testing.ts";
import { handleCommand } from "./handle_command.ts";
import { project } from "./project.ts";
import { compareModels, verifyModels } from "./verify.ts";

/** A small catalog, handled and projected: a category with a product, and a rejected command. */
async function catalog(write: Parameters<typeof handleCommand>[0]) {
  const { toys, kite } = await toysAndKite(write);
  await handleCommand(
    write,
    commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "toys" }),
  );
  return { toys, kite };
}

function runVerify(env: Record<string, string>): Promise<DenoRun> {
  return runDeno(["task", "--quiet", "verify"], env);
}

Deno.test("compareModels() finds no difference in a projected catalog", async () => {
  await withDatabases(async ({ write, read }) => {
    await catalog(write);
    await project({ write, read });
    assert.deepEqual(await compareModels(write, read), {
      counts: { categories: 1, products: 1, commands: 3 },
      differences: [],
    });
  });
});

Deno.test("compareModels() names each corrupted, missing and stray read row and field", async () => {
  await withDatabases(async ({ write, read }) => {
    const { toys, kite } = await catalog(write);
    await project({ write, read });
    await read`update product_view set price = 10.00, category_name = 'Games' where id = ${kite}`;
    await read`delete from category_view where id = ${toys}`;
    const stray = crypto.randomUUID();
    await read`
      insert into command_view (command_id, type, aggregate_id, status, accepted_at, handled_at)
      values (${stray}, 'DeleteProduct', ${kite}, 'APPLIED', now(), now())`;

    const { differences } = await compareModels(write, read);
    assert.deepEqual(differences, [
      { kind: "category", id: toys, what: "missing from the read model" },
      {
        kind: "product",
        id: kite,
        what: 'price: read "10.00", write "9.99"; category_name: read "Games", write "Toys"',
      },
      { kind: "command", id: stray, what: "in the read model only" },
      // The statistics follow the views' rows, corrupted ones included.
      {
        kind: "statistics",
        id: "products",
        what: 'total_value: read "10.00", write "9.99"; min_price: read "10.00", write "9.99"; ' +
          'max_price: read "10.00", write "9.99"',
      },
      {
        kind: "statistics",
        id: "categories",
        what: 'category_count: read "0", write "1"; with_products_count: read "0", write "1"',
      },
    ]);
  });
});

Deno.test("verifyModels() waits for the projection to catch up before comparing", async () => {
  await withDatabases(async ({ write, read }) => {
    await catalog(write);
    const projecting = new Promise((resolve) => setTimeout(resolve, 300))
      .then(() => project({ write, read }));
    const result = await verifyModels(write, read, { catchUpMs: 5_000 });
    await projecting;
    assert.equal(result.caughtUp, true);
    assert.deepEqual(result.differences, []);

    const stale = await verifyModels(write, read, { catchUpMs: 0 });
    assert.equal(stale.caughtUp, true, "caught up already: nothing new was written");
  });
});

Deno.test("verifyModels() says the projection is behind when it does not catch up", async () => {
  await withDatabases(async ({ write, read }) => {
    await catalog(write);
    const result = await verifyModels(write, read, { catchUpMs: 200, attempts: 1 });
    assert.equal(result.caughtUp, false);
    assert.equal(result.differences.length, 7, JSON.stringify(result.differences));
  });
});

Deno.test("deno task verify prints the differences and exits 0, 1 or 2", async () => {
  await withDatabases(async ({ write, read, writeUrl, readUrl }) => {
    const { kite } = await catalog(write);
    await project({ write, read });
    const env = { WRITE_DATABASE_URL: writeUrl, READ_DATABASE_URL: readUrl };

    const equal = await runVerify(env);
    assert.equal(equal.code, 0, equal.stderr);
    assert.equal(
      equal.stdout,
      "The read model equals the write model: 1 category, 1 product, 3 commands.\n",
    );

    await read`update product_view set name = 'Kite!' where id = ${kite}`;
    const corrupted = await runVerify(env);
    assert.equal(corrupted.code, 1, corrupted.stderr);
    assert.equal(
      corrupted.stdout,
      `product ${kite}: name: read "Kite!", write "Kite"\n` +
        "The read model differs from the write model: 1 difference over 1 category, 1 product, " +
        "3 commands.\n",
    );

    const unreachable = new URL(readUrl);
    unreachable.port = "1";
    const cannot = await runVerify({ ...env, READ_DATABASE_URL: unreachable.toString() });
    assert.equal(cannot.code, 2, cannot.stdout);
    assert.match(
      cannot.stderr,
      /^Cannot verify: cannot reach the read database at postgres:\/\/[^\n]+:1\/[^\n]+: [^\n]+\n$/,
    );
  });
});
