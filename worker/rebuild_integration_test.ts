import assert from "node:assert/strict";
import { commandEnvelope, toysAndKite, withDatabases } from "./_testing.ts";
import { handleCommand } from "./handle_command.ts";
import { project } from "./project.ts";
import { rebuildReadModel, strandedObjects } from "./rebuild.ts";
import { compareModels } from "./verify.ts";

Deno.test("rebuildReadModel() replaces a corrupted read model with one rebuilt from the logs", async () => {
  await withDatabases(async ({ write, read, writeUrl, readUrl }) => {
    const { toys, kite } = await toysAndKite(write);
    await handleCommand(write, commandEnvelope("UpdateProduct", kite, { id: kite, price: "7.50" }));
    await project({ write, read });
    await read`update product_view set price = 1.00 where id = ${kite}`;
    await read`delete from category_view where id = ${toys}`;
    // Known to the read side only: accepted, not handled yet.
    const waiting = crypto.randomUUID();
    await read`
      insert into command_view (command_id, type, aggregate_id, status, accepted_at)
      values (${waiting}, 'DeleteProduct', ${kite}, 'ACCEPTED', now())`;
    // The product, the category, and both statistics rows.
    assert.equal((await compareModels(write, read)).differences.length, 4);

    const lines: string[] = [];
    const report = await rebuildReadModel({ writeUrl, readUrl, log: (line) => lines.push(line) });

    assert.deepEqual(
      { events: report.events, commands: report.commands, carried: report.carried },
      { events: 3, commands: 3, carried: 1 },
    );
    assert.deepEqual((await compareModels(write, read)).differences, []);
    const [kept] = await read`select status from command_view where command_id = ${waiting}`;
    assert.equal(kept?.status, "ACCEPTED");
    const schemas = await read`
      select nspname from pg_namespace where nspname in ('catalog_rebuild', 'catalog_retired')`;
    assert.deepEqual([...schemas], [], "the build and retired schemas are dropped");
    assert.ok(lines.some((line) => line.startsWith("switched ")), lines.join("\n"));

    // The live projection goes on from where the rebuild stopped.
    await handleCommand(
      write,
      commandEnvelope("UpdateCategory", toys, { id: toys, name: "Games" }),
    );
    await project({ write, read });
    assert.deepEqual((await compareModels(write, read)).differences, []);
  });
});

Deno.test("rebuildReadModel() loses nothing written and fails no read while it runs", async () => {
  await withDatabases(async ({ write, read, writeUrl, readUrl }) => {
    const toys = crypto.randomUUID();
    await handleCommand(write, commandEnvelope("CreateCategory", toys, { name: "Toys" }));
    const products: string[] = [];
    for (let index = 0; index < 50; index++) {
      const id = crypto.randomUUID();
      products.push(id);
      await handleCommand(
        write,
        commandEnvelope("CreateProduct", id, {
          name: `P${index}`,
          price: "1.00",
          categoryId: toys,
        }),
      );
    }
    await project({ write, read });

    let running = true;
    const readErrors: unknown[] = [];
    let reads = 0;
    let writes = 0;
    const writing = (async () => {
      while (running) {
        const id = products[writes % products.length]!;
        await handleCommand(
          write,
          commandEnvelope("UpdateProduct", id, { id, price: `${(writes % 900) + 1}.00` }),
        );
        await project({ write, read });
        writes++;
      }
    })();
    const reading = (async () => {
      while (running) {
        try {
          await read`select id, name, price from product_view order by name limit 20`;
          await read`select count(*) from category_view`;
          reads++;
        } catch (error) {
          readErrors.push(error);
        }
      }
    })();
    try {
      await rebuildReadModel({ writeUrl, readUrl, batchSize: 7 });
      const afterSwitch = writes;
      while (writes < afterSwitch + 10) await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      running = false;
      await Promise.all([writing, reading]);
    }

    assert.deepEqual(readErrors, []);
    assert.ok(reads > 0 && writes > 10, `reads ${reads}, writes ${writes}`);
    await project({ write, read });
    assert.deepEqual((await compareModels(write, read)).differences, []);
  });
});

Deno.test("rebuildReadModel() refuses to run twice at once", async () => {
  await withDatabases(async ({ writeUrl, readUrl, read }) => {
    const [first, second] = await Promise.allSettled([
      rebuildReadModel({ writeUrl, readUrl }),
      rebuildReadModel({ writeUrl, readUrl }),
    ]);
    const outcomes = [first, second].map((outcome) =>
      outcome.status === "fulfilled" ? "done" : (outcome.reason as Error).message
    ).sort();
    assert.deepEqual(outcomes, [
      "Cannot rebuild the read model: another rebuild is running",
      "done",
    ]);
    const [row] = await read`select count(*)::int as count from category_view`;
    assert.equal(row?.count, 0);
  });
});

Deno.test("strandedObjects() names the types and free sequences a switch would leave behind", async () => {
  await withDatabases(async ({ read }) => {
    await read`create schema stranded_test`;
    await read`create table stranded_test.kept (id bigserial primary key, name text)`;
    await read`create type stranded_test.mood as enum ('happy', 'sad')`;
    await read`create sequence stranded_test.loose`;
    assert.deepEqual(await strandedObjects(read, "stranded_test"), [
      "sequence loose",
      "type _mood",
      "type mood",
    ]);
    assert.deepEqual(await strandedObjects(read, "public"), []);
  });
});
