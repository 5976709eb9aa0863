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
   * Projects nothing past these places in the logs: a rebuild stops where
   * the live projection stands. Default: no limit.
   */
  until?: { events: Mark; commands: Mark };
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
  /** Whether projectable rows may be left after this batch (it was cut at its size). */
  more: boolean;
  /** Whether committed rows wait behind a write transaction still open. */
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
        order by transaction_id, events.position
        limit ${limit}`;

    // One row more than the batch tells whether the batch ends inside a transaction.
    let events: Raw<EventRow>[] = await eventsFrom(from.events, horizon, size + 1);
    let upTo = horizon;
    const more = events.length > size;
    if (more) {
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

    const [commands, [waiting]] = await Promise.all([
      tx<Raw<CommandRow>[]>`
      select position::text as position, transaction_id::text as "transactionId",
        command_id as "commandId", type, aggregate_id as "aggregateId", status, code, message,
        current_version as "currentVersion", accepted_at as "acceptedAt", handled_at as "handledAt"
      from commands
      where ${past(from.commands)} and ${before(upTo)} and ${notPast(until?.commands)}
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
      events: events.map(marked),
      commands: commands.map(marked),
      more: more || commands.length >= size,
      heldBack: waiting?.waiting === true,
    };
  });
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

/** Events that one statement applies: of one aggregate type, at most one per aggregate. */
interface Step {
  aggregateType: RecordedEvent["aggregateType"];
  /** The events, with their places in the batch. */
  events: { at: number; event: RecordedEvent }[];
}

/**
 * Splits a batch's events into steps, each applied by one statement, so that
 * every view row and every change's row end up as applying the events one by
 * one would. The batch is cut into windows, runs of consecutive events of one
 * aggregate type. Within a window, events of different aggregates commute:
 * product events read of category_view only names and existence, which only
 * category events change, and a category event touches only its own row and
 * its products' category name. So only each aggregate's own order matters: a
 * window's first step holds each aggregate's first event in the window, the
 * second step each one's second, and so on. The product counts a window moves
 * are read (in a category's change) only after it.
 */
function stepsOf(events: readonly RecordedEvent[]): Step[] {
  const steps: Step[] = [];
  let window: Step[] = [];
  let seen = new Map<string, number>();
  events.forEach((event, at) => {
    if (window[0] && window[0].aggregateType !== event.aggregateType) {
      steps.push(...window);
      window = [];
      seen = new Map();
    }
    const layer = seen.get(event.aggregateId) ?? 0;
    seen.set(event.aggregateId, layer + 1);
    (window[layer] ??= { aggregateType: event.aggregateType, events: [] }).events.push({
      at,
      event,
    });
  });
  steps.push(...window);
  return steps;
}

/** What a step's statement answers for each of its events, in order. */
interface StepRow {
  /** The event's place in the step, from 1. */
  index: number;
  /** The event's change as changeOf() describes it, or null if it changed no row. */
  entity: string | null;
  /** Of a product event: whether the product was in the view before it. */
  found?: boolean;
}

/**
 * Applies one step's product events in one statement: inserts, updates and
 * deletes product_view rows, moves the categories' product counts by the
 * net of the step, and answers each event's change. The statistics triggers
 * see the statement's rows at once, which leaves the figures as the events
 * one by one would.
 */
function applyProductStep(tx: Tx, step: Step): postgres.PendingQuery<StepRow[]> {
  const data = step.events.map(({ event }) =>
    event.type === "ProductCreated" || event.type === "ProductUpdated" ? event.data : undefined
  );
  return tx<StepRow[]>`
    with input as (
      select type, id, name, price, category_id, version, at::timestamptz as at, index
      from unnest(
        ${step.events.map(({ event }) => event.type)}::text[],
        ${step.events.map(({ event }) => event.aggregateId)}::uuid[],
        ${data.map((fields) => fields?.name ?? null)}::text[],
        ${data.map((fields) => fields?.price ?? null)}::numeric[],
        ${data.map((fields) => fields?.categoryId ?? null)}::uuid[],
        ${step.events.map(({ event }) => event.aggregateVersion)}::integer[],
        ${step.events.map(({ event }) => event.occurredAt.toISOString())}::text[]
      ) with ordinality as input (type, id, name, price, category_id, version, at, index)
    ),
    before as (
      select p.id, p.category_id from product_view p join input i on i.id = p.id
      where i.type <> 'ProductCreated'
    ),
    created as (
      insert into product_view as p (
        id, name, price, category_id, category_name, version, created_at, updated_at
      )
      select i.id, i.name, i.price, c.id, c.name, i.version, i.at, i.at
      from input i join category_view c on c.id = i.category_id
      where i.type = 'ProductCreated'
      order by i.index
      returning p.id, p.category_id,
        (to_jsonb(p) || jsonb_build_object('price', p.price::text))::text as entity
    ),
    updated as (
      update product_view p set
        name = i.name, price = i.price, category_id = c.id, category_name = c.name,
        version = i.version, updated_at = i.at
      from input i join category_view c on c.id = i.category_id
      where i.type = 'ProductUpdated' and p.id = i.id
      returning p.id, p.category_id,
        (to_jsonb(p) || jsonb_build_object('price', p.price::text))::text as entity
    ),
    deleted as (
      delete from product_view p using input i
      where i.type = 'ProductDeleted' and p.id = i.id
      returning p.id, p.category_id,
        (to_jsonb(p) || jsonb_build_object('price', p.price::text)
          || jsonb_build_object('version', i.version, 'updated_at', i.at))::text as entity
    ),
    counted as (
      update category_view c set product_count = c.product_count + moved.by
      from (
        select category_id, sum(by)::integer as by from (
          select category_id, 1 as by from created
          union all
          select u.category_id, 1 from updated u join before b on b.id = u.id
          where b.category_id <> u.category_id
          union all
          select b.category_id, -1 from updated u join before b on b.id = u.id
          where b.category_id <> u.category_id
          union all
          select category_id, -1 from deleted
        ) as moves
        group by category_id
      ) as moved
      where c.id = moved.category_id and moved.by <> 0
    )
    select i.index::integer as index,
      coalesce(created.entity, updated.entity, deleted.entity) as entity,
      before.id is not null as found
    from input i
      left join created on i.type = 'ProductCreated' and created.id = i.id
      left join updated on i.type = 'ProductUpdated' and updated.id = i.id
      left join deleted on i.type = 'ProductDeleted' and deleted.id = i.id
      left join before on before.id = i.id
    order by i.index`;
}

/**
 * Applies one step's category events in one statement: inserts, updates and
 * deletes category_view rows, renames the category of the products of a
 * renamed one, and answers each event's change.
 */
function applyCategoryStep(tx: Tx, step: Step): postgres.PendingQuery<StepRow[]> {
  const names = step.events.map(({ event }) =>
    event.type === "CategoryCreated" || event.type === "CategoryUpdated" ? event.data.name : null
  );
  return tx<StepRow[]>`
    with input as (
      select type, id, name, version, at::timestamptz as at, index
      from unnest(
        ${step.events.map(({ event }) => event.type)}::text[],
        ${step.events.map(({ event }) => event.aggregateId)}::uuid[],
        ${names}::text[],
        ${step.events.map(({ event }) => event.aggregateVersion)}::integer[],
        ${step.events.map(({ event }) => event.occurredAt.toISOString())}::text[]
      ) with ordinality as input (type, id, name, version, at, index)
    ),
    created as (
      insert into category_view as c (id, name, product_count, version, created_at, updated_at)
      select id, name, 0, version, at, at from input
      where type = 'CategoryCreated'
      order by index
      returning c.id, to_jsonb(c)::text as entity
    ),
    updated as (
      update category_view c set name = i.name, version = i.version, updated_at = i.at
      from input i
      where i.type = 'CategoryUpdated' and c.id = i.id
      returning c.id, to_jsonb(c)::text as entity
    ),
    renamed as (
      update product_view p set category_name = i.name
      from input i
      where i.type = 'CategoryUpdated' and p.category_id = i.id
    ),
    deleted as (
      delete from category_view c using input i
      where i.type = 'CategoryDeleted' and c.id = i.id
      returning c.id,
        (to_jsonb(c) || jsonb_build_object('version', i.version, 'updated_at', i.at))::text
          as entity
    )
    select i.index::integer as index,
      coalesce(created.entity, updated.entity, deleted.entity) as entity
    from input i
      left join created on i.type = 'CategoryCreated' and created.id = i.id
      left join updated on i.type = 'CategoryUpdated' and updated.id = i.id
      left join deleted on i.type = 'CategoryDeleted' and deleted.id = i.id
    order by i.index`;
}

/**
 * The change an event made, from what its step answered: the entity's row
 * after the event, or for a deletion the row as it was with the deletion's
 * version and time (a product's price as a string, never a binary float); no
 * change if it changed nothing; or the error that the read database does not
 * hold what the event needs.
 */
function changeOf(event: RecordedEvent, row: StepRow): Change | Error | undefined {
  if (row.entity === null) {
    switch (event.type) {
      case "ProductCreated":
        return inconsistent(event, `category ${event.data.categoryId} is not in the view`);
      case "ProductUpdated":
        return row.found
          ? inconsistent(event, `category ${event.data.categoryId} is not in the view`)
          : inconsistent(event, "the product is not in the view");
      default:
        return undefined;
    }
  }
  return {
    entityType: event.aggregateType === "category" ? "CATEGORY" : "PRODUCT",
    entityId: event.aggregateId,
    kind: changeKinds[event.type],
    entity: row.entity,
    commandId: event.commandId,
  };
}

/**
 * The most statements sent on a transaction's connection before waiting for
 * their answers. postgres.js sends a transaction's statements without waiting
 * for each only until one is new to the connection (it waits for its
 * description), more than 100 are unanswered or the socket is full; after
 * that it sends one at a time until none is left. Slices of this size keep
 * the usual case, a few statements known to the connection, at one round trip.
 */
const PIPELINE_DEPTH = 50;

/** Sends the statements in order, a slice at a time, and waits for all of them. */
async function pipelined(statements: readonly PromiseLike<unknown>[]): Promise<void> {
  for (let start = 0; start < statements.length; start += PIPELINE_DEPTH) {
    await Promise.all(statements.slice(start, start + PIPELINE_DEPTH));
  }
}

/**
 * Appends the changes to the change feed and announces them on
 * changeFeedChannel. The lock (see 004_change_feed.sql) makes positions
 * commit in order; it is taken last, so the transaction holds it only while it
 * commits. The pruner (retention.ts) removes them once they are old.
 */
async function appendChanges(tx: Tx, changes: Change[]): Promise<void> {
  if (changes.length === 0) return;
  const locked = tx`select pg_advisory_xact_lock(${changeFeedLock})`;
  const appending = tx`
    insert into changes (entity_type, entity_id, kind, entity, command_id)
    select entity_type, entity_id, kind, entity.value::jsonb, command_id
    from unnest(
      ${changes.map((change) => change.entityType)}::text[],
      ${changes.map((change) => change.entityId)}::uuid[],
      ${changes.map((change) => change.kind)}::text[],
      ${changes.map((change) => change.commandId)}::uuid[]
    ) with ordinality as change (entity_type, entity_id, kind, command_id, ordinality)
    -- The rows' JSON texts come as one JSON array of strings: quicker to write than an array.
    join jsonb_array_elements_text(
      (${JSON.stringify(changes.map((change) => change.entity))}::text)::jsonb
    ) with ordinality as entity (value, ordinality) using (ordinality)
    order by ordinality`;
  const notified = tx`select pg_notify(${changeFeedChannel}, '')`;
  await pipelined([locked, appending, notified]);
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
    const from = await checkpoints(tx, true);
    const events = batch.events.filter((row) => after(row, from.events));
    const commands = batch.commands.filter((row) => after(row, from.commands));

    const steps = stepsOf(events);
    const applying = steps.map((step) =>
      step.aggregateType === "category" ? applyCategoryStep(tx, step) : applyProductStep(tx, step)
    );
    const statements: PromiseLike<unknown>[] = [...applying];

    const advanced = [
      { name: "events", last: events.at(-1) },
      { name: "commands", last: commands.at(-1) },
    ].flatMap(({ name, last }) => last ? [{ name, last }] : []);
    if (advanced.length > 0) {
      statements.push(tx`
        update projection_checkpoints c
        set transaction_id = m.transaction_id::xid8, position = m.position, updated_at = ${now}
        from unnest(
          ${advanced.map(({ name }) => name)}::text[],
          ${advanced.map(({ last }) => String(last.transactionId))}::text[],
          ${advanced.map(({ last }) => String(last.position))}::bigint[]
        ) as m (name, transaction_id, position)
        where c.name = m.name`);
    }

    if (commands.length > 0) {
      // The write model's outcome is the truth: it replaces whatever row the
      // command has here, ACCEPTED (seen, not handled yet) or FAILED (dead-
      // lettered, then replayed), column by column, so nothing stale remains.
      statements.push(tx`
        insert into command_view (
          command_id, type, aggregate_id, status, code, message, current_version, accepted_at,
          handled_at
        )
        select command_id, type, aggregate_id, status, code, message, current_version,
          accepted_at::timestamptz, handled_at::timestamptz
        from unnest(
          ${commands.map((row) => row.commandId)}::uuid[],
          ${commands.map((row) => row.type)}::text[],
          ${commands.map((row) => row.aggregateId)}::uuid[],
          ${commands.map((row) => row.status)}::text[],
          ${commands.map((row) => row.code)}::text[],
          ${commands.map((row) => row.message)}::text[],
          ${commands.map((row) => row.currentVersion)}::integer[],
          ${commands.map((row) => row.acceptedAt.toISOString())}::text[],
          ${commands.map((row) => row.handledAt.toISOString())}::text[]
        ) with ordinality as row (
          command_id, type, aggregate_id, status, code, message, current_version, accepted_at,
          handled_at, ordinality
        )
        order by ordinality
        on conflict (command_id) do update set
          type = excluded.type, aggregate_id = excluded.aggregate_id, status = excluded.status,
          code = excluded.code, message = excluded.message,
          current_version = excluded.current_version, accepted_at = excluded.accepted_at,
          handled_at = excluded.handled_at`);
      const ids = commands.map((row) => row.commandId);
      statements.push(
        tx`select pg_notify(${commandOutcomeChannel}, id) from unnest(${ids}::text[]) as id`,
      );
    }
    await pipelined(statements);

    // Every statement has run; the first event the read database could not
    // take, in the batch's order, fails the batch.
    const outcomes: (Change | Error | undefined)[] = new Array(events.length);
    for (const [index, step] of steps.entries()) {
      for (const row of await applying[index]!) {
        const { at, event } = step.events[row.index - 1]!;
        outcomes[at] = changeOf(event, row);
      }
    }
    const changes: Change[] = [];
    for (const outcome of outcomes) {
      if (outcome instanceof Error) throw outcome;
      if (outcome) changes.push(outcome);
    }
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
    const from = await checkpoints(databases.read, false);
    const batch = await readBatch(databases.write, from, size, options.until);
    if (batch.events.length === 0 && batch.commands.length === 0) {
      report.heldBack = batch.heldBack;
      return report;
    }
    const applied = await applyBatch(databases.read, batch, clock());
    report.events += applied.events;
    report.commands += applied.commands;
    // A batch not cut at its size took everything projectable when it was read.
    if (!batch.more) {
      report.heldBack = batch.heldBack;
      return report;
    }
  }
}
