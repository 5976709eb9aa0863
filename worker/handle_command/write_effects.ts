import type postgres from "postgres";
import type { RecordedEvent } from "../events.ts";
import type { CommandEffects } from "./decide_commands.ts";

type Tx = postgres.TransactionSql;

/** Another transaction recorded one of the same command ids while this one was deciding. */
export class ConcurrentDuplicate extends Error {
  constructor() {
    super("Cannot record the commands: another transaction recorded one of them first");
    this.name = "ConcurrentDuplicate";
  }
}

/**
 * Writes what a batch of decisions left, all statements sent at once and
 * answered together: the command outcomes and the idempotency keys in one
 * statement per table, each event's effect on its entity as a statement of
 * its own, and the events in one statement, each in the decisions' order.
 *
 * @throws {ConcurrentDuplicate} if another transaction recorded one of the
 * command ids first; the caller's transaction must then roll back.
 */
export async function writeEffects(tx: Tx, effects: CommandEffects): Promise<void> {
  const { idempotencyKeys: keys, events, commands } = effects;
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
        ${commands.map((row) => row.handledAt.toISOString())}::timestamptz[]
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
        ${keys.map((row) => row.commandType)}::text[],
        ${keys.map((row) => row.recordedAt.toISOString())}::timestamptz[]
      )
      on conflict (key) do nothing`,
    ...events.map((event) => entityWrite(tx, event)),
    events.length === 0 ? Promise.resolve([]) : tx`
      insert into events (
        event_id, type, aggregate_type, aggregate_id, aggregate_version, data, command_id,
        occurred_at, traceparent
      )
      select event_id, type, aggregate_type, aggregate_id, aggregate_version, data::jsonb,
        command_id, occurred_at, traceparent
      from unnest(
        ${events.map((event) => event.eventId)}::uuid[],
        ${events.map((event) => event.type)}::text[],
        ${events.map((event) => event.aggregateType)}::text[],
        ${events.map((event) => event.aggregateId)}::uuid[],
        ${events.map((event) => event.aggregateVersion)}::integer[],
        ${events.map((event) => JSON.stringify(event.data))}::text[],
        ${events.map((event) => event.commandId)}::uuid[],
        ${events.map((event) => event.occurredAt.toISOString())}::timestamptz[],
        ${events.map((event) => event.traceparent ?? null)}::text[]
      ) with ordinality as event (
        event_id, type, aggregate_type, aggregate_id, aggregate_version, data, command_id,
        occurred_at, traceparent, ordinality
      )
      order by ordinality`,
  ]);
  if (recorded.length !== commands.length) throw new ConcurrentDuplicate();
}

/** The statement that writes one event's effect on the entity tables. */
function entityWrite(tx: Tx, event: RecordedEvent) {
  const id = event.aggregateId;
  const version = event.aggregateVersion;
  const now = event.occurredAt;
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
