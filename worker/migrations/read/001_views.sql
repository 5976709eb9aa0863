-- The read model: views shaped for the queries, kept up to date by the
-- worker's projector from the write database's event and command logs.

create table category_view (
  id uuid primary key,
  name text not null,
  product_count integer not null default 0,
  version integer not null,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index category_view_name_idx on category_view (lower(name));

-- A product row carries its category's name, so no read needs a join.
create table product_view (
  id uuid primary key,
  name text not null,
  price numeric(10, 2) not null,
  category_id uuid not null,
  category_name text not null,
  version integer not null,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index product_view_category_id_idx on product_view (category_id);
create index product_view_name_idx on product_view (lower(name));
create index product_view_price_idx on product_view (price);

-- Each command's outcome as clients see it.
create table command_view (
  command_id uuid primary key,
  type text not null,
  aggregate_id uuid not null,
  status text not null,
  code text not null default '',
  message text not null default '',
  accepted_at timestamptz not null,
  handled_at timestamptz not null
);

-- How far each projection has read its source log: the last
-- (transaction_id, position) applied. Updated in the same transaction as the
-- views, so a projection is resumable and idempotent.
create table projection_checkpoints (
  name text primary key,
  transaction_id xid8 not null,
  position bigint not null,
  updated_at timestamptz not null
);
insert into projection_checkpoints (name, transaction_id, position, updated_at)
values ('events', '0', 0, now()), ('commands', '0', 0, now());
