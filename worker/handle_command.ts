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

/** Another transaction recorded one of the same command ids while this one was deciding. */
class ConcurrentDuplicate extends Error {}

/**
 * Handles one command in one write-database transaction: skips it if its id
 * was seen before, refuses it if its idempotency key names a different
 * command, loads what the decision needs, decides, writes the entity, appends
 * the events and records the outcome. A rejection is an outcome, not an
 * error; errors are faults (the database, a bug) and roll everything back.
 * It is handleCommands() with one command.
 */
export async function handleCommand(
  sql: postgres.Sql,
  envelope: CommandEnvelope,
  options: HandleCommandOptions = {},
): Promise<CommandOutcome> {
  const [outcome] = await handleCommands(sql, [envelope], options);
  return outcome!;
}

/**
 * Handles commands in order, in one write-database transaction, with the
 * outcome each would have had alone, one after the other: the second sees
 * what the first wrote. The transaction costs the same few round trips
 * whatever the number of commands: one that locks and reads everything the
 * decisions need, one that writes every effect, and the commit. Decisions are made in
 * between, in memory, each on the state the ones before it left. A fault
 * rolls every command of the call back.
 *
 * Commands for different entities run side by side. The projector reads the
 * logs in transaction-id order, and a transaction gets its id at its first
 * write, not when it commits; so a transaction must never depend on one with
 * a higher id. Two rules make that hold:
 *
 * 1. Before anything else, the transaction takes an advisory lock on each
 *    thing its decisions read and another command could change (see
 *    lockKeys()), in one global order, so two transactions that touch the
 *    same entity, name or idempotency key run one after the other, and no two
 *    wait on each other in a cycle.
 * 2. It reads everything it needs before its first write, so any transaction
 *    whose rows it read had committed, and so had its id, before this one
 *    gets its own.
 *
 * Two deliveries of one command lock the same aggregate, so the second sees
 * the first's outcome instead of its writes.
 */
export async function handleCommands(
  sql: postgres.Sql,
  envelopes: readonly CommandEnvelope[],
  options: HandleCommandOptions = {},
): Promise<CommandOutcome[]> {
  if (envelopes.length === 0) return [];
  const clock = options.clock ?? (() => new Date());
  try {
    return await sql.begin(async (tx) => {
      const known = await load(tx, envelopes);
      // Every read is done: the first write gives the transaction its id.
      const writes = new Writes();
      const outcomes = envelopes.map((envelope) => decideOne(known, writes, envelope, clock()));
      await writes.commit(tx);
      return outcomes;
    });
  } catch (error) {
    if (!(error instanceof ConcurrentDuplicate)) throw error;
    if (envelopes.length > 1) {
      // Which command another transaction recorded is unknown: one at a time.
      const outcomes: CommandOutcome[] = [];
      for (const envelope of envelopes) outcomes.push(await handleCommand(sql, envelope, options));
      return outcomes;
    }
    const [row] = await sql<{ status: "APPLIED" | "REJECTED"; code: string }[]>`
      select status, code from commands where command_id = ${envelopes[0]!.commandId}`;
    if (!row) throw new Error(`Cannot handle command ${envelopes[0]!.commandId}: it vanished`);
    return [{ status: "DUPLICATE", previous: { status: row.status, code: row.code } }];
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

/** A category as loaded, with its name as the unique index compares it. */
interface KnownCategory {
  state: CategoryState;
  /** lower(name), computed by the database as the index computes it. */
  key: string;
}

/**
 * What the write model holds that the commands of one transaction read,
 * loaded at its start and then kept up to date with each decision's effects,
 * so every decision sees the state the ones before it left. UUIDs are keyed
 * lower-cased, as the database answers them.
 */
interface Known {
  /** Outcomes of command ids already handled. */
  outcomes: Map<string, { status: "APPLIED" | "REJECTED"; code: string }>;
  /** The command id each idempotency key names. */
  keyOwners: Map<string, string>;
  categories: Map<string, KnownCategory>;
  /** Category id by name key, for the names the commands claim and the categories known. */
  categoryByName: Map<string, string>;
  /** The name key of each name the commands claim. */
  nameKeys: Map<string, string>;
  products: Map<string, ProductState>;
  /** Ids of creates that name, or once named, a category or a product. */
  taken: Set<string>;
  /** Products per category, for the categories the commands delete. */
  productCounts: Map<string, number>;
}

function uuidKey(id: string): string {
  return id.toLowerCase();
}

/** The ids and names the commands' decisions read, by what they are looked up in. */
function lookups(envelopes: readonly CommandEnvelope[]) {
  const categoryIds = new Set<string>();
  const productIds = new Set<string>();
  const createIds = new Set<string>();
  const deletedCategoryIds = new Set<string>();
  const names = new Set<string>();
  const keys = new Set<string>();
  for (const { type, aggregateId, payload, idempotencyKey } of envelopes) {
    const { categoryId, name } = payload as { categoryId?: string; name?: string };
    if (idempotencyKey) keys.add(idempotencyKey);
    if (name !== undefined && type.endsWith("Category")) names.add(name);
    if (categoryId !== undefined) categoryIds.add(categoryId);
    if (type === "CreateCategory" || type === "CreateProduct") createIds.add(aggregateId);
    else if (type.endsWith("Category")) categoryIds.add(aggregateId);
    else productIds.add(aggregateId);
    if (type === "DeleteCategory") deletedCategoryIds.add(aggregateId);
  }
  return {
    commandIds: envelopes.map((envelope) => envelope.commandId),
    categoryIds: [...categoryIds],
    productIds: [...productIds],
    createIds: [...createIds],
    deletedCategoryIds: [...deletedCategoryIds],
    names: [...names],
    keys: [...keys],
  };
}

/**
 * Takes the commands' locks, then reads what their decisions need: every
 * statement sent at once, answered in one round trip. The locks come first on
 * the connection, so every read runs with them held.
 */
async function load(tx: Tx, envelopes: readonly CommandEnvelope[]): Promise<Known> {
  const wanted = lookups(envelopes);
  // A lookup with nothing to look up is not sent.
  const none = Promise.resolve([]);
  const [, outcomes, keyOwners, categories, nameKeys, products, taken, counts] = await Promise.all([
    lock(tx, envelopes.flatMap(lockKeys)),
    tx<{ commandId: string; status: "APPLIED" | "REJECTED"; code: string }[]>`
      select command_id::text as "commandId", status, code from commands
      where command_id = any(${wanted.commandIds}::uuid[])`,
    wanted.keys.length === 0 ? none : tx<{ key: string; commandId: string }[]>`
      select key, command_id::text as "commandId" from idempotency_keys
      where key = any(${wanted.keys}::text[])`,
    // The categories addressed, those the products addressed belong to, and
    // those holding a name claimed.
    wanted.categoryIds.length + wanted.productIds.length + wanted.names.length === 0
      ? none
      : tx<(CategoryState & { key: string })[]>`
      select id::text, name, version, lower(name) as key
      from categories where id = any(${wanted.categoryIds}::uuid[])
        or id in (select category_id from products where id = any(${wanted.productIds}::uuid[]))
        or lower(name) in (select lower(claimed) from unnest(${wanted.names}::text[]) as claimed)`,
    wanted.names.length === 0 ? none : tx<{ name: string; key: string }[]>`
      select claimed as name, lower(claimed) as key
      from unnest(${wanted.names}::text[]) as claimed`,
    wanted.productIds.length === 0 ? none : tx<ProductState[]>`
      select id::text, name, price::text as price, category_id::text as "categoryId", version
      from products where id = any(${wanted.productIds}::uuid[])`,
    wanted.createIds.length === 0 ? none : tx<{ id: string }[]>`
      select id::text from unnest(${wanted.createIds}::uuid[]) as created (id)
      where exists (select 1 from events where aggregate_id = created.id)
        or exists (select 1 from categories where categories.id = created.id)
        or exists (select 1 from products where products.id = created.id)`,
    wanted.deletedCategoryIds.length === 0 ? none : tx<{ id: string; count: number }[]>`
      select category_id::text as id, count(*)::int as count from products
      where category_id = any(${wanted.deletedCategoryIds}::uuid[])
      group by category_id`,
  ]);
  const known: Known = {
    outcomes: new Map(
      outcomes.map((row) => [row.commandId, { status: row.status, code: row.code }]),
    ),
    keyOwners: new Map(keyOwners.map((row) => [row.key, row.commandId])),
    categories: new Map(),
    categoryByName: new Map(),
    nameKeys: new Map(nameKeys.map((row) => [row.name, row.key])),
    products: new Map(products.map((row) => [row.id, row])),
    taken: new Set(taken.map((row) => row.id)),
    productCounts: new Map(wanted.deletedCategoryIds.map((id) => [uuidKey(id), 0])),
  };
  for (const { key, ...state } of categories) {
    known.categories.set(state.id, { state, key });
    known.categoryByName.set(key, state.id);
  }
  for (const row of counts) known.productCounts.set(row.id, row.count);
  return known;
}

/** The state decide() reads for this command, as the commands before it left it. */
function stateOf(known: Known, command: Command): DecisionState {
  const id = uuidKey(command.aggregateId);
  const category = (categoryId: string) => known.categories.get(uuidKey(categoryId))?.state;
  const namedLike = (name: string) => {
    const owner = known.categoryByName.get(known.nameKeys.get(name)!);
    return owner === undefined || owner === id ? undefined : known.categories.get(owner)?.state;
  };
  switch (command.type) {
    case "CreateCategory":
      return {
        idTaken: known.taken.has(id),
        categoryWithSameName: namedLike(command.payload.name),
      };
    case "UpdateCategory":
      return { category: category(id), categoryWithSameName: namedLike(command.payload.name) };
    case "DeleteCategory":
      return { category: category(id), productCount: known.productCounts.get(id) ?? 0 };
    case "CreateProduct":
      return {
        idTaken: known.taken.has(id),
        productCategory: category(command.payload.categoryId),
      };
    case "UpdateProduct": {
      const addressed = known.products.get(id);
      if (!addressed) return {};
      const categoryId = command.payload.categoryId ?? addressed.categoryId;
      return { product: addressed, productCategory: category(categoryId) };
    }
    case "DeleteProduct":
      return { product: known.products.get(id) };
  }
}

function countProduct(known: Known, categoryId: string, by: number): void {
  const key = uuidKey(categoryId);
  const count = known.productCounts.get(key);
  if (count !== undefined) known.productCounts.set(key, count + by);
}

/** Brings what is known up to date with an event the command caused. */
function remember(known: Known, aggregateId: string, event: DomainEvent, version: number): void {
  const id = uuidKey(aggregateId);
  switch (event.type) {
    case "CategoryCreated":
    case "CategoryUpdated": {
      const before = known.categories.get(id);
      if (before) known.categoryByName.delete(before.key);
      const key = known.nameKeys.get(event.data.name)!;
      known.categories.set(id, { state: { id, name: event.data.name, version }, key });
      known.categoryByName.set(key, id);
      known.taken.add(id);
      break;
    }
    case "CategoryDeleted": {
      const before = known.categories.get(id);
      if (before) known.categoryByName.delete(before.key);
      known.categories.delete(id);
      break;
    }
    case "ProductCreated":
    case "ProductUpdated": {
      const before = known.products.get(id);
      const { name, price, categoryId } = event.data;
      known.products.set(id, { id, name, price, categoryId: uuidKey(categoryId), version });
      known.taken.add(id);
      if (before?.categoryId !== uuidKey(categoryId)) {
        if (before) countProduct(known, before.categoryId, -1);
        countProduct(known, categoryId, 1);
      }
      break;
    }
    case "ProductDeleted": {
      const before = known.products.get(id);
      known.products.delete(id);
      if (before) countProduct(known, before.categoryId, -1);
      break;
    }
  }
}

function keyReused(envelope: CommandEnvelope, owner: string): CommandRejection {
  return {
    code: "IDEMPOTENCY_KEY_REUSED",
    message: `Cannot apply ${envelope.type}: idempotency key "${envelope.idempotencyKey}" was ` +
      `already used by command ${owner} for a different request`,
  };
}

/**
 * Decides one command on what is known, records its effects in `writes` and
 * in `known`, and answers its outcome.
 */
function decideOne(
  known: Known,
  writes: Writes,
  envelope: CommandEnvelope,
  now: Date,
): CommandOutcome {
  const commandId = uuidKey(envelope.commandId);
  const previous = known.outcomes.get(commandId);
  if (previous) return { status: "DUPLICATE", previous };

  const key = envelope.idempotencyKey;
  const owner = key ? known.keyOwners.get(key) : undefined;
  let outcome: CommandOutcome;
  if (owner !== undefined && owner !== commandId) {
    outcome = { status: "REJECTED", rejection: keyReused(envelope, owner) };
  } else {
    if (key && owner === undefined) {
      known.keyOwners.set(key, commandId);
      writes.idempotencyKey(key, envelope, now);
    }
    const command = {
      type: envelope.type,
      aggregateId: envelope.aggregateId,
      payload: envelope.payload,
    } as Command;
    const state = stateOf(known, command);
    const decision = decide(command, state);
    if ("rejection" in decision) {
      outcome = { status: "REJECTED", rejection: decision.rejection };
    } else {
      let version = state.category?.version ?? state.product?.version ?? 0;
      const events = decision.events.map((event) => {
        version += 1;
        remember(known, envelope.aggregateId, event, version);
        return writes.event(envelope, event, version, now);
      });
      outcome = { status: "APPLIED", events };
    }
  }
  const rejection = outcome.status === "REJECTED" ? outcome.rejection : undefined;
  known.outcomes.set(commandId, { status: outcome.status, code: rejection?.code ?? "" });
  writes.command(envelope, outcome.status, rejection, now);
  return outcome;
}

/**
 * The writes of one transaction, gathered while deciding and sent together:
 * each event's effect on its entity as a statement of its own, in order, and
 * the log rows (idempotency keys, events, command outcomes) in one statement
 * per table, in order.
 */
class Writes {
  #entities: ((tx: Tx) => postgres.PendingQuery<postgres.Row[]>)[] = [];
  #keys: { key: string; commandId: string; type: string; at: string }[] = [];
  #events: RecordedEvent[] = [];
  #commands: {
    envelope: CommandEnvelope;
    status: "APPLIED" | "REJECTED";
    rejection: CommandRejection | undefined;
    at: string;
  }[] = [];

  idempotencyKey(key: string, envelope: CommandEnvelope, now: Date): void {
    this.#keys.push({
      key,
      commandId: envelope.commandId,
      type: envelope.type,
      at: now.toISOString(),
    });
  }

  /** An event's effect on its entity and its row in the event log; answers the event as recorded. */
  event(envelope: CommandEnvelope, event: DomainEvent, version: number, now: Date): RecordedEvent {
    const id = envelope.aggregateId;
    this.#entities.push((tx) => entityWrite(tx, id, event, version, now));
    const recorded = {
      ...event,
      eventId: crypto.randomUUID(),
      aggregateType: envelope.aggregateType,
      aggregateId: id,
      aggregateVersion: version,
      commandId: envelope.commandId,
      occurredAt: now,
    } as RecordedEvent;
    this.#events.push(recorded);
    return recorded;
  }

  command(
    envelope: CommandEnvelope,
    status: "APPLIED" | "REJECTED",
    rejection: CommandRejection | undefined,
    now: Date,
  ): void {
    this.#commands.push({ envelope, status, rejection, at: now.toISOString() });
  }

  /**
   * Sends every write at once and waits for all of them. Throws
   * ConcurrentDuplicate if another transaction recorded one of the command
   * ids first.
   */
  async commit(tx: Tx): Promise<void> {
    const keys = this.#keys;
    const events = this.#events;
    const commands = this.#commands;
    const [recorded] = await Promise.all([
      commands.length === 0 ? Promise.resolve([]) : tx<{ commandId: string }[]>`
        insert into commands (
          command_id, type, aggregate_id, status, code, message, current_version, envelope,
          accepted_at, handled_at
        )
        select command_id, type, aggregate_id, status, code, message, current_version,
          envelope::jsonb, accepted_at, handled_at
        from unnest(
          ${commands.map((row) => row.envelope.commandId)}::uuid[],
          ${commands.map((row) => row.envelope.type)}::text[],
          ${commands.map((row) => row.envelope.aggregateId)}::uuid[],
          ${commands.map((row) => row.status)}::text[],
          ${commands.map((row) => row.rejection?.code ?? "")}::text[],
          ${commands.map((row) => row.rejection?.message ?? "")}::text[],
          ${commands.map((row) => row.rejection?.currentVersion ?? null)}::integer[],
          ${commands.map((row) => JSON.stringify(row.envelope))}::text[],
          ${commands.map((row) => row.envelope.issuedAt)}::timestamptz[],
          ${commands.map((row) => row.at)}::timestamptz[]
        ) with ordinality as row (
          command_id, type, aggregate_id, status, code, message, current_version, envelope,
          accepted_at, handled_at, ordinality
        )
        order by ordinality
        on conflict (command_id) do nothing
        returning command_id::text as "commandId"`,
      keys.length === 0 ? Promise.resolve([]) : tx`
        insert into idempotency_keys (key, command_id, command_type, recorded_at)
        select * from unnest(
          ${keys.map((row) => row.key)}::text[],
          ${keys.map((row) => row.commandId)}::uuid[],
          ${keys.map((row) => row.type)}::text[],
          ${keys.map((row) => row.at)}::timestamptz[]
        )
        on conflict (key) do nothing`,
      ...this.#entities.map((write) => write(tx)),
      events.length === 0 ? Promise.resolve([]) : tx`
        insert into events (
          event_id, type, aggregate_type, aggregate_id, aggregate_version, data, command_id,
          occurred_at
        )
        select event_id, type, aggregate_type, aggregate_id, aggregate_version, data::jsonb,
          command_id, occurred_at
        from unnest(
          ${events.map((event) => event.eventId)}::uuid[],
          ${events.map((event) => event.type)}::text[],
          ${events.map((event) => event.aggregateType)}::text[],
          ${events.map((event) => event.aggregateId)}::uuid[],
          ${events.map((event) => event.aggregateVersion)}::integer[],
          ${events.map((event) => JSON.stringify(event.data))}::text[],
          ${events.map((event) => event.commandId)}::uuid[],
          ${events.map((event) => event.occurredAt.toISOString())}::timestamptz[]
        ) with ordinality as event (
          event_id, type, aggregate_type, aggregate_id, aggregate_version, data, command_id,
          occurred_at, ordinality
        )
        order by ordinality`,
    ]);
    if (recorded.length !== commands.length) throw new ConcurrentDuplicate();
  }
}

/** The statement that writes one event's effect on the entity tables. */
function entityWrite(tx: Tx, id: string, event: DomainEvent, version: number, now: Date) {
  switch (event.type) {
    case "CategoryCreated":
      return tx`
        insert into categories (id, name, version, created_at, updated_at)
        values (${id}, ${event.data.name}, ${version}, ${now}, ${now})`;
    case "CategoryUpdated":
      return tx`
        update categories set name = ${event.data.name}, version = ${version}, updated_at = ${now}
        where id = ${id}`;
    case "CategoryDeleted":
      return tx`delete from categories where id = ${id}`;
    case "ProductCreated":
      return tx`
        insert into products (id, name, price, category_id, version, created_at, updated_at)
        values (
          ${id}, ${event.data.name}, ${event.data.price}, ${event.data.categoryId}, ${version},
          ${now}, ${now}
        )`;
    case "ProductUpdated":
      return tx`
        update products set
          name = ${event.data.name}, price = ${event.data.price},
          category_id = ${event.data.categoryId}, version = ${version}, updated_at = ${now}
        where id = ${id}`;
    case "ProductDeleted":
      return tx`delete from products where id = ${id}`;
  }
}
