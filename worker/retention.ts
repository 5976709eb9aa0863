import type postgres from "postgres";
import type { RetentionConfig } from "./config.ts";
import { messageOf } from "./faults.ts";

/** What one prune() removed. */
export interface PruneReport {
  idempotencyKeys: number;
  /** Handled commands removed from the write database's command log. */
  commands: number;
  /** Final outcomes removed from the read database's command view. */
  commandViews: number;
  /** Changes removed from the change feed. */
  changes: number;
}

/** Rows one statement removes at most, so that no prune holds many locks for long. */
const SLICE = 5000;

async function inSlices(remove: () => Promise<number>): Promise<number> {
  let total = 0;
  while (true) {
    const removed = await remove();
    total += removed;
    if (removed < SLICE) return total;
  }
}

function before(now: Date, ms: number): Date {
  return new Date(now.getTime() - ms);
}

/**
 * Removes what is older than its retention, never what is still in use:
 *
 * - idempotency keys recorded before the key retention;
 * - commands of the write database's command log handled before the command
 *   retention, once projected (a command the read side has not shown yet
 *   stays), and the final outcomes (APPLIED, REJECTED) of the read side's
 *   command view of the same age, so that `command(id)` forgets a command
 *   when the log does; a command still ACCEPTED, or FAILED and waiting in
 *   the dead letters, stays however old;
 * - changes of the change feed that became readable before the change-feed
 *   retention, moving `changes_pruned` up in the same statement, so that a
 *   gateway asking for what it missed learns it is gone.
 *
 * The event log is never pruned: it is the source of truth the read side is
 * rebuilt from. Workers prune side by side without waiting on each other
 * (rows another worker is removing are skipped).
 */
export async function prune(
  databases: { write: postgres.Sql; read: postgres.Sql },
  retention: RetentionConfig,
  now: Date,
): Promise<PruneReport> {
  const { write, read } = databases;
  const keysBefore = before(now, retention.idempotencyKeysMs);
  const commandsBefore = before(now, retention.commandsMs);
  const changesBefore = before(now, retention.changeFeedMs);

  const idempotencyKeys = await inSlices(async () =>
    (await write`
      delete from idempotency_keys where key in (
        select key from idempotency_keys where recorded_at < ${keysBefore}
        limit ${SLICE} for update skip locked
      )`).count
  );

  const [checkpoint] = await read<{ transactionId: string; position: string }[]>`
    select transaction_id::text as "transactionId", position::text as position
    from projection_checkpoints where name = 'commands'`;
  const commandViews = await inSlices(async () =>
    (await read`
      delete from command_view where command_id in (
        select command_id from command_view
        where status in ('APPLIED', 'REJECTED') and handled_at < ${commandsBefore}
        limit ${SLICE} for update skip locked
      )`).count
  );
  const commands = checkpoint
    ? await inSlices(async () =>
      (await write`
        delete from commands where command_id in (
          select command_id from commands
          where handled_at < ${commandsBefore}
            and (transaction_id, position)
              <= (${checkpoint.transactionId}::xid8, ${checkpoint.position}::bigint)
          limit ${SLICE} for update skip locked
        )`).count
    )
    : 0;

  const changes = await inSlices(async () => {
    const [row] = await read<{ removed: number }[]>`
      with pruned as (
        delete from changes where position in (
          select position from changes where at < ${changesBefore}
          order by position limit ${SLICE} for update skip locked
        )
        returning position
      ), moved as (
        update changes_pruned set up_to = greatest(up_to, (select max(position) from pruned))
        where exists (select 1 from pruned)
      )
      select count(*)::int as removed from pruned`;
    return row?.removed ?? 0;
  });

  return { idempotencyKeys, commands, commandViews, changes };
}

/** Options of startPruning(). */
export interface PruningOptions {
  retention: RetentionConfig;
  clock: () => Date;
  /** Receives a line for each prune that removed anything, or failed. */
  log: (line: string) => void;
}

/** Prunes now and then (every retention.pruneIntervalMs) until stopped. */
export function startPruning(
  databases: { write: postgres.Sql; read: postgres.Sql },
  options: PruningOptions,
): { stop(): Promise<void> } {
  let running: Promise<void> = Promise.resolve();
  let lastProblem = "";
  const timer = setInterval(() => {
    running = running.then(async () => {
      try {
        const report = await prune(databases, options.retention, options.clock());
        lastProblem = "";
        const total = report.idempotencyKeys + report.commands + report.commandViews +
          report.changes;
        if (total > 0) {
          options.log(
            `pruned ${report.idempotencyKeys} idempotency keys, ${report.commands} commands, ` +
              `${report.commandViews} command outcomes and ${report.changes} changes past their retention`,
          );
        }
      } catch (error) {
        // The database is away: the next round tries again.
        const problem = messageOf(error);
        if (problem !== lastProblem) options.log(`cannot prune yet: ${problem}`);
        lastProblem = problem;
      }
    });
  }, options.retention.pruneIntervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
