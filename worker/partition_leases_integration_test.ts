import assert from "node:assert/strict";
import postgres from "postgres";
import { eventually, withDatabases } from "./_testing.ts";
import { type PartitionLeases, startPartitionLeases } from "./partition_leases.ts";

/** A worker's leases on its own session; its consumer is a set of partitions. */
interface LeaseHolder {
  leases: PartitionLeases;
  consuming: Set<number>;
  session: postgres.Sql;
  stop(): Promise<void>;
}

function holder(writeUrl: string, name: string, releaseMs = 0): LeaseHolder {
  const session = postgres(writeUrl, {
    max: 1,
    max_lifetime: null,
    onnotice: () => {},
    connection: { application_name: name },
  });
  const consuming = new Set<number>();
  const leases = startPartitionLeases(session, {
    partitions: 8,
    intervalMs: 50,
    onAcquire(partition) {
      assert.ok(!consuming.has(partition), `partition ${partition} acquired twice`);
      consuming.add(partition);
    },
    async onRelease(partition) {
      await new Promise((resolve) => setTimeout(resolve, releaseMs));
      consuming.delete(partition);
    },
  });
  return {
    leases,
    consuming,
    session,
    async stop() {
      await leases.stop();
      await session.end({ timeout: 1 });
    },
  };
}

function owners(...holders: LeaseHolder[]): number[] {
  return holders.flatMap((one) => [...one.consuming]).sort();
}

const all = [0, 1, 2, 3, 4, 5, 6, 7];

Deno.test("startPartitionLeases() shares the partitions between workers and takes back a stopped one's", async () => {
  await withDatabases(async ({ writeUrl }) => {
    const first = holder(writeUrl, "first", 20);
    const second = holder(writeUrl, "second");
    const third = holder(writeUrl, "third");
    try {
      await first.leases.rebalance();
      await eventually("three workers sharing 8 partitions", () => {
        // Sizes alone can settle a moment before the last free partition is taken.
        const sizes = [first, second, third].map((worker) => worker.consuming.size);
        return Promise.resolve(
          sizes.every((size) => size === 2 || size === 3) &&
            owners(first, second, third).length === all.length,
        );
      });
      assert.deepEqual(owners(first, second, third), all, "a partition has no owner or two");

      await third.stop();
      assert.equal(third.consuming.size, 0);
      await eventually("two workers with 4 partitions each", () => {
        return Promise.resolve(first.consuming.size === 4 && second.consuming.size === 4);
      });
      assert.deepEqual(owners(first, second), all);
    } finally {
      await Promise.all([first.stop(), second.stop(), third.stop()]);
    }
  });
});

Deno.test("startPartitionLeases() settles on one owner per partition after a worker's session dies", async () => {
  await withDatabases(async ({ write, writeUrl }) => {
    const doomed = holder(writeUrl, "doomed-worker");
    const survivor = holder(writeUrl, "survivor");
    try {
      await eventually("two workers with 4 partitions each", () => {
        return Promise.resolve(doomed.consuming.size === 4 && survivor.consuming.size === 4);
      });
      // The database ends the doomed worker's session, and its locks with it.
      const [ended] = await write`
        select count(pg_terminate_backend(pid))::int as count from pg_stat_activity
        where application_name = 'doomed-worker'`;
      assert.equal(ended?.count, 1);
      const lockedPartitions = async () => {
        const rows = await write<{ partition: number }[]>`
          select objid::int as partition from pg_locks
          where locktype = 'advisory' and objsubid = 2 and classid = 4711004::oid
            and database = (select oid from pg_database where datname = current_database())
          order by objid`;
        return rows.map((row) => row.partition);
      };
      // Until the doomed worker notices, the survivor may take its partitions
      // (RabbitMQ keeps one active consumer per partition meanwhile); then the
      // doomed worker hands them over, and every lock is held again.
      await eventually("each partition locked and consumed by exactly one worker", async () => {
        const locked = await lockedPartitions();
        return JSON.stringify(locked) === JSON.stringify(all) &&
          JSON.stringify(owners(doomed, survivor)) === JSON.stringify(all);
      });
    } finally {
      await Promise.all([doomed.stop(), survivor.stop()]);
    }
  });
});
