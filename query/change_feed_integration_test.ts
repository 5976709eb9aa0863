import assert from "node:assert/strict";
import type postgres from "postgres";
import { type Change, changeFeedChannel, changeFeedLock, grpc } from "@catalog/proto";
import { createChangeFeedClient } from "@catalog/runtime";
import { withReadDatabase } from "@catalog/testkit";
import { eventually } from "@catalog/testkit";
import { startQueryService } from "./service.ts";

/** Appends a category change as the projector does: under the lock, then a notification. */
async function appendCategory(sql: postgres.Sql, name: string): Promise<string> {
  const id = crypto.randomUUID();
  const entity = {
    id,
    name,
    version: 1,
    product_count: 0,
    created_at: "2026-01-02T03:04:05.123456+00:00",
    updated_at: "2026-01-02T03:04:05.123456+00:00",
  };
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${changeFeedLock})`;
    await tx`
      insert into changes (entity_type, entity_id, kind, entity, command_id)
      values ('CATEGORY', ${id}, 'CREATED', ${tx.json(entity)}, ${crypto.randomUUID()})`;
    await tx`select pg_notify(${changeFeedChannel}, '')`;
  });
  return id;
}

interface Watching {
  start: Promise<string>;
  changes: Change[];
  ended: Promise<grpc.ServiceError | undefined>;
  cancel(): void;
}

async function withFeed(
  fn: (
    sql: postgres.Sql,
    watch: (afterPosition?: string) => Watching,
    stop: () => Promise<void>,
  ) => Promise<void>,
): Promise<void> {
  await withReadDatabase(async ({ url, sql }) => {
    const service = await startQueryService(
      { grpcHost: "127.0.0.1", grpcPort: 0, readDatabaseUrl: url },
      { log: () => {}, healthIntervalMs: 100 },
    );
    const client = createChangeFeedClient(`127.0.0.1:${service.port}`);
    const calls: Watching[] = [];
    function watch(afterPosition?: string): Watching {
      const start = Promise.withResolvers<string>();
      const ended = Promise.withResolvers<grpc.ServiceError | undefined>();
      const changes: Change[] = [];
      const stream = client.watch(afterPosition === undefined ? {} : { afterPosition }, {
        onStart: start.resolve,
        onChange: (change) => changes.push(change),
        onEnd: ended.resolve,
      });
      const watching = {
        start: start.promise,
        changes,
        ended: ended.promise,
        cancel: () => stream.cancel(),
      };
      calls.push(watching);
      return watching;
    }
    try {
      await fn(sql, watch, () => service.stop());
    } finally {
      // The client goes before its server does: see README on Deno and grpc-js.
      for (const call of calls) call.cancel();
      client.close();
      await service.stop();
    }
  });
}

Deno.test("WatchChanges streams the changes after a position, then new ones as they come", async () => {
  await withFeed(async (sql, watch) => {
    const before = [await appendCategory(sql, "A"), await appendCategory(sql, "B")];
    const [first] = await sql<{ position: string }[]>`
      select min(position)::text as position from changes`;
    const resumed = watch(first!.position);
    const fromNow = watch();
    assert.equal(await resumed.start, first!.position);
    assert.equal(BigInt(await fromNow.start), BigInt(first!.position) + 1n);

    const after = await appendCategory(sql, "C");
    await eventually(
      "both streams to see C",
      () => Promise.resolve(resumed.changes.length === 2 && fromNow.changes.length === 1),
    );
    assert.deepEqual(resumed.changes.map((change) => change.entityId), [before[1], after]);
    assert.deepEqual(fromNow.changes, [resumed.changes[1]]);
    const [change] = fromNow.changes;
    assert.equal(change!.entity, "category");
    assert.deepEqual(
      [change!.entityType, change!.kind, change!.category?.name, change!.category?.createdAt],
      ["CATEGORY", "CREATED", "C", "2026-01-02T03:04:05.123Z"],
    );
  });
});

Deno.test("WatchChanges answers OUT_OF_RANGE for a position already pruned or not reached", async () => {
  await withFeed(async (sql, watch) => {
    await appendCategory(sql, "A");
    await sql`update changes_pruned set up_to = 1`;
    const pruned = await watch("0").ended;
    assert.equal(pruned?.code, grpc.status.OUT_OF_RANGE);
    assert.match(pruned?.details ?? "", /changes up to 1 were pruned/);
    const ahead = await watch("99").ended;
    assert.equal(ahead?.code, grpc.status.OUT_OF_RANGE);
  });
});

Deno.test("WatchChanges ends a stream that falls behind the pruning with OUT_OF_RANGE", async () => {
  await withFeed(async (sql, watch) => {
    await appendCategory(sql, "A");
    const watching = watch();
    const start = BigInt(await watching.start);
    // The pruner passes the stream's position while it waits for more.
    await sql`update changes_pruned set up_to = ${(start + 5n).toString()}`;
    await appendCategory(sql, "B");
    const ended = await watching.ended;
    assert.equal(ended?.code, grpc.status.OUT_OF_RANGE);
    assert.match(ended?.details ?? "", new RegExp(`changes up to ${start + 5n} were pruned`));
    assert.deepEqual(watching.changes, []);
  });
});

Deno.test("WatchChanges ends its streams with UNAVAILABLE when the service stops", async () => {
  await withFeed(async (_sql, watch, stop) => {
    const watching = watch();
    await watching.start;
    await stop();
    const ended = await watching.ended;
    assert.equal(ended?.code, grpc.status.UNAVAILABLE);
    assert.equal(ended?.details, "Cannot serve the call: the query service is stopping");
  });
});
