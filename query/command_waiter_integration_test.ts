import assert from "node:assert/strict";
import postgres from "postgres";
import { commandOutcomeChannel, type CommandStatus } from "@catalog/proto";
import { withReadDatabase } from "@catalog/testkit";
import { CommandWaiter } from "./command_waiter.ts";
import { findCommandStatus } from "./commands.ts";

/** A lookup that counts its calls and lets the test await the next one. */
function spyLookup(sql: postgres.Sql) {
  let next = Promise.withResolvers<void>();
  const spy = {
    calls: 0,
    /** Resolves after the next lookup has read the database. */
    next: () => next.promise,
    async lookup(commandId: string): Promise<CommandStatus | undefined> {
      const status = await findCommandStatus(sql, commandId);
      spy.calls++;
      const current = next;
      next = Promise.withResolvers<void>();
      current.resolve();
      return status;
    },
  };
  return spy;
}

async function applyCommand(sql: postgres.Sql, commandId: string, notify = true): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`
      insert into command_view (command_id, type, aggregate_id, status, accepted_at, handled_at)
      values (${commandId}, 'CreateCategory', ${crypto.randomUUID()}, 'APPLIED', now(), now())
      on conflict (command_id) do update set status = 'APPLIED', handled_at = now()`;
    if (notify) await tx`select pg_notify(${commandOutcomeChannel}, ${commandId})`;
  });
}

async function listenConnections(sql: postgres.Sql, database: string): Promise<number> {
  const [row] = await sql<{ count: number }[]>`
    select count(*)::int as count from pg_stat_activity
    where datname = ${database} and query ilike 'listen%'`;
  return row!.count;
}

Deno.test("CommandWaiter wakes a waiter when the outcome is notified after its first read", async () => {
  await withReadDatabase(async ({ url, sql }) => {
    const spy = spyLookup(sql);
    const waiter = new CommandWaiter({
      connect: () => postgres(url, { max: 1, onnotice: () => {} }),
      lookup: spy.lookup,
    });
    try {
      const commandId = crypto.randomUUID();
      const read = spy.next();
      const waiting = waiter.wait(commandId, 20_000);
      await read;
      assert.equal(waiter.waiting, 1);
      const started = Date.now();
      await applyCommand(sql, commandId);
      const status = await waiting;
      assert.equal(status?.status, "APPLIED");
      assert.equal(status?.commandId, commandId);
      assert.equal(spy.calls, 2);
      assert.ok(Date.now() - started < 5000);
      assert.equal(waiter.waiting, 0);
    } finally {
      await waiter.close();
    }
  });
});

async function recordStatus(
  sql: postgres.Sql,
  commandId: string,
  status: "ACCEPTED" | "FAILED",
): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`
      insert into command_view (
        command_id, type, aggregate_id, status, code, message, accepted_at, handled_at
      ) values (
        ${commandId}, 'CreateCategory', ${crypto.randomUUID()}, ${status},
        ${status === "FAILED" ? "DEAD_LETTERED" : ""},
        ${status === "FAILED" ? "Cannot read command: body is not JSON" : ""}, now(),
        ${status === "FAILED" ? new Date() : null}
      )
      on conflict (command_id) do update set
        status = excluded.status, code = excluded.code, message = excluded.message,
        handled_at = excluded.handled_at`;
    await tx`select pg_notify(${commandOutcomeChannel}, ${commandId})`;
  });
}

Deno.test("CommandWaiter keeps waiting while the command is only ACCEPTED", async () => {
  await withReadDatabase(async ({ url, sql }) => {
    const spy = spyLookup(sql);
    const waiter = new CommandWaiter({
      connect: () => postgres(url, { max: 1, onnotice: () => {} }),
      lookup: spy.lookup,
    });
    try {
      const commandId = crypto.randomUUID();
      let read = spy.next();
      const waiting = waiter.wait(commandId, 20_000);
      await read;
      read = spy.next();
      await recordStatus(sql, commandId, "ACCEPTED");
      await read;
      assert.equal(spy.calls, 2, "woken, it read the ACCEPTED row");
      assert.equal(waiter.waiting, 1, "and waits on");
      await applyCommand(sql, commandId);
      assert.equal((await waiting)?.status, "APPLIED");
    } finally {
      await waiter.close();
    }
  });
});

Deno.test("CommandWaiter ends a wait when the command FAILED", async () => {
  await withReadDatabase(async ({ url, sql }) => {
    const spy = spyLookup(sql);
    const waiter = new CommandWaiter({
      connect: () => postgres(url, { max: 1, onnotice: () => {} }),
      lookup: spy.lookup,
    });
    try {
      const commandId = crypto.randomUUID();
      await recordStatus(sql, commandId, "ACCEPTED");
      const read = spy.next();
      const waiting = waiter.wait(commandId, 20_000);
      await read;
      await recordStatus(sql, commandId, "FAILED");
      const status = await waiting;
      assert.equal(status?.status, "FAILED");
      assert.equal(status?.code, "DEAD_LETTERED");
      assert.notEqual(status?.handledAt, "");
    } finally {
      await waiter.close();
    }
  });
});

Deno.test("CommandWaiter answers an ACCEPTED command as it stands when the time is up", async () => {
  await withReadDatabase(async ({ url, sql }) => {
    const waiter = new CommandWaiter({
      connect: () => postgres(url, { max: 1, onnotice: () => {} }),
      lookup: (id) => findCommandStatus(sql, id),
    });
    try {
      const commandId = crypto.randomUUID();
      await recordStatus(sql, commandId, "ACCEPTED");
      const started = Date.now();
      const status = await waiter.wait(commandId, 300);
      assert.ok(Date.now() - started >= 290);
      assert.equal(status?.status, "ACCEPTED");
      assert.equal(status?.handledAt, "");
      assert.equal(status?.currentVersion, undefined);
    } finally {
      await waiter.close();
    }
  });
});

Deno.test("CommandWaiter ignores notifications for other commands", async () => {
  await withReadDatabase(async ({ url, sql }) => {
    const spy = spyLookup(sql);
    const waiter = new CommandWaiter({
      connect: () => postgres(url, { max: 1, onnotice: () => {} }),
      lookup: spy.lookup,
    });
    try {
      const commandId = crypto.randomUUID();
      const read = spy.next();
      const waiting = waiter.wait(commandId, 300);
      await read;
      await applyCommand(sql, crypto.randomUUID());
      assert.equal(await waiting, undefined);
      assert.equal(spy.calls, 1);
    } finally {
      await waiter.close();
    }
  });
});

Deno.test("CommandWaiter serves many waiters over one LISTEN connection, also after restart()", async () => {
  await withReadDatabase(async ({ url, name, sql }) => {
    const spy = spyLookup(sql);
    const waiter = new CommandWaiter({
      connect: () => postgres(url, { max: 1, onnotice: () => {} }),
      lookup: spy.lookup,
    });
    try {
      for (const round of [1, 2]) {
        if (round === 2) await waiter.restart();
        const ids = Array.from({ length: 25 }, () => crypto.randomUUID());
        const waiting = ids.map((id) => waiter.wait(id, 20_000));
        await waiter.listen();
        assert.equal(await listenConnections(sql, name), 1, `round ${round}`);
        for (const id of ids) await applyCommand(sql, id);
        const statuses = await Promise.all(waiting);
        assert.deepEqual(statuses.map((status) => status?.commandId), ids);
        assert.equal(await listenConnections(sql, name), 1, `round ${round}`);
      }
    } finally {
      await waiter.close();
    }
  });
});

Deno.test("CommandWaiter answers at once when the outcome is already there", async () => {
  await withReadDatabase(async ({ url, sql }) => {
    const waiter = new CommandWaiter({
      connect: () => postgres(url, { max: 1, onnotice: () => {} }),
      lookup: (id) => findCommandStatus(sql, id),
    });
    try {
      const commandId = crypto.randomUUID();
      await applyCommand(sql, commandId, false);
      const started = Date.now();
      assert.equal((await waiter.wait(commandId.toUpperCase(), 20_000))?.status, "APPLIED");
      assert.ok(Date.now() - started < 2000);
    } finally {
      await waiter.close();
    }
  });
});

Deno.test("CommandWaiter ends a wait when its signal aborts or the waiter closes", async () => {
  await withReadDatabase(async ({ url, sql }) => {
    const spy = spyLookup(sql);
    const waiter = new CommandWaiter({
      connect: () => postgres(url, { max: 1, onnotice: () => {} }),
      lookup: spy.lookup,
    });
    try {
      const aborted = new AbortController();
      let read = spy.next();
      const cancelled = waiter.wait(crypto.randomUUID(), 20_000, aborted.signal);
      await read;
      aborted.abort();
      assert.equal(await cancelled, undefined);

      read = spy.next();
      const closing = waiter.wait(crypto.randomUUID(), 20_000);
      await read;
      await waiter.close();
      assert.equal(await closing, undefined);
      assert.equal(waiter.waiting, 0);
    } finally {
      await waiter.close();
    }
  });
});

async function listenBackend(sql: postgres.Sql, database: string): Promise<number | undefined> {
  const [row] = await sql<{ pid: number }[]>`
    select pid from pg_stat_activity where datname = ${database} and query ilike 'listen%'`;
  return row?.pid;
}

Deno.test("CommandWaiter verify() keeps a LISTEN that hears its pings", async () => {
  await withReadDatabase(async ({ url, name, sql }) => {
    const waiter = new CommandWaiter({
      connect: () => postgres(url, { max: 1, onnotice: () => {} }),
      lookup: (id) => findCommandStatus(sql, id),
    });
    try {
      await waiter.listen();
      const before = await listenBackend(sql, name);
      assert.ok(before);
      const pinged = Promise.withResolvers<void>();
      const send = async (channel: string, payload: string) => {
        await sql.notify(channel, payload);
        pinged.resolve();
      };
      await waiter.verify(send);
      await pinged.promise;
      // The ping comes back over the LISTEN connection; a wait for an applied
      // command, notified after it, proves the connection has read past it.
      const commandId = crypto.randomUUID();
      const waiting = waiter.wait(commandId, 20_000);
      await applyCommand(sql, commandId);
      await waiting;
      await waiter.verify(send);
      assert.equal(await listenBackend(sql, name), before);
    } finally {
      await waiter.close();
    }
  });
});

Deno.test("CommandWaiter verify() starts the LISTEN over when a ping never came back", async () => {
  await withReadDatabase(async ({ url, name, sql }) => {
    const waiter = new CommandWaiter({
      connect: () => postgres(url, { max: 1, onnotice: () => {} }),
      lookup: (id) => findCommandStatus(sql, id),
    });
    try {
      await waiter.listen();
      const before = await listenBackend(sql, name);
      await waiter.verify(() => Promise.resolve());
      await waiter.verify((channel, payload) => sql.notify(channel, payload));
      const after = await listenBackend(sql, name);
      assert.ok(after);
      assert.notEqual(after, before);
      assert.equal(await listenConnections(sql, name), 1);

      const commandId = crypto.randomUUID();
      const waiting = waiter.wait(commandId, 20_000);
      await applyCommand(sql, commandId);
      assert.equal((await waiting)?.status, "APPLIED");
    } finally {
      await waiter.close();
    }
  });
});
