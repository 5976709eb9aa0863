import assert from "node:assert/strict";
import postgres from "postgres";
import { failureOf, withReadDatabase } from "@catalog/testkit";
import { cancellable } from "./cancellable.ts";
import { CallCancelledError } from "./errors.ts";

/**
 * A TCP forwarder to the database that lets exactly one connection through
 * and then stops listening: that connection keeps working, and every later
 * one (such as a cancel request) is refused.
 */
function oneConnectionThrough(url: string): { url: string; close(): void } {
  const target = new URL(url);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    const client = await listener.accept();
    listener.close();
    const server = await Deno.connect({
      hostname: target.hostname,
      port: Number(target.port || 5432),
    });
    conns.push(client, server);
    client.readable.pipeTo(server.writable).catch(() => {});
    server.readable.pipeTo(client.writable).catch(() => {});
  })().catch(() => {});
  const through = new URL(url);
  through.hostname = "127.0.0.1";
  through.port = String((listener.addr as Deno.NetAddr).port);
  return {
    url: through.toString(),
    close() {
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
    },
  };
}

Deno.test("cancellable() cancels the running statement when the signal aborts", async () => {
  await withReadDatabase(async (db) => {
    const aborting = new AbortController();
    const started = performance.now();
    setTimeout(() => aborting.abort(), 100);
    const error = await failureOf<{ code?: string }>(
      cancellable(db.sql`select pg_sleep(10)`, aborting.signal),
    );
    assert.equal(error.code, "57014");
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 5_000, `the statement ran ${elapsed} ms`);
  });
});

Deno.test("cancellable() sends nothing once the signal has aborted", async () => {
  await withReadDatabase(async (db) => {
    await db.sql`create table marks (n int)`;
    const error = await failureOf(
      cancellable(db.sql`insert into marks values (1)`, AbortSignal.abort()),
    );
    assert.ok(error instanceof CallCancelledError);
    const [row] = await db.sql<{ count: number }[]>`select count(*)::int as count from marks`;
    assert.equal(row?.count, 0);
  });
});

Deno.test("cancellable() runs the statement as it is without a signal, or when it never aborts", async () => {
  await withReadDatabase(async (db) => {
    const [plain] = await cancellable(db.sql<{ n: number }[]>`select 1 as n`, undefined);
    assert.equal(plain?.n, 1);
    const [kept] = await cancellable(
      db.sql<{ n: number }[]>`select 2 as n`,
      new AbortController().signal,
    );
    assert.equal(kept?.n, 2);
  });
});

Deno.test("cancellable() lets the statement finish when its cancel cannot reach the database", async () => {
  await withReadDatabase(async (db) => {
    const forwarder = oneConnectionThrough(db.url);
    const sql = postgres(forwarder.url, { max: 1, connect_timeout: 2, onnotice: () => {} });
    try {
      await sql`select 1`;
      const aborting = new AbortController();
      setTimeout(() => aborting.abort(), 100);
      // The cancel request is refused: the statement runs to its end, and the
      // process lives on (an unhandled rejection would fail this test).
      const [row] = await cancellable(
        sql<{ n: number }[]>`select pg_sleep(0.5), 3 as n`,
        aborting.signal,
      );
      assert.equal(row?.n, 3);
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      await sql.end({ timeout: 1 });
      forwarder.close();
    }
  });
});
