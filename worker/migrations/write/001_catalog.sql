-- The write model: entities with versions, the append-only event log and the
-- command log. Only the worker writes here.

create table categories (
  id uuid primary key,
  name text not null,
  version integer not null,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
-- Category names are unique regardless of case.
create unique index categories_name_key on categories (lower(name));

create table products (
  id uuid primary key,
  name text not null,
  price numeric(10, 2) not null check (price between 0.01 and 999999.99),
  category_id uuid not null references categories (id),
  version integer not null,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index products_category_id_idx on products (category_id);

-- Every change as an event, in commit order per transaction. transaction_id
-- lets the projector read only events whose transactions are all committed,
-- so a late commit of a lower position is never skipped.
create table events (
  position bigint generated always as identity primary key,
  transaction_id xid8 not null default pg_current_xact_id(),
  event_id uuid not null unique,
  type text not null,
  aggregate_type text not null,
  aggregate_id uuid not null,
  aggregate_version integer not null,
  data jsonb not null,
  command_id uuid not null,
  occurred_at timestamptz not null,
  unique (aggregate_id, aggregate_version)
);
create index events_transaction_position_idx on events (transaction_id, position);

-- One row per handled command: de-duplication by command id, and its outcome.
create table commands (
  command_id uuid primary key,
  position bigint generated always as identity unique,
  transaction_id xid8 not null default pg_current_xact_id(),
  type text not null,
  aggregate_id uuid not null,
  status text not null check (status in ('APPLIED', 'REJECTED')),
  code text not null default '',
  message text not null default '',
  envelope jsonb not null,
  accepted_at timestamptz not null,
  handled_at timestamptz not null
);
create index commands_transaction_position_idx on commands (transaction_id, position);
