/**
 * The projector: brings the read database's views (categories, products,
 * command outcomes, the change feed) up to date with the write database's
 * event and command logs. Its parts are in project/: reading the logs
 * (read_batch.ts), one file per read model, and the checkpoints.
 */
import type postgres from "postgres";
import type { Clock } from "./handle_command.ts";
import { appendChanges } from "./project/change_feed.ts";
import { changesOf } from "./project/change_of.ts";
import { applyCategoryStep } from "./project/category_view.ts";
import { advanceCheckpoints, readCheckpoints } from "./project/checkpoints.ts";
import { writeCommandView } from "./project/command_view.ts";
import { after, type Mark } from "./project/mark.ts";
import { pipelined } from "./project/pipelined.ts";
import { applyProductStep } from "./project/product_view.ts";
import { type Batch, readBatch } from "./project/read_batch.ts";
import { stepsOf } from "./project/steps.ts";

export type { Mark } from "./project/mark.ts";

/** The two pools the projector reads from and writes to. */
export interface ProjectDatabases {
  write: postgres.Sql;
  read: postgres.Sql;
}

/** Options of project(). */
export interface ProjectOptions {
  /** How many rows of each log one round reads. Default 1000. */
  batchSize?: number;
  /** Stamps the checkpoints' updated_at. Default: the system clock. */
  clock?: Clock;
  /**
   * Projects nothing past these places in the logs: a rebuild stops where
   * the live projection stands. Default: no limit.
   */
  until?: { events: Mark; commands: Mark };
  /** Told of each batch applied: its events, its command outcomes, and how long it took. */
  onBatch?: (batch: { events: number; commands: number; seconds: number }) => void;
}

/** What one call of project() did. */
export interface ProjectionReport {
  /** Events applied to the views by this call. */
  events: number;
  /** Command outcomes made readable by this call. */
  commands: number;
  /**
   * Whether committed rows are waiting behind an older write transaction that
   * is still open; they become projectable once it ends, so project again soon.
   */
  heldBack: boolean;
}

/**
 * Applies a batch to the read database in one transaction. The checkpoint rows
 * are locked first, which serialises concurrent projectors; rows another
 * projector applied meanwhile are skipped. The events are applied a step at a
 * time (see stepsOf()), each step one statement, and the statements, the
 * checkpoints' advance and the command outcomes are sent together without
 * waiting for each (see pipelined()), so a batch costs a few round trips
 * whatever its size. Each command made readable is announced on the
 * commandOutcomeChannel when the transaction commits, and each event's change
 * is appended to the change feed, in the events' order, in the same
 * transaction.
 */
async function applyBatch(read: postgres.Sql, batch: Batch, now: Date) {
  return await read.begin(async (tx) => {
    const from = await readCheckpoints(tx, { lock: true });
    const events = batch.events.filter((row) => after(row, from.events));
    const commands = batch.commands.filter((row) => after(row, from.commands));

    const steps = stepsOf(events);
    const applying = steps.map((step) =>
      step.aggregateType === "category" ? applyCategoryStep(tx, step) : applyProductStep(tx, step)
    );
    const advancing = advanceCheckpoints(tx, {
      events: events.at(-1),
      commands: commands.at(-1),
      at: now,
    });
    await pipelined([
      ...applying,
      ...(advancing ? [advancing] : []),
      ...writeCommandView(tx, commands),
    ]);

    // Every statement has run; the first event the read database could not
    // take, in the batch's order, fails the batch.
    const changes = changesOf(steps, await Promise.all(applying));
    await appendChanges(tx, changes);
    return { events: events.length, commands: commands.length };
  });
}

/**
 * Brings the read database up to date with the write database's event and
 * command logs, batch by batch, until it has taken every row that was
 * projectable when it started: a batch not cut at its size ends it. Idempotent
 * and resumable: the checkpoints advance in the same transaction as the views,
 * so running it twice, or from two processes at once, applies each row once.
 */
export async function project(
  databases: ProjectDatabases,
  options: ProjectOptions = {},
): Promise<ProjectionReport> {
  const size = options.batchSize ?? 1000;
  if (!Number.isInteger(size) || size < 1) {
    throw new RangeError(`Cannot project: batchSize must be a positive integer, not ${size}`);
  }
  const clock = options.clock ?? (() => new Date());
  const report: ProjectionReport = { events: 0, commands: 0, heldBack: false };
  while (true) {
    const started = performance.now();
    const from = await readCheckpoints(databases.read);
    const batch = await readBatch(databases.write, { from, size, until: options.until });
    if (batch.events.length === 0 && batch.commands.length === 0) {
      report.heldBack = batch.heldBack;
      return report;
    }
    const applied = await applyBatch(databases.read, batch, clock());
    options.onBatch?.({ ...applied, seconds: (performance.now() - started) / 1000 });
    report.events += applied.events;
    report.commands += applied.commands;
    // A batch not cut at its size took everything projectable when it was read.
    if (!batch.more) {
      report.heldBack = batch.heldBack;
      return report;
    }
  }
}
