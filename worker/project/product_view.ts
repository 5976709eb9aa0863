import type postgres from "postgres";
import type { Step, StepRow } from "./steps.ts";

/**
 * Applies one step's product events in one statement: inserts, updates and
 * deletes product_view rows, moves the categories' product counts by the
 * net of the step, and answers each event's change. The statistics triggers
 * see the statement's rows at once, which leaves the figures as the events
 * one by one would.
 */
export function applyProductStep(
  tx: postgres.TransactionSql,
  step: Step,
): postgres.PendingQuery<StepRow[]> {
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
