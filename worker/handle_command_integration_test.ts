import assert from "node:assert/strict";
import type postgres from "postgres";
import type { CommandEnvelope, CommandType } from "@catalog/proto";
import { commandEnvelope, eventually, type Sql, steppingClock, withDatabases } from "./_testing.ts";
import { type CommandOutcome, handleCommand, handleCommands } from "./handle_command.ts";
import { project } from "./project.ts";
import { within } from "./faults.ts";

/** The write model shaped like the read model, to compare the two. */
async function writeSide(write: Sql) {
  return {
    categories: await write`
      select c.id, c.name, c.version, c.created_at, c.updated_at,
        (select count(*) from products p where p.category_id = c.id)::int as product_count
      from categories c order by c.id`,
    products: await write`
      select p.id, p.name, p.price::text as price, p.category_id, c.name as category_name,
        p.version, p.created_at, p.updated_at
      from products p join categories c on c.id = p.category_id order by p.id`,
    commands: await write`
      select command_id, type, aggregate_id, status, code, message, current_version, accepted_at,
        handled_at
      from commands order by command_id`,
  };
}

async function readSide(read: Sql) {
  return {
    categories: await read`
      select id, name, version, created_at, updated_at, product_count
      from category_view order by id`,
    products: await read`
      select id, name, price::text as price, category_id, category_name, version, created_at,
        updated_at
      from product_view order by id`,
    commands: await read`
      select command_id, type, aggregate_id, status, code, message, current_version, accepted_at,
        handled_at
      from command_view order by command_id`,
  };
}

function plain(rows: Record<string, unknown>): unknown {
  return JSON.parse(JSON.stringify(rows));
}

Deno.test("handleCommand() and project() keep the views equal to the write model", async () => {
  await withDatabases(async ({ write, read }) => {
    const clock = steppingClock();
    const run = async <T extends CommandType>(
      type: T,
      aggregateId: string,
      payload: Record<string, unknown>,
    ): Promise<CommandOutcome> =>
      await handleCommand(write, commandEnvelope(type, aggregateId, payload), { clock });
    const codeOf = (outcome: CommandOutcome) =>
      outcome.status === "REJECTED" ? outcome.rejection.code : outcome.status;

    const toys = crypto.randomUUID();
    const games = crypto.randomUUID();
    const kite = crypto.randomUUID();
    const yoyo = crypto.randomUUID();
    assert.equal(codeOf(await run("CreateCategory", toys, { name: "Toys" })), "APPLIED");
    assert.equal(codeOf(await run("CreateCategory", games, { name: "Games" })), "APPLIED");
    const created = await run("CreateProduct", kite, {
      name: "Kite",
      price: "19.9",
      categoryId: toys,
    });
    assert.equal(created.status, "APPLIED");
    assert.deepEqual(created.status === "APPLIED" && created.events.map((event) => event.data), [
      { name: "Kite", price: "19.90", categoryId: toys },
    ]);
    await run("CreateProduct", yoyo, { name: "Yo-yo", price: "3.50", categoryId: toys });
    await run("UpdateCategory", toys, { id: toys, name: "Toys & Kites" });

    await project({ write, read });
    const renamed = await read`select category_name from product_view order by name`;
    assert.deepEqual(renamed.map((row) => row.category_name), ["Toys & Kites", "Toys & Kites"]);
    const [toysView] =
      await read`select product_count, version from category_view where id = ${toys}`;
    assert.deepEqual({ ...toysView }, { product_count: 2, version: 2 });

    assert.equal(
      codeOf(await run("UpdateProduct", kite, { id: kite, price: "4.25", categoryId: games })),
      "APPLIED",
    );
    assert.equal(codeOf(await run("DeleteProduct", yoyo, { id: yoyo })), "APPLIED");
    const rejections = [
      await run("CreateCategory", crypto.randomUUID(), { name: "GAMES" }),
      await run("CreateProduct", crypto.randomUUID(), {
        name: "Desk",
        price: "120",
        categoryId: crypto.randomUUID(),
      }),
      await run("DeleteCategory", games, { id: games }),
      await run("UpdateProduct", yoyo, { id: yoyo, name: "Gone" }),
      await run("CreateCategory", toys, { name: "Other" }),
    ];
    assert.deepEqual(rejections.map(codeOf), [
      "CATEGORY_NAME_TAKEN",
      "CATEGORY_NOT_FOUND",
      "CATEGORY_NOT_EMPTY",
      "NOT_FOUND",
      "ALREADY_EXISTS",
    ]);
    assert.equal(
      codeOf(await run("UpdateCategory", toys, { id: toys, name: "TOYS & KITES" })),
      "APPLIED",
    );
    assert.equal(codeOf(await run("DeleteCategory", toys, { id: toys })), "APPLIED");

    const report = await project({ write, read }, { batchSize: 2 });
    assert.deepEqual(report, { events: 4, commands: 9, heldBack: false });
    assert.deepEqual(plain(await readSide(read)), plain(await writeSide(write)));

    const [kiteView] = await read`
      select name, price::text as price, category_name, version, created_at, updated_at
      from product_view where id = ${kite}`;
    assert.deepEqual(plain({ ...kiteView }), {
      name: "Kite",
      price: "4.25",
      category_name: "Games",
      version: 2,
      created_at: "2025-01-01T00:00:02.000Z",
      updated_at: "2025-01-01T00:00:05.000Z",
    });
    const [gamesView] = await read`select product_count from category_view where id = ${games}`;
    assert.equal(gamesView?.product_count, 1);
    const [rejected] = await read`
      select status, code, message from command_view where code = 'CATEGORY_NOT_EMPTY'`;
    assert.deepEqual({ ...rejected }, {
      status: "REJECTED",
      code: "CATEGORY_NOT_EMPTY",
      message: 'Cannot delete category "Games": it still has 1 product',
    });
    const events = await write`select type, aggregate_version from events order by position`;
    assert.deepEqual(events.map((row) => `${row.type}@${row.aggregate_version}`), [
      "CategoryCreated@1",
      "CategoryCreated@1",
      "ProductCreated@1",
      "ProductCreated@1",
      "CategoryUpdated@2",
      "ProductUpdated@2",
      "ProductDeleted@2",
      "CategoryUpdated@3",
      "CategoryDeleted@4",
    ]);
  });
});

Deno.test("handleCommand() applies a command delivered twice only once", async () => {
  await withDatabases(async ({ write, read }) => {
    const envelope = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Toys" });
    const first = await handleCommand(write, envelope);
    const again = await handleCommand(write, envelope);
    assert.equal(first.status, "APPLIED");
    assert.deepEqual(again, { status: "DUPLICATE", previous: { status: "APPLIED", code: "" } });

    const racing = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Games" });
    const outcomes = await Promise.all([
      handleCommand(write, racing),
      handleCommand(write, racing),
      handleCommand(write, racing),
    ]);
    assert.deepEqual(outcomes.map((outcome) => outcome.status).sort(), [
      "APPLIED",
      "DUPLICATE",
      "DUPLICATE",
    ]);

    const [counts] = await write`
      select (select count(*) from events)::int as events,
        (select count(*) from commands)::int as commands`;
    assert.deepEqual({ ...counts }, { events: 2, commands: 2 });
    await project({ write, read });
    await project({ write, read });
    const views = await read`select name, product_count from category_view order by name`;
    assert.deepEqual(views.map((row) => row.name), ["Games", "Toys"]);
    const [commands] = await read`select count(*)::int as count from command_view`;
    assert.equal(commands?.count, 2);
  });
});

Deno.test("handleCommand() records the envelope and stamps times from the clock", async () => {
  await withDatabases(async ({ write }) => {
    const id = crypto.randomUUID();
    const envelope = commandEnvelope("CreateCategory", id, { name: "  Toys  " }, {
      issuedAt: "2024-12-31T23:59:59.000Z",
    });
    await handleCommand(write, envelope, { clock: () => new Date("2025-02-03T04:05:06.000Z") });
    const [command] = await write`
      select status, envelope, accepted_at, handled_at from commands
      where command_id = ${envelope.commandId}`;
    assert.equal(command?.status, "APPLIED");
    assert.deepEqual(command?.envelope, JSON.parse(JSON.stringify(envelope)));
    assert.equal(command?.accepted_at.toISOString(), "2024-12-31T23:59:59.000Z");
    assert.equal(command?.handled_at.toISOString(), "2025-02-03T04:05:06.000Z");
    const [category] =
      await write`select name, version, created_at from categories where id = ${id}`;
    assert.deepEqual({ ...category }, {
      name: "Toys",
      version: 1,
      created_at: new Date("2025-02-03T04:05:06.000Z"),
    });
    const [event] = await write`select type, data, command_id, occurred_at from events`;
    assert.deepEqual({ ...event }, {
      type: "CategoryCreated",
      data: { name: "Toys" },
      command_id: envelope.commandId,
      occurred_at: new Date("2025-02-03T04:05:06.000Z"),
    });
  });
});

/**
 * The write pool, with the read of a category by id in each transaction held
 * until release() is called; `reached` resolves once such a read is held. It
 * holds an UpdateProduct between taking its locks and reading its new
 * category, the window in which another writer could commit that category.
 */
function holdingCategoryReads(write: Sql) {
  let reach!: () => void;
  const reached = new Promise<void>((resolve) => reach = resolve);
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  const hold = (tx: postgres.TransactionSql) =>
    new Proxy(tx, {
      apply(target, thisArg, args) {
        const strings: unknown = args[0];
        if (!Array.isArray(strings) || !/from categories where id =/.test(strings.join(""))) {
          return Reflect.apply(target, thisArg, args);
        }
        reach();
        return released.then(() => Reflect.apply(target, thisArg, args));
      },
    });
  const sql = new Proxy(write, {
    get(target, property, receiver) {
      if (property !== "begin") return Reflect.get(target, property, receiver);
      return (fn: (tx: postgres.TransactionSql) => Promise<unknown>) =>
        target.begin((tx) => fn(hold(tx)));
    },
  });
  return { sql, reached, release };
}

async function waitingForLock(write: Sql): Promise<boolean> {
  const [row] = await write<{ waiting: boolean }[]>`
    select exists (
      select 1 from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock'
    ) as waiting`;
  return row?.waiting === true;
}

Deno.test("handleCommand() commits concurrent writers in transaction-id order, so project() never wedges", async () => {
  await withDatabases(async ({ write, read }) => {
    const toys = crypto.randomUUID();
    const games = crypto.randomUUID();
    const kite = crypto.randomUUID();
    await handleCommand(write, commandEnvelope("CreateCategory", toys, { name: "Toys" }));
    await handleCommand(
      write,
      commandEnvelope("CreateProduct", kite, { name: "Kite", price: "9.99", categoryId: toys }),
    );
    await project({ write, read });

    // The move takes its locks, then waits before reading Games; creating Games must wait for it.
    const held = holdingCategoryReads(write);
    const moving = handleCommand(
      held.sql,
      commandEnvelope("UpdateProduct", kite, { id: kite, categoryId: games }),
    );
    await held.reached;
    let settled = false;
    const creating = handleCommand(
      write,
      commandEnvelope("CreateCategory", games, { name: "Games" }),
    ).finally(() => settled = true);
    await eventually("CreateCategory to commit or to wait for the move", async () => {
      return settled || await waitingForLock(write);
    });
    held.release();
    const [moved, created] = await Promise.all([moving, creating]);

    await project({ write, read });
    assert.deepEqual(plain(await readSide(read)), plain(await writeSide(write)));
    assert.equal(created.status, "APPLIED");
    assert.equal(moved.status === "REJECTED" && moved.rejection.code, "CATEGORY_NOT_FOUND");
  });
});

Deno.test("handleCommand() handles commands for other entities while one is held", async () => {
  await withDatabases(async ({ write, read }) => {
    const toys = crypto.randomUUID();
    const kite = crypto.randomUUID();
    const ball = crypto.randomUUID();
    await handleCommand(write, commandEnvelope("CreateCategory", toys, { name: "Toys" }));
    for (const [id, name] of [[kite, "Kite"], [ball, "Ball"]]) {
      await handleCommand(
        write,
        commandEnvelope("CreateProduct", id!, { name: name!, price: "9.99", categoryId: toys }),
      );
    }

    const held = holdingCategoryReads(write);
    const moving = handleCommand(
      held.sql,
      commandEnvelope("UpdateProduct", kite, { id: kite, categoryId: toys, price: "5.00" }),
    );
    await held.reached;
    // Neither touches the kite, Toys, or the name "Toys": both finish while the kite is held.
    const others = Promise.all([
      handleCommand(
        write,
        commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Books" }),
      ),
      handleCommand(
        write,
        commandEnvelope("UpdateProduct", ball, { id: ball, name: "Beach ball" }),
      ),
    ]);
    const finished = await within(others, 10_000);
    held.release();
    const [[books, renamed], moved] = await Promise.all([others, moving]);

    assert.ok(finished, "the other commands waited for the held one");
    assert.deepEqual([books.status, renamed.status, moved.status], [
      "APPLIED",
      "APPLIED",
      "APPLIED",
    ]);
    await project({ write, read });
    assert.deepEqual(plain(await readSide(read)), plain(await writeSide(write)));
  });
});

Deno.test("handleCommand() lets one of two concurrent claims on a name or a key win, and refuses the other", async () => {
  await withDatabases(async ({ write, read }) => {
    for (let round = 0; round < 10; round += 1) {
      const [first, second] = await Promise.all([
        handleCommand(
          write,
          commandEnvelope("CreateCategory", crypto.randomUUID(), { name: `Kites ${round}` }),
        ),
        handleCommand(
          write,
          commandEnvelope("CreateCategory", crypto.randomUUID(), { name: `KITES ${round}` }),
        ),
      ]);
      const codes = [first, second].map((outcome) =>
        outcome.status === "REJECTED" ? outcome.rejection.code : outcome.status
      ).sort();
      assert.deepEqual(codes, ["APPLIED", "CATEGORY_NAME_TAKEN"], `names, round ${round}`);

      const key = { idempotencyKey: `create-${round}` };
      const claims = await Promise.all([
        handleCommand(
          write,
          commandEnvelope("CreateCategory", crypto.randomUUID(), { name: `A ${round}` }, key),
        ),
        handleCommand(
          write,
          commandEnvelope("CreateCategory", crypto.randomUUID(), { name: `B ${round}` }, key),
        ),
      ]);
      const keyCodes = claims.map((outcome) =>
        outcome.status === "REJECTED" ? outcome.rejection.code : outcome.status
      ).sort();
      assert.deepEqual(keyCodes, ["APPLIED", "IDEMPOTENCY_KEY_REUSED"], `keys, round ${round}`);
    }
    await project({ write, read });
    assert.deepEqual(plain(await readSide(read)), plain(await writeSide(write)));
  });
});

Deno.test("handleCommand() refuses an idempotency key reused with a different request", async () => {
  await withDatabases(async ({ write, read }) => {
    const toys = crypto.randomUUID();
    await handleCommand(write, commandEnvelope("CreateCategory", toys, { name: "Toys" }));
    const first = commandEnvelope("UpdateCategory", toys, { id: toys, name: "Games" }, {
      idempotencyKey: "rename-1",
    });
    const different = commandEnvelope("UpdateCategory", toys, { id: toys, name: "Kites" }, {
      idempotencyKey: "rename-1",
    });
    assert.equal((await handleCommand(write, first)).status, "APPLIED");
    assert.deepEqual(await handleCommand(write, first), {
      status: "DUPLICATE",
      previous: { status: "APPLIED", code: "" },
    });

    const message = `Cannot apply UpdateCategory: idempotency key "rename-1" was already used by ` +
      `command ${first.commandId} for a different request`;
    assert.deepEqual(await handleCommand(write, different), {
      status: "REJECTED",
      rejection: { code: "IDEMPOTENCY_KEY_REUSED", message },
    });
    assert.deepEqual(await handleCommand(write, different), {
      status: "DUPLICATE",
      previous: { status: "REJECTED", code: "IDEMPOTENCY_KEY_REUSED" },
    });
    const [category] = await write`select name, version from categories where id = ${toys}`;
    assert.deepEqual({ ...category }, { name: "Games", version: 2 });
    const events = await write`select command_id from events where aggregate_id = ${toys}`;
    assert.equal(events.length, 2);
    assert.ok(events.every((row) => row.command_id !== different.commandId));
    const keys = await write`select key, command_id, command_type from idempotency_keys`;
    assert.deepEqual(keys.map((row) => ({ ...row })), [
      { key: "rename-1", command_id: first.commandId, command_type: "UpdateCategory" },
    ]);

    const otherKey = commandEnvelope("UpdateCategory", toys, { id: toys, name: "Kites" }, {
      idempotencyKey: "rename-2",
    });
    assert.equal((await handleCommand(write, otherKey)).status, "APPLIED");

    await project({ write, read });
    const [refused] = await read`
      select status, code, message from command_view where command_id = ${different.commandId}`;
    assert.deepEqual({ ...refused }, {
      status: "REJECTED",
      code: "IDEMPOTENCY_KEY_REUSED",
      message,
    });
    assert.deepEqual(plain(await readSide(read)), plain(await writeSide(write)));
  });
});

Deno.test("handleCommand() records an idempotency key also when it rejects the command", async () => {
  await withDatabases(async ({ write }) => {
    const toys = crypto.randomUUID();
    const clock = () => new Date("2025-02-03T04:05:06.000Z");
    const first = commandEnvelope("DeleteCategory", toys, { id: toys }, {
      idempotencyKey: "key-1",
    });
    const rejected = await handleCommand(write, first, { clock });
    assert.equal(rejected.status === "REJECTED" && rejected.rejection.code, "NOT_FOUND");
    const [key] =
      await write`select key, command_id, command_type, recorded_at from idempotency_keys`;
    assert.deepEqual({ ...key }, {
      key: "key-1",
      command_id: first.commandId,
      command_type: "DeleteCategory",
      recorded_at: new Date("2025-02-03T04:05:06.000Z"),
    });

    await handleCommand(write, commandEnvelope("CreateCategory", toys, { name: "Toys" }));
    const different = commandEnvelope("UpdateCategory", toys, { id: toys, name: "Games" }, {
      idempotencyKey: "key-1",
    });
    const refused = await handleCommand(write, different);
    assert.equal(refused.status === "REJECTED" && refused.rejection.code, "IDEMPOTENCY_KEY_REUSED");
    const [category] = await write`select name, version from categories where id = ${toys}`;
    assert.deepEqual({ ...category }, { name: "Toys", version: 1 });
    const [counts] = await write`select count(*)::int as count from idempotency_keys`;
    assert.equal(counts?.count, 1);
  });
});

Deno.test("handleCommand() refuses a stale expected version and records the current one", async () => {
  await withDatabases(async ({ write, read }) => {
    const clock = steppingClock();
    const toys = crypto.randomUUID();
    const kite = crypto.randomUUID();
    await handleCommand(write, commandEnvelope("CreateCategory", toys, { name: "Toys" }), {
      clock,
    });
    await handleCommand(
      write,
      commandEnvelope("CreateProduct", kite, { name: "Kite", price: "9.99", categoryId: toys }),
      { clock },
    );
    const atOne = commandEnvelope("UpdateProduct", kite, {
      id: kite,
      price: "12.00",
      expectedVersion: 1,
    });
    assert.equal((await handleCommand(write, atOne, { clock })).status, "APPLIED");

    const stale = commandEnvelope("UpdateProduct", kite, {
      id: kite,
      price: "15.00",
      expectedVersion: 1,
    });
    const message = `Cannot update product "${kite}": expected version 1, but it is at version 2`;
    assert.deepEqual(await handleCommand(write, stale, { clock }), {
      status: "REJECTED",
      rejection: { code: "VERSION_CONFLICT", message, currentVersion: 2 },
    });
    const staleDelete = commandEnvelope("DeleteCategory", toys, { id: toys, expectedVersion: 2 });
    const deleteRefused = await handleCommand(write, staleDelete, { clock });
    assert.equal(deleteRefused.status === "REJECTED" && deleteRefused.rejection.currentVersion, 1);
    const unconditional = commandEnvelope("UpdateProduct", kite, { id: kite, name: "Box kite" });
    assert.equal((await handleCommand(write, unconditional, { clock })).status, "APPLIED");

    const [product] = await write`select name, price::text as price, version from products`;
    assert.deepEqual({ ...product }, { name: "Box kite", price: "12.00", version: 3 });
    const recorded = async (commandId: string) => {
      const [row] = await write`
        select status, code, current_version from commands where command_id = ${commandId}`;
      return { ...row };
    };
    assert.deepEqual(await recorded(atOne.commandId), {
      status: "APPLIED",
      code: "",
      current_version: null,
    });
    assert.deepEqual(await recorded(stale.commandId), {
      status: "REJECTED",
      code: "VERSION_CONFLICT",
      current_version: 2,
    });
    assert.deepEqual(await recorded(staleDelete.commandId), {
      status: "REJECTED",
      code: "VERSION_CONFLICT",
      current_version: 1,
    });

    await project({ write, read });
    const [view] = await read`
      select status, code, message, current_version from command_view
      where command_id = ${stale.commandId}`;
    assert.deepEqual({ ...view }, {
      status: "REJECTED",
      code: "VERSION_CONFLICT",
      message,
      current_version: 2,
    });
    assert.deepEqual(plain(await readSide(read)), plain(await writeSide(write)));
  });
});

/** A pseudo-random number generator from a seed, so a failing run can be repeated. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A run of commands over a few categories and products that meets every rule:
 * ids taken, names taken in other case, categories not empty or not found,
 * stale versions, idempotency keys reused, and commands delivered again.
 */
function mixedCommands(count: number, random: () => number): CommandEnvelope[] {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const categories = Array.from({ length: 4 }, () => crypto.randomUUID());
  const products = Array.from({ length: 10 }, () => crypto.randomUUID());
  const names = ["Toys", "toys", "Games", "Books", "BOOKS", "Garden"];
  const keys = ["k1", "k2", "k3", "k4"];
  const version = () => random() < 0.3 ? { expectedVersion: 1 + Math.floor(random() * 4) } : {};
  const sent: CommandEnvelope[] = [];
  while (sent.length < count) {
    if (sent.length > 0 && random() < 0.08) {
      sent.push(pick(sent));
      continue;
    }
    const key = random() < 0.15 ? { idempotencyKey: pick(keys) } : {};
    const category = pick(categories);
    const product = pick(products);
    const roll = random();
    sent.push(
      roll < 0.15
        ? commandEnvelope("CreateCategory", category, { name: pick(names) }, key)
        : roll < 0.25
        ? commandEnvelope("UpdateCategory", category, {
          id: category,
          name: pick(names),
          ...version(),
        }, key)
        : roll < 0.32
        ? commandEnvelope("DeleteCategory", category, { id: category, ...version() }, key)
        : roll < 0.5
        ? commandEnvelope("CreateProduct", product, {
          name: `Product ${sent.length}`,
          price: "1.50",
          categoryId: category,
        }, key)
        : roll < 0.85
        ? commandEnvelope("UpdateProduct", product, {
          id: product,
          ...(random() < 0.5 ? { price: `${1 + Math.floor(random() * 100)}.25` } : {}),
          ...(random() < 0.3 ? { categoryId: category } : {}),
          ...(random() < 0.3 ? { name: `Renamed ${sent.length}` } : {}),
          ...version(),
        }, key)
        : commandEnvelope("DeleteProduct", product, { id: product, ...version() }, key),
    );
  }
  return sent;
}

/** Everything the write database holds, without what differs between two runs by design. */
async function writeModel(write: Sql) {
  return plain({
    categories: await write`select * from categories order by id`,
    products: await write`select * from products order by id`,
    events: await write`
      select type, aggregate_type, aggregate_id, aggregate_version, data, command_id, occurred_at
      from events order by position`,
    commands: await write`
      select command_id, type, aggregate_id, status, code, message, current_version, envelope,
        accepted_at, handled_at
      from commands order by position`,
    keys: await write`select * from idempotency_keys order by key`,
  });
}

/** An outcome without the event ids, which are random. */
function comparable(outcome: CommandOutcome): unknown {
  if (outcome.status !== "APPLIED") return outcome;
  return { ...outcome, events: outcome.events.map(({ eventId: _, ...event }) => event) };
}

Deno.test("handleCommands() gives every command of a batch the outcome and the writes it has one at a time", async () => {
  const seed = 20261124;
  const random = seeded(seed);
  // A category emptied and deleted in one batch, then the random run.
  const [garden, rake] = [crypto.randomUUID(), crypto.randomUUID()];
  const scripted = [
    commandEnvelope("CreateCategory", garden, { name: "Tools" }),
    commandEnvelope("CreateProduct", rake, { name: "Rake", price: "5.00", categoryId: garden }),
    commandEnvelope("DeleteCategory", garden, { id: garden }),
    commandEnvelope("DeleteProduct", rake, { id: rake }),
    commandEnvelope("DeleteCategory", garden, { id: garden }),
  ];
  const envelopes = [...scripted, ...mixedCommands(400, random)];
  const batchSizes: number[] = [scripted.length];
  for (let left = envelopes.length - scripted.length; left > 0;) {
    const size = Math.min(left, 1 + Math.floor(random() * 40));
    batchSizes.push(size);
    left -= size;
  }
  let alone: { outcomes: unknown[]; model: unknown } | undefined;
  await withDatabases(async ({ write }) => {
    const clock = steppingClock();
    const outcomes = [];
    for (const envelope of envelopes) {
      outcomes.push(comparable(await handleCommand(write, envelope, { clock })));
    }
    alone = { outcomes, model: await writeModel(write) };
  });
  await withDatabases(async ({ write }) => {
    const clock = steppingClock();
    const outcomes = [];
    let next = 0;
    for (const size of batchSizes) {
      const batch = envelopes.slice(next, next + size);
      next += size;
      outcomes.push(...(await handleCommands(write, batch, { clock })).map(comparable));
    }
    const codes = new Set(
      outcomes.map((outcome) => {
        const { status, rejection } = outcome as { status: string; rejection?: { code: string } };
        return rejection?.code ?? status;
      }),
    );
    // The run meets every rule, so the comparison below covers each of them.
    for (
      const code of [
        "APPLIED",
        "DUPLICATE",
        "ALREADY_EXISTS",
        "NOT_FOUND",
        "CATEGORY_NAME_TAKEN",
        "CATEGORY_NOT_FOUND",
        "CATEGORY_NOT_EMPTY",
        "VERSION_CONFLICT",
        "IDEMPOTENCY_KEY_REUSED",
      ]
    ) assert.ok(codes.has(code), `seed ${seed}: no command of the run ended ${code}`);
    assert.deepEqual(outcomes, alone!.outcomes, `seed ${seed}: outcomes differ`);
    assert.deepEqual(await writeModel(write), alone!.model, `seed ${seed}: write models differ`);
  });
});
