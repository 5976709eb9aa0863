import type postgres from "postgres";
import type { Step, StepRow } from "./steps.ts";

/**
 * Applies one step's category events in one statement: inserts, updates and
 * deletes category_view rows, renames the category of the products of a
 * renamed one, and answers each event's change.
 */
export function applyCategoryStep(
  tx: postgres.TransactionSql,
  step: Step,
): postgres.PendingQuery<StepRow[]> {
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
