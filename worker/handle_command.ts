import type postgres from "postgres";
import type { CommandEnvelope } from "@catalog/proto";
import {
  type CategoryState,
  type Command,
  decide,
  type DecisionState,
  type ProductState,
  type RejectionCode,
} from "./decide.ts";
import type { DomainEvent, RecordedEvent } from "./events.ts";

/** Answers the current time; injected so tests are deterministic. */
export type Clock = () => Date;

/** Options of handleCommand(). */
export interface HandleCommandOptions {
  /** Stamps handled_at, occurred_at and the entity's timestamps. Default: the system clock. */
  clock?: Clock;
}

/**
 * Why a command was refused: by the catalog's rules (decide()), or because
 * its idempotency key already names a different request.
 */
export interface CommandRejection {
  code: RejectionCode | "IDEMPOTENCY_KEY_REUSED";
  message: string;
  /** For VERSION_CONFLICT: the version the entity is at; recorded as current_version. */
  currentVersion?: number;
}

/** What handling a command did. */
export type CommandOutcome =
  | { status: "APPLIED"; events: RecordedEvent[] }
  | { status: "REJECTED"; rejection: CommandRejection }
  /** The command id was handled before; nothing was done this time. */
  | { status: "DUPLICATE"; previous: { status: "APPLIED" | "REJECTED"; code: string } };

type Tx = postgres.TransactionSql;

/** Another transaction recorded the same command id while this one was deciding. */
class ConcurrentDuplicate extends Error {}

/**
 * Handles one command in one write-database transaction: skips it if its id
 * was seen before, refuses it if its idempotency key names a different
 * command, loads what the decision needs, decides, writes the entity, appends
 * the events and records the outcome. A rejection is an outcome, not an
 * error; errors are faults (the database, a bug) and roll everything back.
 *
 * Commands for different entities run side by side. The projector reads the
 * logs in transaction-id order, and a transaction gets its id at its first
 * write, not when it commits; so a transaction must never depend on one with
 * a higher id. Two rules make that hold:
 *
 * 1. Before anything else, the transaction takes an advisory lock on each
 *    thing its decision reads and another command could change (see
 *    lockKeys()), in one global order, so two commands that touch the same
 *    entity, name or idempotency key run one after the other, and no two
 *    wait on each other in a cycle.
 * 2. It reads everything it needs before its first write, so any transaction
 *    whose rows it read had committed, and so had its id, before this one
 *    gets its own.
 *
 * Two deliveries of one command lock the same aggregate, so the second sees
 * the first's outcome instead of its writes.
 */
export async function handleCommand(
  sql: postgres.Sql,
  envelope: CommandEnvelope,
  options: HandleCommandOptions = {},
): Promise<CommandOutcome> {
  const clock = options.clock ?? (() => new Date());
  try {
    return await sql.begin(async (tx) => {
      await lock(tx, lockKeys(envelope));
      const previous = await previousOutcome(tx, envelope.commandId);
      if (previous) return { status: "DUPLICATE", previous } as const;

      const now = clock();
      const keyOwner = await idempotencyKeyOwner(tx, envelope);
      const decision = keyOwner === undefined ? await loadAndDecide(tx, envelope) : undefined;

      // Every read is done: the first write below gives the transaction its id.
      if (keyOwner === undefined) await recordIdempotencyKey(tx, envelope, now);
      const outcome: CommandOutcome = keyOwner !== undefined
        ? { status: "REJECTED", rejection: keyReused(envelope, keyOwner) }
        : "rejection" in decision!.decision
        ? { status: "REJECTED", rejection: decision!.decision.rejection }
        : {
          status: "APPLIED",
          events: await recordEvents(
            tx,
            envelope,
            decision!.decision.events,
            decision!.version,
            now,
          ),
        };

      const rejection = outcome.status === "REJECTED" ? outcome.rejection : undefined;
      const inserted = await tx`
        insert into commands (
          command_id, type, aggregate_id, status, code, message, current_version, envelope,
          accepted_at, handled_at
        ) values (
          ${envelope.commandId}, ${envelope.type}, ${envelope.aggregateId}, ${outcome.status},
          ${rejection?.code ?? ""}, ${rejection?.message ?? ""}, ${
        rejection?.currentVersion ?? null
      },
          ${tx.json(envelope as unknown as postgres.JSONValue)}, ${envelope.issuedAt}, ${now}
        )
        on conflict (command_id) do nothing
        returning command_id`;
      if (inserted.length === 0) throw new ConcurrentDuplicate();
      return outcome;
    });
  } catch (error) {
    if (!(error instanceof ConcurrentDuplicate)) throw error;
    const previous = await previousOutcome(sql, envelope.commandId);
    if (!previous) throw new Error(`Cannot handle command ${envelope.commandId}: it vanished`);
    return { status: "DUPLICATE", previous };
  }
}

/**
 * What a command's decision reads that another command could change, as lock
 * keys: the entity it addresses, the category a product goes to, the category
 * name it claims (names are unique regardless of case) and its idempotency
 * key. A product update that keeps its category reads that category without
 * locking it: while the product is in it, the category cannot be deleted, and
 * renaming it changes nothing the update reads.
 */
export function lockKeys(envelope: CommandEnvelope): string[] {
  const keys = [`entity:${envelope.aggregateId}`];
  const payload = envelope.payload as { categoryId?: unknown; name?: unknown };
  const product = envelope.type === "CreateProduct" || envelope.type === "UpdateProduct";
  if (product && typeof payload.categoryId === "string") keys.push(`entity:${payload.categoryId}`);
  const category = envelope.type === "CreateCategory" || envelope.type === "UpdateCategory";
  if (category && typeof payload.name === "string") keys.push(`name:${payload.name}`);
  if (envelope.idempotencyKey) keys.push(`idempotency:${envelope.idempotencyKey}`);
  return keys;
}

/**
 * Takes a transaction-scoped advisory lock per key, in one order shared by
 * every transaction (sorted, after lower-casing as the database does for the
 * unique category name; UUIDs compare regardless of case too), so no two
 * transactions wait on each other in a cycle. Taking them gives the
 * transaction no id.
 */
async function lock(tx: Tx, keys: string[]): Promise<void> {
  await tx`
    select count(pg_advisory_xact_lock(hashtextextended(key, 0))) from (
      select distinct lower(key) collate "C" as key from unnest(${keys}::text[]) as keys (key)
      order by 1
    ) as sorted`;
}

/**
 * The command that the envelope's idempotency key already names, if it is
 * another one. Commands without a key name no other command.
 */
async function idempotencyKeyOwner(tx: Tx, envelope: CommandEnvelope) {
  const key = envelope.idempotencyKey;
  if (!key) return undefined;
  const [row] = await tx<{ commandId: string }[]>`
    select command_id as "commandId" from idempotency_keys where key = ${key}`;
  return row && row.commandId !== envelope.commandId ? row.commandId : undefined;
}

/** Records that the envelope's idempotency key names this command. */
async function recordIdempotencyKey(tx: Tx, envelope: CommandEnvelope, now: Date) {
  const key = envelope.idempotencyKey;
  if (!key) return;
  await tx`
    insert into idempotency_keys (key, command_id, command_type, recorded_at)
    values (${key}, ${envelope.commandId}, ${envelope.type}, ${now})
    on conflict (key) do nothing`;
}

function keyReused(envelope: CommandEnvelope, owner: string): CommandRejection {
  return {
    code: "IDEMPOTENCY_KEY_REUSED",
    message: `Cannot apply ${envelope.type}: idempotency key "${envelope.idempotencyKey}" was ` +
      `already used by command ${owner} for a different request`,
  };
}

/** Loads the state the command addresses and decides it, writing nothing. */
async function loadAndDecide(tx: Tx, envelope: CommandEnvelope) {
  const command = {
    type: envelope.type,
    aggregateId: envelope.aggregateId,
    payload: envelope.payload,
  } as Command;
  const state = await loadState(tx, command);
  return {
    decision: decide(command, state),
    version: state.category?.version ?? state.product?.version ?? 0,
  };
}

async function previousOutcome(
  sql: postgres.Sql | Tx,
  commandId: string,
): Promise<{ status: "APPLIED" | "REJECTED"; code: string } | undefined> {
  const [row] = await sql<{ status: "APPLIED" | "REJECTED"; code: string }[]>`
    select status, code from commands where command_id = ${commandId}`;
  return row ? { status: row.status, code: row.code } : undefined;
}

async function idTaken(tx: Tx, id: string): Promise<boolean> {
  const [row] = await tx`
    select exists (select 1 from events where aggregate_id = ${id})
        or exists (select 1 from categories where id = ${id})
        or exists (select 1 from products where id = ${id}) as taken`;
  return row?.taken === true;
}

async function category(tx: Tx, id: string) {
  const [row] = await tx<CategoryState[]>`
    select id, name, version from categories where id = ${id}`;
  return row;
}

async function categoryNamed(tx: Tx, name: string, exceptId: string) {
  const [row] = await tx<CategoryState[]>`
    select id, name, version from categories
    where lower(name) = lower(${name}) and id <> ${exceptId}
    limit 1`;
  return row;
}

async function product(tx: Tx, id: string): Promise<ProductState | undefined> {
  const [row] = await tx<ProductState[]>`
    select id, name, price::text as price, category_id as "categoryId", version
    from products where id = ${id}`;
  return row;
}

/** Loads what decide() reads for this command; lockKeys() already holds it still. */
async function loadState(tx: Tx, command: Command): Promise<DecisionState> {
  const id = command.aggregateId;
  switch (command.type) {
    case "CreateCategory":
      return {
        idTaken: await idTaken(tx, id),
        categoryWithSameName: await categoryNamed(tx, command.payload.name, id),
      };
    case "UpdateCategory":
      return {
        category: await category(tx, id),
        categoryWithSameName: await categoryNamed(tx, command.payload.name, id),
      };
    case "DeleteCategory": {
      const addressed = await category(tx, id);
      const [row] = await tx`
        select count(*)::int as count from products where category_id = ${id}`;
      return { category: addressed, productCount: row?.count ?? 0 };
    }
    case "CreateProduct":
      return {
        idTaken: await idTaken(tx, id),
        productCategory: await category(tx, command.payload.categoryId),
      };
    case "UpdateProduct": {
      const addressed = await product(tx, id);
      if (!addressed) return {};
      const categoryId = command.payload.categoryId ?? addressed.categoryId;
      return { product: addressed, productCategory: await category(tx, categoryId) };
    }
    case "DeleteProduct":
      return { product: await product(tx, id) };
  }
}

/** Writes each event's effect on the entity tables and appends it to the event log. */
async function recordEvents(
  tx: Tx,
  envelope: CommandEnvelope,
  events: DomainEvent[],
  startVersion: number,
  now: Date,
): Promise<RecordedEvent[]> {
  const id = envelope.aggregateId;
  const recorded: RecordedEvent[] = [];
  let version = startVersion;
  for (const event of events) {
    version += 1;
    switch (event.type) {
      case "CategoryCreated":
        await tx`
          insert into categories (id, name, version, created_at, updated_at)
          values (${id}, ${event.data.name}, ${version}, ${now}, ${now})`;
        break;
      case "CategoryUpdated":
        await tx`
          update categories set name = ${event.data.name}, version = ${version}, updated_at = ${now}
          where id = ${id}`;
        break;
      case "CategoryDeleted":
        await tx`delete from categories where id = ${id}`;
        break;
      case "ProductCreated":
        await tx`
          insert into products (id, name, price, category_id, version, created_at, updated_at)
          values (
            ${id}, ${event.data.name}, ${event.data.price}, ${event.data.categoryId}, ${version},
            ${now}, ${now}
          )`;
        break;
      case "ProductUpdated":
        await tx`
          update products set
            name = ${event.data.name}, price = ${event.data.price},
            category_id = ${event.data.categoryId}, version = ${version}, updated_at = ${now}
          where id = ${id}`;
        break;
      case "ProductDeleted":
        await tx`delete from products where id = ${id}`;
        break;
    }
    const entry = {
      ...event,
      eventId: crypto.randomUUID(),
      aggregateType: envelope.aggregateType,
      aggregateId: id,
      aggregateVersion: version,
      commandId: envelope.commandId,
      occurredAt: now,
    } as RecordedEvent;
    await tx`
      insert into events (
        event_id, type, aggregate_type, aggregate_id, aggregate_version, data, command_id,
        occurred_at
      ) values (
        ${entry.eventId}, ${entry.type}, ${entry.aggregateType}, ${id}, ${version},
        ${tx.json(entry.data)}, ${entry.commandId}, ${now}
      )`;
    recorded.push(entry);
  }
  return recorded;
}
