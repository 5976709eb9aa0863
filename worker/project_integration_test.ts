import assert from "node:assert/strict";
import postgres from "postgres";
import { changeFeedChannel, commandOutcomeChannel } from "@catalog/proto";
import { commandEnvelope, eventually, type Sql, toysAndKite, withDatabases } from "./_testing.ts";
import { handleCommand, handleCommands } from "./handle_command.ts";
import { recordAccepted } from "./command_status.ts";
import { project } from "./project.ts";

async function categoryNames(read: Sql): Promise<string[]> {
  const rows = await read<{ name: string }[]>`select name from category_view order by name`;
  return rows.map((row) => row.name);
}

Deno.test("project() catches up events committed out of order", async () => {
  await withDatabases(async ({ write, read }) => {
    // Transaction A writes the first event but commits last; B commits in between.
    const early = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Early" });
    const now = new Date("2025-01-01T00:00:00.000Z");
    let written!: () => void;
    const aWrote = new Promise<void>((resolve) => written = resolve);
    let commit!: () => void;
    const aMayCommit = new Promise<void>((resolve) => commit = resolve);
    const transactionA = write.begin(async (tx) => {
      await tx`
        insert into categories (id, name, version, created_at, updated_at)
        values (${early.aggregateId}, 'Early', 1, ${now}, ${now})`;
      await tx`
        insert into events (
          event_id, type, aggregate_type, aggregate_id, aggregate_version, data, command_id,
          occurred_at
        ) values (
          ${crypto.randomUUID()}, 'CategoryCreated', 'category', ${early.aggregateId}, 1,
          ${tx.json({ name: "Early" })}, ${early.commandId}, ${now}
        )`;
      await tx`
        insert into commands (
          command_id, type, aggregate_id, status, envelope, accepted_at, handled_at
        ) values (
          ${early.commandId}, 'CreateCategory', ${early.aggregateId}, 'APPLIED',
          ${tx.json(JSON.parse(JSON.stringify(early)))}, ${now}, ${now}
        )`;
      written();
      await aMayCommit;
    });
    try {
      await aWrote;
      const late = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Late" });
      assert.equal((await handleCommand(write, late)).status, "APPLIED");

      const whileAOpen = await project({ write, read });
      assert.deepEqual(whileAOpen, { events: 0, commands: 0, heldBack: true });
      assert.deepEqual(await categoryNames(read), []);
    } finally {
      commit();
      await transactionA;
    }

    const positions = await write`select data->>'name' as name from events order by position`;
    assert.deepEqual(positions.map((row) => row.name), ["Early", "Late"]);
    const afterA = await project({ write, read });
    assert.deepEqual(afterA, { events: 2, commands: 2, heldBack: false });
    assert.deepEqual(await categoryNames(read), ["Early", "Late"]);
    const outcomes = await read`select status from command_view`;
    assert.deepEqual(outcomes.map((row) => row.status), ["APPLIED", "APPLIED"]);
  });
});

Deno.test("project() from two processes at once applies each event once", async () => {
  await withDatabases(async ({ write, read, writeUrl, readUrl }) => {
    const toys = crypto.randomUUID();
    await handleCommand(write, commandEnvelope("CreateCategory", toys, { name: "Toys" }));
    for (let index = 0; index < 40; index++) {
      await handleCommand(
        write,
        commandEnvelope("CreateProduct", crypto.randomUUID(), {
          name: `Toy ${index}`,
          price: `${index + 1}.99`,
          categoryId: toys,
        }),
      );
    }
    const other = {
      write: postgres(writeUrl, { max: 2, onnotice: () => {} }),
      read: postgres(readUrl, { max: 2, onnotice: () => {} }),
    };
    try {
      const reports = await Promise.all([
        project({ write, read }, { batchSize: 3 }),
        project(other, { batchSize: 4 }),
        project({ write, read }, { batchSize: 7 }),
      ]);
      const total = (key: "events" | "commands") =>
        reports.reduce((sum, report) => sum + report[key], 0);
      assert.equal(total("events"), 41);
      assert.equal(total("commands"), 41);
    } finally {
      await other.write.end({ timeout: 5 });
      await other.read.end({ timeout: 5 });
    }
    assert.deepEqual(await project({ write, read }), { events: 0, commands: 0, heldBack: false });
    const [counts] = await read`
      select (select product_count from category_view where id = ${toys}) as product_count,
        (select count(*) from product_view)::int as products,
        (select count(*) from command_view)::int as commands`;
    assert.deepEqual({ ...counts }, { product_count: 40, products: 40, commands: 41 });
  });
});

Deno.test("project() rebuilds the same views from an emptied read database", async () => {
  await withDatabases(async ({ write, read }) => {
    const { toys } = await toysAndKite(write);
    await handleCommand(write, commandEnvelope("UpdateCategory", toys, { id: toys, name: "Fun" }));
    await project({ write, read });
    const snapshot = async () =>
      JSON.stringify([
        await read`select * from category_view order by id`,
        await read`select * from product_view order by id`,
        await read`select * from command_view order by command_id`,
      ]);
    const before = await snapshot();

    await read`truncate category_view, product_view, command_view`;
    await read`update projection_checkpoints set transaction_id = '0', position = 0`;
    assert.deepEqual(await project({ write, read }, { batchSize: 1 }), {
      events: 3,
      commands: 3,
      heldBack: false,
    });
    assert.equal(await snapshot(), before);
  });
});

Deno.test("project() announces each command outcome it makes readable", async () => {
  await withDatabases(async ({ write, read }) => {
    const received: string[] = [];
    const listening = await read.listen(commandOutcomeChannel, (id) => received.push(id));
    try {
      const first = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Toys" });
      const second = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "toys" });
      await handleCommand(write, first);
      await handleCommand(write, second);
      await project({ write, read });
      await eventually("two notifications", () => Promise.resolve(received.length === 2));
      assert.deepEqual(received, [first.commandId, second.commandId]);
    } finally {
      await listening.unlisten();
    }
  });
});

Deno.test("project() keeps a transaction whole when it outgrows the batch", async () => {
  await withDatabases(async ({ write, read }) => {
    const now = new Date("2025-01-01T00:00:00.000Z");
    const names = ["A", "B", "C"];
    await write.begin(async (tx) => {
      for (const name of names) {
        const id = crypto.randomUUID();
        await tx`
          insert into categories (id, name, version, created_at, updated_at)
          values (${id}, ${name}, 1, ${now}, ${now})`;
        await tx`
          insert into events (
            event_id, type, aggregate_type, aggregate_id, aggregate_version, data, command_id,
            occurred_at
          ) values (
            ${crypto.randomUUID()}, 'CategoryCreated', 'category', ${id}, 1,
            ${tx.json({ name })}, ${crypto.randomUUID()}, ${now}
          )`;
      }
    });
    await handleCommand(
      write,
      commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "D" }),
    );
    const report = await project({ write, read }, { batchSize: 2 });
    assert.deepEqual(report, { events: 4, commands: 1, heldBack: false });
    assert.deepEqual(await categoryNames(read), ["A", "B", "C", "D"]);
  });
});

Deno.test("project() replaces an ACCEPTED or FAILED row of a command with its outcome, every column", async () => {
  await withDatabases(async ({ write, read }) => {
    const toys = crypto.randomUUID();
    await handleCommand(write, commandEnvelope("CreateCategory", toys, { name: "Toys" }));
    const accepted = commandEnvelope("UpdateCategory", toys, {
      id: toys,
      name: "Games",
      expectedVersion: 3,
    });
    const failed = commandEnvelope("UpdateCategory", toys, { id: toys, name: "Kites" });
    const earlier = new Date("2024-06-01T00:00:00.000Z");
    // What the worker writes before handling a command, and when it dead-letters one.
    await read`
      insert into command_view (
        command_id, type, aggregate_id, status, code, message, current_version, accepted_at,
        handled_at
      ) values
        (${accepted.commandId}, 'DeleteProduct', ${crypto.randomUUID()}, 'ACCEPTED', '', '',
          null, ${earlier}, null),
        (${failed.commandId}, 'UpdateCategory', ${toys}, 'FAILED', 'DEAD_LETTERED',
          'Cannot handle command: it crashed the worker', 7, ${earlier}, ${earlier})`;
    await handleCommand(write, accepted, {
      clock: () => new Date("2025-03-01T00:00:00.000Z"),
    });
    await handleCommand(write, failed, { clock: () => new Date("2025-03-02T00:00:00.000Z") });
    await project({ write, read });

    const rows = await read`
      select command_id, type, aggregate_id, status, code, message, current_version, accepted_at,
        handled_at
      from command_view where command_id in (${accepted.commandId}, ${failed.commandId})
      order by handled_at`;
    assert.deepEqual(rows.map((row) => ({ ...row })), [
      {
        command_id: accepted.commandId,
        type: "UpdateCategory",
        aggregate_id: toys,
        status: "REJECTED",
        code: "VERSION_CONFLICT",
        message: `Cannot update category "${toys}": expected version 3, but it is at version 1`,
        current_version: 1,
        accepted_at: new Date(accepted.issuedAt),
        handled_at: new Date("2025-03-01T00:00:00.000Z"),
      },
      {
        command_id: failed.commandId,
        type: "UpdateCategory",
        aggregate_id: toys,
        status: "APPLIED",
        code: "",
        message: "",
        current_version: null,
        accepted_at: new Date(failed.issuedAt),
        handled_at: new Date("2025-03-02T00:00:00.000Z"),
      },
    ]);
  });
});

Deno.test("project() is not held back by a transaction open in another database", async () => {
  await withDatabases(async ({ write, read }) => {
    await read.begin(async (elsewhere) => {
      // An open transaction with an id, older than the command below, in the read database.
      await elsewhere`select pg_current_xact_id()`;
      await handleCommand(
        write,
        commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "A" }),
      );
      const report = await project({ write, read });
      assert.deepEqual(report, { events: 1, commands: 1, heldBack: false });
    });
    assert.deepEqual(await categoryNames(read), ["A"]);
  });
});

interface ChangeRow {
  position: string;
  entity_type: string;
  entity_id: string;
  kind: string;
  entity: Record<string, unknown>;
  command_id: string | null;
}

async function changeRows(read: Sql): Promise<ChangeRow[]> {
  return await read<ChangeRow[]>`
    select position::text as position, entity_type, entity_id, kind, entity, command_id
    from changes order by changes.position`;
}

Deno.test("project() appends each event's change to the feed with the view row, in order", async () => {
  await withDatabases(async ({ write, read }) => {
    const toys = crypto.randomUUID();
    const ball = crypto.randomUUID();
    const commands = [
      commandEnvelope("CreateCategory", toys, { name: "Toys" }),
      commandEnvelope("CreateProduct", ball, { name: "Ball", price: "12.50", categoryId: toys }),
      commandEnvelope("UpdateProduct", ball, { id: ball, price: "0.10" }),
      commandEnvelope("UpdateCategory", toys, { id: toys, name: "Games" }),
      commandEnvelope("DeleteProduct", ball, { id: ball }),
      commandEnvelope("DeleteCategory", toys, { id: toys }),
    ];
    const notified: string[] = [];
    const listening = await read.listen(changeFeedChannel, (payload) => notified.push(payload));
    try {
      for (const command of commands) {
        assert.equal((await handleCommand(write, command)).status, "APPLIED");
      }
      await project({ write, read });
      await eventually("a notification", () => Promise.resolve(notified.length > 0));
    } finally {
      await listening.unlisten();
    }

    const rows = await changeRows(read);
    const positions = rows.map((row) => BigInt(row.position));
    assert.deepEqual(positions, [...positions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    const entities = rows.filter((row) => row.entity_type !== "COMMAND");
    assert.deepEqual(
      entities.map((row) => [row.entity_type, row.entity_id, row.kind, row.command_id]),
      [
        ["CATEGORY", toys, "CREATED", commands[0]!.commandId],
        ["PRODUCT", ball, "CREATED", commands[1]!.commandId],
        ["PRODUCT", ball, "UPDATED", commands[2]!.commandId],
        ["CATEGORY", toys, "UPDATED", commands[3]!.commandId],
        ["PRODUCT", ball, "DELETED", commands[4]!.commandId],
        ["CATEGORY", toys, "DELETED", commands[5]!.commandId],
      ],
    );
    const [, created, updated, renamed, productDeleted, categoryDeleted] = entities.map((row) =>
      row.entity
    );
    // Prices stay decimal strings; a view row carries its category's name.
    assert.deepEqual(
      [created!.price, created!.category_name, created!.version],
      ["12.50", "Toys", 1],
    );
    assert.deepEqual([updated!.price, updated!.version], ["0.10", 2]);
    assert.deepEqual([renamed!.name, renamed!.product_count, renamed!.version], ["Games", 1, 2]);
    // A deletion carries the last state, at the deletion's version.
    assert.deepEqual(
      [productDeleted!.name, productDeleted!.price, productDeleted!.version],
      ["Ball", "0.10", 3],
    );
    assert.deepEqual([categoryDeleted!.name, categoryDeleted!.version], ["Games", 3]);

    // Each command's outcome follows its effects, as command(id) shows it.
    const outcomes = rows.filter((row) => row.entity_type === "COMMAND");
    assert.deepEqual(
      outcomes.map((row) => [row.entity_id, row.kind, row.entity.status]),
      commands.map((command) => [command.commandId, "CREATED", "APPLIED"]),
    );
    const lastEffect = Math.max(...entities.map((row) => Number(row.position)));
    assert.ok(outcomes.every((row) => Number(row.position) > lastEffect));
  });
});

Deno.test("project() records a command's ACCEPTED and later outcome as two changes", async () => {
  await withDatabases(async ({ write, read }) => {
    const command = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Toys" });
    await recordAccepted(read, [{
      commandId: command.commandId,
      type: command.type,
      aggregateId: command.aggregateId,
      acceptedAt: command.issuedAt,
    }]);
    // Accepted again (a redelivery): nothing changed, so no change.
    await recordAccepted(read, [{
      commandId: command.commandId,
      type: command.type,
      aggregateId: command.aggregateId,
      acceptedAt: command.issuedAt,
    }]);
    await handleCommand(write, command);
    await project({ write, read });
    const rows = (await changeRows(read)).filter((row) => row.entity_type === "COMMAND");
    assert.deepEqual(
      rows.map((row) => [row.kind, row.entity.status, row.entity.handled_at === null]),
      [["CREATED", "ACCEPTED", true], ["UPDATED", "APPLIED", false]],
    );
  });
});

/**
 * What project() leaves in the read database: the views, the statistics and
 * the feed's entity changes (but their positions and times; outcomes follow
 * their batch's effects, so where they fall depends on the batches).
 */
async function readModel(read: Sql): Promise<string> {
  return JSON.stringify([
    await read`select * from category_view order by id`,
    await read`select * from product_view order by id`,
    await read`select * from command_view order by command_id`,
    await read`select * from product_statistics`,
    await read`select * from category_statistics`,
    await read`
      select entity_type, entity_id, kind, entity, command_id from changes
      where entity_type <> 'COMMAND' order by position`,
  ]);
}

Deno.test("project() leaves the same read model whatever the batch size", async () => {
  await withDatabases(async ({ write, read }) => {
    const toys = crypto.randomUUID();
    const games = crypto.randomUUID();
    const [kite, ball, doll] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    const commands = [
      commandEnvelope("CreateCategory", toys, { name: "Toys" }),
      commandEnvelope("CreateCategory", games, { name: "Games" }),
      commandEnvelope("CreateProduct", kite, { name: "Kite", price: "9.99", categoryId: toys }),
      commandEnvelope("CreateProduct", ball, { name: "Ball", price: "1.50", categoryId: toys }),
      commandEnvelope("UpdateProduct", kite, { id: kite, price: "19.99" }),
      commandEnvelope("UpdateProduct", kite, { id: kite, categoryId: games }),
      commandEnvelope("UpdateProduct", ball, { id: ball, name: "Red ball" }),
      commandEnvelope("UpdateCategory", games, { id: games, name: "Board games" }),
      commandEnvelope("UpdateProduct", kite, { id: kite, price: "0.99" }),
      commandEnvelope("CreateProduct", doll, { name: "Doll", price: "5.00", categoryId: games }),
      commandEnvelope("UpdateProduct", ball, { id: ball, categoryId: games }),
      commandEnvelope("UpdateCategory", toys, { id: toys, name: "Old toys" }),
      commandEnvelope("DeleteProduct", kite, { id: kite }),
      commandEnvelope("UpdateProduct", doll, { id: doll, categoryId: toys, price: "7.00" }),
      commandEnvelope("DeleteProduct", doll, { id: doll }),
      commandEnvelope("DeleteCategory", toys, { id: toys }),
    ];
    for (const command of commands) {
      assert.equal((await handleCommand(write, command)).status, "APPLIED");
    }
    await project({ write, read }, { batchSize: 1 });
    const oneByOne = await readModel(read);

    await read`truncate category_view, product_view, command_view, changes restart identity`;
    await read`update projection_checkpoints set transaction_id = '0', position = 0`;
    assert.deepEqual(await project({ write, read }), {
      events: commands.length,
      commands: commands.length,
      heldBack: false,
    });
    assert.equal(await readModel(read), oneByOne);

    // The feed holds each product's row as it was after each of its events.
    const kiteRows = (await changeRows(read)).filter((row) => row.entity_id === kite);
    assert.deepEqual(
      kiteRows.map((row) => [row.kind, row.entity.price, row.entity.category_name]),
      [
        ["CREATED", "9.99", "Toys"],
        ["UPDATED", "19.99", "Toys"],
        ["UPDATED", "19.99", "Games"],
        ["UPDATED", "0.99", "Board games"],
        ["DELETED", "0.99", "Board games"],
      ],
    );
    const [games_] = await read<{ name: string; product_count: number }[]>`
      select name, product_count from category_view`;
    assert.deepEqual({ ...games_ }, { name: "Board games", product_count: 1 });
    const [statistics] = await read`select product_count, total_value from product_statistics`;
    assert.deepEqual({ ...statistics }, { product_count: "1", total_value: "1.50" });
  });
});

Deno.test("project() fails a batch at its first event the views cannot take, and applies none of it", async () => {
  await withDatabases(async ({ write, read }) => {
    const { toys, kite } = await toysAndKite(write);
    const games = crypto.randomUUID();
    await handleCommand(write, commandEnvelope("CreateCategory", games, { name: "Games" }));
    await project({ write, read });
    // The read database loses a category the next events need.
    await read`delete from category_view where id = ${games}`;
    const before = await readModel(read);

    const ball = crypto.randomUUID();
    await handleCommand(write, commandEnvelope("UpdateProduct", kite, { id: kite, price: "1.00" }));
    const moved = commandEnvelope("UpdateProduct", kite, { id: kite, categoryId: games });
    await handleCommand(write, moved);
    await handleCommand(
      write,
      commandEnvelope("CreateProduct", ball, { name: "Ball", price: "2.00", categoryId: games }),
    );
    const [event] = await write<{ eventId: string }[]>`
      select event_id as "eventId" from events where command_id = ${moved.commandId}`;
    await assert.rejects(
      project({ write, read }),
      new Error(
        `Cannot project ProductUpdated ${event!.eventId} of product ${kite}: ` +
          `category ${games} is not in the view`,
      ),
    );
    assert.equal(await readModel(read), before);
    const [kiteRow] = await read`select price, category_id from product_view where id = ${kite}`;
    assert.deepEqual({ ...kiteRow }, { price: "9.99", category_id: toys });
  });
});

Deno.test("project() fails on an update of a product the views do not hold", async () => {
  await withDatabases(async ({ write, read }) => {
    const { kite } = await toysAndKite(write);
    await project({ write, read });
    await read`delete from product_view where id = ${kite}`;
    const renamed = commandEnvelope("UpdateProduct", kite, { id: kite, name: "Box kite" });
    await handleCommand(write, renamed);
    const [event] = await write<{ eventId: string }[]>`
      select event_id as "eventId" from events where command_id = ${renamed.commandId}`;
    await assert.rejects(
      project({ write, read }),
      new Error(
        `Cannot project ProductUpdated ${event!.eventId} of product ${kite}: ` +
          "the product is not in the view",
      ),
    );
  });
});

Deno.test("project() applies a transaction's events in log order past nine of them", async () => {
  await withDatabases(async ({ write, read }) => {
    const { kite } = await toysAndKite(write);
    // Positions 3 to 14 in one transaction: ordered as text, 10 to 14 would come first.
    const prices = Array.from({ length: 12 }, (_, step) => `${step + 1}.00`);
    await handleCommands(
      write,
      prices.map((price) => commandEnvelope("UpdateProduct", kite, { id: kite, price })),
    );
    const report = await project({ write, read });
    assert.deepEqual([report.events, report.commands], [14, 14]);
    const [product] = await read`select price::text as price, version from product_view`;
    assert.deepEqual({ ...product }, { price: "12.00", version: 13 });
    const changes = await read<{ price: string }[]>`
      select entity->>'price' as price from changes
      where entity_id = ${kite} and kind = 'UPDATED' order by position`;
    assert.deepEqual(changes.map((change) => change.price), prices);
    assert.deepEqual(await project({ write, read }), { events: 0, commands: 0, heldBack: false });
  });
});
