import assert from "node:assert/strict";
import { commandEnvelope, type Sql, withDatabases } from "./_testing.ts";
import { recordAccepted, recordFailed } from "./command_status.ts";
import { defaultRetention } from "./config.ts";
import { handleCommand } from "./handle_command.ts";
import { project } from "./project.ts";
import { prune } from "./retention.ts";

const HOUR = 3_600_000;
const start = new Date("2026-01-01T00:00:00.000Z");
const at = (hours: number) => new Date(start.getTime() + hours * HOUR);

async function commandIds(write: Sql): Promise<string[]> {
  return (await write<{ id: string }[]>`select command_id::text as id from commands`)
    .map((row) => row.id).sort();
}

async function viewIds(read: Sql): Promise<Record<string, string>> {
  const rows = await read<{ id: string; status: string }[]>`
    select command_id::text as id, status from command_view`;
  return Object.fromEntries(rows.map((row) => [row.id, row.status]));
}

async function keys(write: Sql): Promise<string[]> {
  return (await write<{ key: string }[]>`select key from idempotency_keys order by key`)
    .map((row) => row.key);
}

Deno.test("prune() removes keys and command outcomes past their retention, and keeps the younger", async () => {
  await withDatabases(async ({ write, read }) => {
    // Handled at hour 0, at hour 30 and at hour 200 (retention: keys 24 h, commands 168 h).
    const old = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Old" }, {
      idempotencyKey: "old",
    });
    const middle = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Middle" }, {
      idempotencyKey: "middle",
    });
    const young = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Young" }, {
      idempotencyKey: "young",
    });
    await handleCommand(write, old, { clock: () => at(0) });
    await handleCommand(write, middle, { clock: () => at(30) });
    await handleCommand(write, young, { clock: () => at(200) });
    await project({ write, read });

    // At hour 50: only the first key is past 24 h; no command is past 168 h.
    const first = await prune({ write, read }, defaultRetention, at(50));
    assert.deepEqual(first, { idempotencyKeys: 1, commands: 0, commandViews: 0, changes: 0 });
    assert.deepEqual(await keys(write), ["middle", "young"]);
    assert.equal((await commandIds(write)).length, 3);

    // At hour 190: the first command is past 168 h (the second is 160 h old), the second key past 24 h.
    const second = await prune({ write, read }, defaultRetention, at(190));
    assert.deepEqual(second, { idempotencyKeys: 1, commands: 1, commandViews: 1, changes: 0 });
    assert.deepEqual(await keys(write), ["young"]);
    assert.deepEqual(await commandIds(write), [middle.commandId, young.commandId].sort());
    assert.deepEqual(
      Object.keys(await viewIds(read)).sort(),
      [middle.commandId, young.commandId].sort(),
    );

    // The event log is never pruned.
    const [events] = await write<{ count: number }[]>`select count(*)::int as count from events`;
    assert.equal(events!.count, 3);
  });
});

Deno.test("prune() keeps what is in use however old: unprojected commands, ACCEPTED and FAILED outcomes", async () => {
  await withDatabases(async ({ write, read }) => {
    const projected = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Seen" });
    await handleCommand(write, projected, { clock: () => at(0) });
    await project({ write, read });
    // Handled as long ago, but not projected yet: the read side has not shown it.
    const unprojected = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Unseen" });
    await handleCommand(write, unprojected, { clock: () => at(0) });
    // Still queued behind a backlog, and dead-lettered (its dead letter may be replayed).
    const queued = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Queued" });
    const failed = commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Failed" });
    await recordAccepted(
      read,
      [queued, failed].map(({ commandId, type, aggregateId }) => ({
        commandId,
        type,
        aggregateId,
        acceptedAt: at(0).toISOString(),
      })),
    );
    await recordFailed(read, failed, "Cannot read it", () => at(1));

    const report = await prune({ write, read }, defaultRetention, at(1000));
    assert.equal(report.commands, 1);
    assert.equal(report.commandViews, 1);
    assert.deepEqual(await commandIds(write), [unprojected.commandId]);
    assert.deepEqual(await viewIds(read), {
      [queued.commandId]: "ACCEPTED",
      [failed.commandId]: "FAILED",
    });

    // Once projected, it goes at the next prune.
    await project({ write, read });
    const later = await prune({ write, read }, defaultRetention, at(1000));
    assert.equal(later.commands, 1);
    assert.deepEqual(await commandIds(write), []);
  });
});

Deno.test("prune() removes changes past the feed's retention and moves changes_pruned up", async () => {
  await withDatabases(async ({ write, read }) => {
    await handleCommand(
      write,
      commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Old" }),
    );
    await project({ write, read });
    await read`update changes set at = now() - interval '2 hours'`;
    const [oldest] = await read<{ last: string }[]>`
      select max(position)::text as last from changes`;
    const last = oldest!.last;
    await handleCommand(
      write,
      commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "New" }),
    );
    await project({ write, read });
    const [all] = await read<{ count: number }[]>`select count(*)::int as count from changes`;
    const kept = all!.count;

    const report = await prune({ write, read }, defaultRetention, new Date());
    assert.equal(report.changes, 2);
    const rows = await read<{ position: string }[]>`select position::text from changes`;
    assert.equal(rows.length, kept - 2);
    assert.ok(rows.every((row) => BigInt(row.position) > BigInt(last)));
    const [pruned] = await read<{ upTo: string }[]>`
      select up_to::text as "upTo" from changes_pruned`;
    assert.equal(pruned!.upTo, last);
  });
});
