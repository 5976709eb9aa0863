import type postgres from "postgres";
import { changeFeedChannel, changeFeedLock, commandOutcomeChannel } from "@catalog/proto";
import type { RecordedEvent } from "./events.ts";
import type { Clock } from "./handle_command.ts";

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
   * How long the change feed keeps a change before pruning it, in
   * milliseconds. Default CHANGE_FEED_RETENTION_MS (one hour).
   */
  changeRetentionMs?: number;
  /**
   * Projects nothing past these places in the logs: a rebuild stops where
   * the live projection stands. Default: no limit.
   */
  until?: { events: Mark; commands: Mark };
}

/** How long the change feed keeps a change by default: one hour. */
export const CHANGE_FEED_RETENTION_MS = 60 * 60 * 1000;

/** The projector prunes the change feed each time positions pass a multiple of this. */
export const CHANGE_FEED_PRUNE_EVERY = 1000;

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

type Tx = postgres.TransactionSql;

/** A place in a log: rows are ordered by (transaction id, position). */
export interface Mark {
  transactionId: bigint;
  position: bigint;
}

type EventRow = RecordedEvent & Mark;

interface CommandRow extends Mark {
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

/** A row as read, before its place in the log is turned into numbers. */
type Raw<T extends Mark> = Omit<T, "transactionId" | "position"> & {
  transactionId: string;
  position: string;
};

function marked<T extends Mark>(row: Raw<T>): T {
  return {
    ...row,
    transactionId: BigInt(row.transactionId),
    position: BigInt(row.position),
  } as unknown as T;
}

interface Batch {
  events: EventRow[];
  commands: CommandRow[];
  heldBack: boolean;
}

function after(row: Mark, mark: Mark): boolean {
  return row.transactionId > mark.transactionId ||
    (row.transactionId === mark.transactionId && row.position > mark.position);
}

async function checkpoints(sql: postgres.Sql | Tx, lock: boolean) {
  const rows = lock
    ? await sql<{ name: string; transactionId: string; position: string }[]>`
      select name, transaction_id::text as "transactionId", position::text as position
      from projection_checkpoints where name in ('events', 'commands') order by name for update`
    : await sql<{ name: string; transactionId: string; position: string }[]>`
      select name, transaction_id::text as "transactionId", position::text as position
      from projection_checkpoints where name in ('events', 'commands')`;
  const mark = (name: string): Mark => {
    const row = rows.find((candidate) => candidate.name === name);
    if (!row) throw new Error(`Cannot project: the read database has no "${name}" checkpoint`);
    return { transactionId: BigInt(row.transactionId), position: BigInt(row.position) };
  };
  return { events: mark("events"), commands: mark("commands") };
}

/**
 * Reads the next batch from the write database in one repeatable-read
 * snapshot. Only rows of transactions older than the oldest one still
 * running in this database are taken: every such transaction has ended, so
 * no row can later commit in front of the ones taken (a sequence alone would
 * let a late commit of a lower position slip behind the checkpoint). Command
 * outcomes are taken only for transactions whose events are all in this batch
 * or earlier ones, so an outcome never becomes readable before its effects.
 */
function readBatch(
  write: postgres.Sql,
  from: { events: Mark; commands: Mark },
  size: number,
  until?: { events: Mark; commands: Mark },
) {
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

    const eventsFrom = (mark: Mark, end: bigint, limit: number | null) =>
      tx<Raw<EventRow>[]>`
        select position::text as position, transaction_id::text as "transactionId",
          event_id as "eventId", type, aggregate_type as "aggregateType",
          aggregate_id as "aggregateId", aggregate_version as "aggregateVersion", data,
          command_id as "commandId", occurred_at as "occurredAt"
        from events
        where ${past(mark)} and ${before(end)} and ${notPast(until?.events)}
        order by transaction_id, position
        limit ${limit}`;

    // One row more than the batch tells whether the batch ends inside a transaction.
    let events: Raw<EventRow>[] = await eventsFrom(from.events, horizon, size + 1);
    let upTo = horizon;
    if (events.length > size) {
      const next = BigInt(events[size]!.transactionId);
      events = events.slice(0, size);
      const last = BigInt(events[size - 1]!.transactionId);
      if (next !== last) {
        upTo = last + 1n;
      } else {
        // Keep only whole transactions, or all of one that alone outgrows the batch.
        const whole = events.filter((row) => BigInt(row.transactionId) < last);
        if (whole.length > 0) {
          events = whole;
          upTo = last;
        } else {
          events = await eventsFrom(from.events, last + 1n, null);
          upTo = last + 1n;
        }
      }
    }

    const commands = await tx<Raw<CommandRow>[]>`
      select position::text as position, transaction_id::text as "transactionId",
        command_id as "commandId", type, aggregate_id as "aggregateId", status, code, message,
        current_version as "currentVersion", accepted_at as "acceptedAt", handled_at as "handledAt"
      from commands
      where ${past(from.commands)} and ${before(upTo)} and ${notPast(until?.commands)}
      order by transaction_id, position
      limit ${size}`;

    let heldBack = false;
    if (events.length === 0 && commands.length === 0) {
      const [waiting] = await tx<{ waiting: boolean }[]>`
        select exists (select 1 from events where ${past(from.events)})
          or exists (select 1 from commands where ${past(from.commands)}) as waiting`;
      heldBack = waiting?.waiting === true;
    }
    return { events: events.map(marked), commands: commands.map(marked), heldBack };
  });
}

async function adjustProductCount(tx: Tx, categoryId: string, by: number): Promise<void> {
  await tx`update category_view set product_count = product_count + ${by} where id = ${categoryId}`;
}

function inconsistent(event: RecordedEvent, what: string): Error {
  return new Error(
    `Cannot project ${event.type} ${event.eventId} of ${event.aggregateType} ${event.aggregateId}: ${what}`,
  );
}

/** A row of the change feed (the read database's changes table), before it is written. */
interface Change {
  entityType: "CATEGORY" | "PRODUCT";
  entityId: string;
  kind: "CREATED" | "UPDATED" | "DELETED";
  /** The view row after the change, as JSON text. */
  entity: string;
  commandId: string;
}

const changeKinds = {
  CategoryCreated: "CREATED",
  CategoryUpdated: "UPDATED",
  CategoryDeleted: "DELETED",
  ProductCreated: "CREATED",
  ProductUpdated: "UPDATED",
  ProductDeleted: "DELETED",
} as const;

/**
 * Applies one event to category_view and product_view, and answers the
 * change it made: the entity's row after the event, or for a deletion the row
 * as it was with the deletion's version and time. A product's price goes into
 * the JSON as a string, never as a binary float.
 */
async function applyEvent(tx: Tx, event: RecordedEvent): Promise<Change | undefined> {
  const id = event.aggregateId;
  const version = event.aggregateVersion;
  const at = event.occurredAt;
  const category = () => tx`to_jsonb(category_view)::text`;
  const product = () =>
    tx`(to_jsonb(product_view) || jsonb_build_object('price', price::text))::text`;
  const deletion = () =>
    tx`jsonb_build_object('version', ${version}::integer, 'updated_at', ${at}::timestamptz)`;
  let rows: { entity: string }[] = [];
  switch (event.type) {
    case "CategoryCreated":
      rows = await tx<{ entity: string }[]>`
        insert into category_view (id, name, product_count, version, created_at, updated_at)
        values (${id}, ${event.data.name}, 0, ${version}, ${at}, ${at})
        returning ${category()} as entity`;
      break;
    case "CategoryUpdated":
      rows = await tx<{ entity: string }[]>`
        update category_view set name = ${event.data.name}, version = ${version}, updated_at = ${at}
        where id = ${id}
        returning ${category()} as entity`;
      await tx`update product_view set category_name = ${event.data.name} where category_id = ${id}`;
      break;
    case "CategoryDeleted":
      rows = await tx<{ entity: string }[]>`
        delete from category_view where id = ${id}
        returning (to_jsonb(category_view) || ${deletion()})::text as entity`;
      break;
    case "ProductCreated": {
      const { name, price, categoryId } = event.data;
      rows = await tx<{ entity: string }[]>`
        insert into product_view (
          id, name, price, category_id, category_name, version, created_at, updated_at
        )
        select ${id}, ${name}, ${price}, c.id, c.name, ${version}, ${at}, ${at}
        from category_view c where c.id = ${categoryId}
        returning ${product()} as entity`;
      if (rows.length === 0) {
        throw inconsistent(event, `category ${categoryId} is not in the view`);
      }
      await adjustProductCount(tx, categoryId, 1);
      break;
    }
    case "ProductUpdated": {
      const { name, price, categoryId } = event.data;
      const [before] = await tx<{ categoryId: string }[]>`
        select category_id as "categoryId" from product_view where id = ${id} for update`;
      if (!before) throw inconsistent(event, "the product is not in the view");
      rows = await tx<{ entity: string }[]>`
        update product_view set
          name = ${name}, price = ${price}, category_id = c.id, category_name = c.name,
          version = ${version}, updated_at = ${at}
        from category_view c
        where product_view.id = ${id} and c.id = ${categoryId}
        returning ${product()} as entity`;
      if (rows.length === 0) {
        throw inconsistent(event, `category ${categoryId} is not in the view`);
      }
      if (before.categoryId !== categoryId) {
        await adjustProductCount(tx, before.categoryId, -1);
        await adjustProductCount(tx, categoryId, 1);
      }
      break;
    }
    case "ProductDeleted": {
      const [deleted] = await tx<{ categoryId: string; entity: string }[]>`
        delete from product_view where id = ${id}
        returning category_id as "categoryId",
          (to_jsonb(product_view) || jsonb_build_object('price', price::text) || ${deletion()})::text
            as entity`;
      if (deleted) await adjustProductCount(tx, deleted.categoryId, -1);
      rows = deleted ? [deleted] : [];
      break;
    }
  }
  const [row] = rows;
  if (!row) return undefined;
  return {
    entityType: event.aggregateType === "category" ? "CATEGORY" : "PRODUCT",
    entityId: id,
    kind: changeKinds[event.type],
    entity: row.entity,
    commandId: event.commandId,
  };
}

/**
 * Appends the changes to the change feed and announces them on
 * changeFeedChannel. The lock (see 004_change_feed.sql) makes positions
 * commit in order; it is taken last, so the transaction holds it only while it
 * commits. Every CHANGE_FEED_PRUNE_EVERY positions, changes older than the
 * retention are pruned.
 */
async function appendChanges(tx: Tx, changes: Change[], retentionMs: number): Promise<void> {
  if (changes.length === 0) return;
  await tx`select pg_advisory_xact_lock(${changeFeedLock})`;
  const [appended] = await tx<{ first: string; last: string }[]>`
    with appended as (
      insert into changes (entity_type, entity_id, kind, entity, command_id)
      select entity_type, entity_id, kind, entity::jsonb, command_id
      from unnest(
        ${changes.map((change) => change.entityType)}::text[],
        ${changes.map((change) => change.entityId)}::uuid[],
        ${changes.map((change) => change.kind)}::text[],
        ${changes.map((change) => change.entity)}::text[],
        ${changes.map((change) => change.commandId)}::uuid[]
      ) with ordinality as change (entity_type, entity_id, kind, entity, command_id, ordinality)
      order by ordinality
      returning position
    )
    select min(position)::text as first, max(position)::text as last from appended`;
  await tx`select pg_notify(${changeFeedChannel}, '')`;
  // Whether the positions just taken passed a multiple of CHANGE_FEED_PRUNE_EVERY.
  const every = BigInt(CHANGE_FEED_PRUNE_EVERY);
  if ((BigInt(appended!.first) - 1n) / every !== BigInt(appended!.last) / every) {
    await tx`
      with pruned as (
        delete from changes
        where at < now() - make_interval(secs => ${retentionMs / 1000})
        returning position
      )
      update changes_pruned set up_to = greatest(up_to, (select max(position) from pruned))
      where exists (select 1 from pruned)`;
  }
}

/**
 * Applies a batch to the read database in one transaction. The checkpoint rows
 * are locked first, which serialises concurrent projectors; rows another
 * projector applied meanwhile are skipped. Each command made readable is
 * announced on the commandOutcomeChannel when the transaction commits, and
 * each event's change is appended to the change feed in the same transaction.
 */
async function applyBatch(read: postgres.Sql, batch: Batch, now: Date, retentionMs: number) {
  return await read.begin(async (tx) => {
    const from = await checkpoints(tx, true);
    const events = batch.events.filter((row) => after(row, from.events));
    const commands = batch.commands.filter((row) => after(row, from.commands));

    const changes: Change[] = [];
    for (const event of events) {
      const change = await applyEvent(tx, event);
      if (change) changes.push(change);
    }
    const lastEvent = events.at(-1);
    if (lastEvent) {
      await tx`
        update projection_checkpoints
        set transaction_id = ${String(lastEvent.transactionId)}::xid8,
          position = ${String(lastEvent.position)}, updated_at = ${now}
        where name = 'events'`;
    }

    const lastCommand = commands.at(-1);
    if (lastCommand) {
      const rows = commands.map((row) => ({
        command_id: row.commandId,
        type: row.type,
        aggregate_id: row.aggregateId,
        status: row.status,
        code: row.code,
        message: row.message,
        current_version: row.currentVersion,
        accepted_at: row.acceptedAt,
        handled_at: row.handledAt,
      }));
      // The write model's outcome is the truth: it replaces whatever row the
      // command has here, ACCEPTED (seen, not handled yet) or FAILED (dead-
      // lettered, then replayed), column by column, so nothing stale remains.
      await tx`
        insert into command_view ${tx(rows)}
        on conflict (command_id) do update set
          type = excluded.type, aggregate_id = excluded.aggregate_id, status = excluded.status,
          code = excluded.code, message = excluded.message,
          current_version = excluded.current_version, accepted_at = excluded.accepted_at,
          handled_at = excluded.handled_at`;
      await tx`
        update projection_checkpoints
        set transaction_id = ${String(lastCommand.transactionId)}::xid8,
          position = ${String(lastCommand.position)}, updated_at = ${now}
        where name = 'commands'`;
      const ids = commands.map((row) => row.commandId);
      await tx`select pg_notify(${commandOutcomeChannel}, id) from unnest(${ids}::text[]) as id`;
    }
    await appendChanges(tx, changes, retentionMs);
    return { events: events.length, commands: commands.length };
  });
}

/**
 * Brings the read database up to date with the write database's event and
 * command logs, batch by batch, until nothing projectable is left. Idempotent
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
  const retentionMs = options.changeRetentionMs ?? CHANGE_FEED_RETENTION_MS;
  const report: ProjectionReport = { events: 0, commands: 0, heldBack: false };
  while (true) {
    const from = await checkpoints(databases.read, false);
    const batch = await readBatch(databases.write, from, size, options.until);
    if (batch.events.length === 0 && batch.commands.length === 0) {
      report.heldBack = batch.heldBack;
      return report;
    }
    const applied = await applyBatch(databases.read, batch, clock(), retentionMs);
    report.events += applied.events;
    report.commands += applied.commands;
  }
}
