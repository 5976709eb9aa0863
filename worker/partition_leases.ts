import type postgres from "postgres";
import { messageOf } from "./faults.ts";

/** Options of startPartitionLeases(). */
export interface PartitionLeaseOptions {
  /** How many partitions there are (0 … partitions - 1). */
  partitions: number;
  /**
   * Called once this worker holds partition p: start consuming it. Must not
   * throw; a consumer that cannot start yet retries by itself.
   */
  onAcquire: (partition: number) => void;
  /**
   * Called before this worker gives partition p away, or once it learns that
   * another worker holds it: stop consuming p and hand back what it holds.
   * The lease is released only after it resolves.
   */
  onRelease: (partition: number) => Promise<void>;
  /** How often to count workers and rebalance, in milliseconds. Default 1000. */
  intervalMs?: number;
  /** Receives a line per change of ownership. Default: none. */
  log?: (line: string) => void;
}

/** This worker's share of the partitions. */
export interface PartitionLeases {
  /** Partitions this worker holds now. */
  readonly held: ReadonlySet<number>;
  /** Rebalances now instead of at the next tick; resolves when done. */
  rebalance(): Promise<void>;
  /** Gives every partition back (after onRelease) and stops rebalancing. */
  stop(): Promise<void>;
}

/**
 * First key of the two-key advisory locks: one lock per live worker, keyed by
 * its backend pid, so any worker can count them.
 */
const PRESENCE_LOCKS = 4_711_003;
/** First key of the two-key advisory locks: one lock per partition, held by its owner. */
const PARTITION_LOCKS = 4_711_004;

/**
 * Counts this worker among the live workers from now on, on the session that
 * startPartitionLeases() will use: call it before the slower steps of
 * starting, so that workers started together share the partitions from their
 * first tick instead of the first one taking them all and handing half back.
 */
export async function announceWorker(sql: postgres.Sql): Promise<void> {
  await sql`select pg_advisory_lock(${PRESENCE_LOCKS}::int, pg_backend_pid())`;
}

/**
 * Shares the partitions fairly among the live workers with PostgreSQL
 * session advisory locks, taken on `sql`: a pool of one connection of the
 * write database reserved for this (give it `max: 1` and no max_lifetime).
 * Each worker announces itself with a presence lock; every tick it counts the
 * workers, keeps at most its fair share (ceil(partitions / workers)) and takes
 * free partitions up to that share. A worker that dies loses its connection
 * and with it every lock, so the others take its partitions at their next tick.
 *
 * The lease decides who should consume a partition; it does not by itself
 * keep order. Partition queues are single-active-consumer, so even while two
 * workers briefly both subscribe (after a lost connection, say), RabbitMQ
 * delivers to one of them only, and the other takes over only once the first
 * has closed its channel and its unacknowledged messages are back in the queue.
 */
export function startPartitionLeases(
  sql: postgres.Sql,
  options: PartitionLeaseOptions,
): PartitionLeases {
  const log = options.log ?? (() => {});
  const intervalMs = options.intervalMs ?? 1000;
  const held = new Set<number>();
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  let lastProblem = "";

  function tryLock(partition: number): Promise<boolean> {
    return sql<{ locked: boolean }[]>`
      select pg_try_advisory_lock(${PARTITION_LOCKS}::int, ${partition}::int) as locked`
      .then(([row]) => row?.locked === true);
  }

  /**
   * Makes sure this session holds what this worker believes it holds. After a
   * lost connection the pool opens a new session, which holds nothing: take
   * the locks back, and hand over what another worker took meanwhile.
   */
  async function reassert(): Promise<void> {
    const [state] = await sql<{ present: boolean; partitions: number[] }[]>`
      select
        exists (
          select 1 from pg_locks where locktype = 'advisory' and objsubid = 2 and granted
            and pid = pg_backend_pid() and classid = ${PRESENCE_LOCKS}::int::oid
        ) as present,
        array(
          select objid::int from pg_locks where locktype = 'advisory' and objsubid = 2 and granted
            and pid = pg_backend_pid() and classid = ${PARTITION_LOCKS}::int::oid
        ) as partitions`;
    if (!state?.present) await announceWorker(sql);
    const locked = new Set(state?.partitions ?? []);
    for (const partition of [...held]) {
      if (locked.has(partition) || await tryLock(partition)) continue;
      log(`partition ${partition} was taken over by another worker; handing it back`);
      await options.onRelease(partition);
      held.delete(partition);
    }
  }

  async function release(partition: number) {
    await options.onRelease(partition);
    held.delete(partition);
    await sql`select pg_advisory_unlock(${PARTITION_LOCKS}::int, ${partition}::int)`;
  }

  async function tick(): Promise<void> {
    await reassert();
    const [count] = await sql<{ workers: number }[]>`
      select count(*)::int as workers from pg_locks
      where locktype = 'advisory' and classid = ${PRESENCE_LOCKS}::int::oid and objsubid = 2
        and granted and database = (select oid from pg_database where datname = current_database())`;
    const workers = Math.max(1, count?.workers ?? 1);
    const share = Math.ceil(options.partitions / workers);
    // Give the excess back all at once: each is free for the others as soon
    // as its commands in hand are done.
    const given = stopped
      ? []
      : [...held].sort((a, b) => b - a).slice(0, Math.max(0, held.size - share));
    await Promise.all(given.map(release));
    const taken: number[] = [];
    for (let partition = 0; partition < options.partitions; partition++) {
      if (held.size >= share || stopped) break;
      if (held.has(partition) || !(await tryLock(partition))) continue;
      held.add(partition);
      taken.push(partition);
      options.onAcquire(partition);
    }
    const why = `${workers} worker${workers === 1 ? "" : "s"}, a share of ${share}`;
    if (given.length > 0) log(`gave back partitions ${given.sort().join(", ")} (${why})`);
    if (taken.length > 0) log(`took partitions ${taken.join(", ")} (${why})`);
  }

  function rebalance(): Promise<void> {
    running = running.then(async () => {
      if (stopped) return;
      try {
        await tick();
        lastProblem = "";
      } catch (error) {
        // The database is unreachable: keep consuming what is held (RabbitMQ
        // keeps one consumer per partition) and reassert the leases once it
        // answers again.
        const problem = messageOf(error);
        if (problem !== lastProblem) log(`cannot rebalance partitions yet: ${problem}`);
        lastProblem = problem;
      }
    });
    return running;
  }

  const timer = setInterval(() => void rebalance(), intervalMs);

  return {
    held,
    rebalance,
    async stop() {
      clearInterval(timer);
      await running;
      stopped = true;
      await Promise.all([...held].map(async (partition) => {
        await options.onRelease(partition);
        held.delete(partition);
      }));
      await sql`select pg_advisory_unlock_all()`.catch(() => {});
    },
  };
}
