-- The change feed: one row per change the read model made readable, in the
-- order the changes became readable, for live updates. The query service
-- streams it (WatchChanges) to every gateway, which hands each change to its
-- GraphQL subscribers; so every gateway copy sees every change, and only once
-- the views show it.
--
-- Positions are taken and committed in order: every writer takes the
-- transaction-level advisory lock 4711002026 just before it inserts here and
-- holds it until it commits, so a reader that has seen position n never sees
-- a lower one appear later (rolled-back transactions leave gaps, nothing
-- else). Each writer then notifies the channel catalog_changes (payload
-- empty), delivered when it commits. Writers take the lock as the last thing they do, holding no row lock
-- anyone else could wait for while they wait: no deadlock.
create table changes (
  position bigserial primary key,
  -- CATEGORY, PRODUCT or COMMAND.
  entity_type text not null check (entity_type in ('CATEGORY', 'PRODUCT', 'COMMAND')),
  entity_id uuid not null,
  kind text not null check (kind in ('CREATED', 'UPDATED', 'DELETED')),
  -- The view row after the change, as JSON (column names as in the view; the
  -- price as a string, never a binary float). For a deletion, the row as it
  -- was, with the deletion's version and time as version and updated_at.
  entity jsonb not null,
  -- The command that caused the change.
  command_id uuid,
  at timestamptz not null default now()
);
-- The worker prunes by age (worker/retention.ts).
create index changes_at_idx on changes (at);

-- The highest position pruned so far: a reader that asks for the changes
-- after a lower one has missed some for good.
create table changes_pruned (
  singleton boolean primary key default true check (singleton),
  up_to bigint not null
);
insert into changes_pruned (singleton, up_to) values (true, 0);

-- A command's status is written by the worker when it takes the command
-- (ACCEPTED), by the projector (APPLIED, REJECTED) and when it is
-- dead-lettered (FAILED). A trigger deferred to commit records each new or
-- changed row, so every writer is covered, and the lock is taken only once
-- the transaction's statements (and their row locks) are done.
create function command_view_changed() returns trigger language plpgsql as $$
begin
  if tg_op = 'UPDATE' and old is not distinct from new then
    return null;
  end if;
  perform pg_advisory_xact_lock(4711002026);
  insert into changes (entity_type, entity_id, kind, entity, command_id)
  values (
    'COMMAND', new.command_id, case tg_op when 'INSERT' then 'CREATED' else 'UPDATED' end,
    to_jsonb(new), new.command_id
  );
  perform pg_notify('catalog_changes', '');
  return null;
end;
$$;

create constraint trigger command_view_changes
  after insert or update on command_view
  deferrable initially deferred
  for each row execute function command_view_changed();
