import type postgres from "postgres";
import type { RecordedEvent } from "../events.ts";
import type { Checkpoints } from "./checkpoints.ts";
import { type Mark, marked, type Raw } from "./mark.ts";
import { wholeTransactions } from "./whole_transactions.ts";

/** An event of the log, with its place in it. */
export type EventRow = RecordedEvent & Mark;

/** An event row as read, without the traceparent key when the event has none. */
function withoutNullTrace(row: EventRow): EventRow {
  if (row.traceparent !== null && row.traceparent !== undefined) return row;
  const { traceparent: _none, ...rest } = row;
  return rest as EventRow;
}

/** A command outcome of the log, with its place in it. */
export interface CommandRow extends Mark {
  commandId: string;
  type: string;
  aggregateId: string;
  status: string;
  code: string;
  message: string;
  /** For VERSION_CONFLICT: the version the entity was at. */
  currentVersion: number | null;
  acceptedAt: Date;
  handledAt: Date;
}

/** Rows of the write database's logs to project together. */
export interface Batch {
  events: EventRow[];
  commands: CommandRow[];
  /** Whether projectable rows may be left after this batch (it was cut at its size). */
  more: boolean;
  /** Whether committed rows wait behind a write transaction still open. */
  heldBack: boolean;
}

/** Options of readBatch(). */
export interface ReadBatchOptions {
  /** Rows after these places are read. */
  from: Checkpoints;
  /** The most rows of each log to read, but for a transaction that alone outgrows it. */
  size: number;
  /** Reads nothing past these places. Default: no limit. */
  until?: Checkpoints;
}

/**
 * Reads the next batch from the write database in one repeatable-read
 * snapshot. Only rows of transactions older than the oldest one still
 * running in this database are taken: every such transaction has ended, so
 * no row can later commit in front of the ones taken (a sequence alone would
 * let a late commit of a lower position slip behind the checkpoint). Only
 * whole transactions are taken (see wholeTransactions()). Command outcomes
 * are taken only for transactions whose events are all in this batch or
 * earlier ones, so an outcome never becomes readable before its effects.
 */
export function readBatch(write: postgres.Sql, options: ReadBatchOptions): Promise<Batch> {
  const { from, size, until } = options;
  return write.begin("isolation level repeatable read read only", async (tx): Promise<Batch> => {
    // The oldest transaction still running in this database (or, with none,
    // the snapshot's xmax). Transactions of other databases on the server
    // cannot write here, so they hold nothing back.
    const [snapshot] = await tx<{ horizon: string }[]>`
      select coalesce(
        (
          select min(running) from pg_snapshot_xip(snapshot) as running
          where not exists (
            select 1 from pg_stat_activity
            where datname is distinct from current_database()
              and backend_xid = (running::text::numeric % 4294967296)::text::xid
          )
        ),
        pg_snapshot_xmax(snapshot)
      )::text as horizon
      from pg_current_snapshot() as snapshot`;
    const horizon = BigInt(snapshot!.horizon);
    const past = (mark: Mark) =>
      tx`(transaction_id, position) > (${mark.transactionId.toString()}::xid8, ${mark.position.toString()})`;
    const before = (transactionId: bigint) =>
      tx`transaction_id < ${transactionId.toString()}::xid8`;
    const notPast = (mark: Mark | undefined) =>
      mark
        ? tx`(transaction_id, position) <= (${mark.transactionId.toString()}::xid8, ${mark.position.toString()})`
        : tx`true`;

    const eventsFrom = async (mark: Mark, end: bigint, limit: number | null) =>
      (await tx<Raw<EventRow>[]>`
        select position::text as position, transaction_id::text as "transactionId",
          event_id as "eventId", type, aggregate_type as "aggregateType",
          aggregate_id as "aggregateId", aggregate_version as "aggregateVersion", data,
          command_id as "commandId", occurred_at as "occurredAt", traceparent
        from events
        where ${past(mark)} and ${before(end)} and ${notPast(until?.events)}
        order by transaction_id, events.position
        limit ${limit}`).map((row) => withoutNullTrace(marked(row)));

    // One row more than the batch tells whether the batch ends inside a transaction.
    const read = await eventsFrom(from.events, horizon, size + 1);
    const end = wholeTransactions(read, { size, horizon });
    const events = end.rows ?? await eventsFrom(from.events, end.upTo, null);

    const [commands, [waiting]] = await Promise.all([
      tx<Raw<CommandRow>[]>`
      select position::text as position, transaction_id::text as "transactionId",
        command_id as "commandId", type, aggregate_id as "aggregateId", status, code, message,
        current_version as "currentVersion", accepted_at as "acceptedAt", handled_at as "handledAt"
      from commands
      where ${past(from.commands)} and ${before(end.upTo)} and ${notPast(until?.commands)}
      order by transaction_id, commands.position
      limit ${size}`,
      // Rows the horizon keeps out of this batch, sent in the same round trip.
      tx<{ waiting: boolean }[]>`
        select exists (
          select 1 from events where ${past(from.events)} and not ${before(horizon)}
        ) or exists (
          select 1 from commands where ${past(from.commands)} and not ${before(horizon)}
        ) as waiting`,
    ]);
    return {
      events,
      commands: commands.map(marked),
      more: read.length > size || commands.length >= size,
      heldBack: waiting?.waiting === true,
    };
  });
}
