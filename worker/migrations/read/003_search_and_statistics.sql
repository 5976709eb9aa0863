-- Search and keyset pages that stay fast on large catalogs, and statistics
-- kept up to date as the views change instead of computed at request time.

-- Name search is a case-insensitive "contains" match (name ilike '%term%',
-- with the term's %, _ and \ escaped). A trigram index serves it whatever the
-- term's position in the name; a b-tree cannot.
create extension if not exists pg_trgm;
create index product_view_name_trgm_idx on product_view using gin (name gin_trgm_ops);
create index category_view_name_trgm_idx on category_view using gin (name gin_trgm_ops);

-- Keyset pages sort by one key with the id as tie-breaker, and start after
-- the (key, id) of the previous page's last row. Each index below serves one
-- such order in both directions, and, led by category_id, the same order
-- within one category (with a price range too, for the price order).
create index product_view_name_id_idx on product_view (name, id);
create index product_view_price_id_idx on product_view (price, id);
create index product_view_created_at_id_idx on product_view (created_at, id);
create index product_view_category_name_id_idx on product_view (category_id, name, id);
create index product_view_category_price_id_idx on product_view (category_id, price, id);
create index product_view_category_created_at_id_idx on product_view (category_id, created_at, id);
create index category_view_name_id_idx on category_view (name, id);
create index category_view_created_at_id_idx on category_view (created_at, id);

-- Served as well by the indexes above that they lead, and one index fewer to
-- maintain on every projected write.
drop index product_view_category_id_idx;
drop index product_view_price_idx;

-- Statistics: one row per view, maintained by statement-level triggers on the
-- views in the same transaction as the change, so every reader sees figures
-- that agree with the rows of its snapshot, and the projector (which knows
-- nothing of them) needs no change. Each trigger first adds its change to the
-- row (the UPDATE takes the row's lock and applies the change to its latest
-- version), and only then, holding the lock, looks at the view: by then every
-- other writer of the view has either committed (and is seen) or will update
-- the row after this transaction commits.

create table product_statistics (
  singleton boolean primary key default true check (singleton),
  product_count bigint not null,
  -- Exact sum of the prices, two places like them.
  total_value numeric(16, 2) not null,
  -- Null when there are no products.
  min_price numeric(10, 2),
  max_price numeric(10, 2)
);

create table category_statistics (
  singleton boolean primary key default true check (singleton),
  category_count bigint not null,
  -- Categories whose product_count is above 0.
  with_products_count bigint not null
);

-- Recounts both rows from the views: for the migration itself, after a
-- TRUNCATE, and for anyone who fills the views without these triggers (for
-- instance tables built apart and swapped in): call it once they are in place.
create function refresh_read_statistics() returns void language sql as $$
  insert into product_statistics (singleton, product_count, total_value, min_price, max_price)
  select true, count(*), coalesce(sum(price), 0), min(price), max(price) from product_view
  on conflict (singleton) do update set
    product_count = excluded.product_count, total_value = excluded.total_value,
    min_price = excluded.min_price, max_price = excluded.max_price;
  insert into category_statistics (singleton, category_count, with_products_count)
  select true, count(*), count(*) filter (where product_count > 0) from category_view
  on conflict (singleton) do update set
    category_count = excluded.category_count,
    with_products_count = excluded.with_products_count;
$$;

select refresh_read_statistics();

-- Applies one INSERT, UPDATE or DELETE statement on product_view, from its
-- transition tables (new_rows, old_rows). Count and sum move by the
-- difference. The lowest and highest price move by least()/greatest() when
-- rows only come in; when rows go or change they are read again from the
-- (price, id) index: two index probes, not a scan.
create function product_statistics_apply() returns trigger language plpgsql as $$
declare
  added_count bigint := 0;
  added_value numeric := 0;
  added_min numeric;
  added_max numeric;
  removed_count bigint := 0;
  removed_value numeric := 0;
  removed_min numeric;
  removed_max numeric;
begin
  if tg_op in ('INSERT', 'UPDATE') then
    select count(*), coalesce(sum(price), 0), min(price), max(price)
      into added_count, added_value, added_min, added_max from new_rows;
  end if;
  if tg_op in ('UPDATE', 'DELETE') then
    select count(*), coalesce(sum(price), 0), min(price), max(price)
      into removed_count, removed_value, removed_min, removed_max from old_rows;
  end if;
  if added_count = 0 and removed_count = 0 then
    return null;
  end if;
  -- An update that leaves count, sum, lowest and highest of its rows as they
  -- were (a category rename, a name change) leaves the figures as they were.
  if added_count = removed_count and added_value = removed_value
    and added_min is not distinct from removed_min and added_max is not distinct from removed_max
  then
    return null;
  end if;
  update product_statistics set
    product_count = product_count + added_count - removed_count,
    total_value = total_value + added_value - removed_value,
    min_price = least(min_price, added_min),
    max_price = greatest(max_price, added_max)
  where singleton;
  if removed_count > 0 then
    update product_statistics set
      min_price = (select min(price) from product_view),
      max_price = (select max(price) from product_view)
    where singleton;
  end if;
  return null;
end;
$$;

-- Applies one statement on category_view: the count moves by the rows in and
-- out, the count with products by those above 0 in and out (a product_count
-- going from 0 to 1 is one row out at 0 and one row in at 1).
create function category_statistics_apply() returns trigger language plpgsql as $$
declare
  added_count bigint := 0;
  added_with_products bigint := 0;
  removed_count bigint := 0;
  removed_with_products bigint := 0;
begin
  if tg_op in ('INSERT', 'UPDATE') then
    select count(*), count(*) filter (where product_count > 0)
      into added_count, added_with_products from new_rows;
  end if;
  if tg_op in ('UPDATE', 'DELETE') then
    select count(*), count(*) filter (where product_count > 0)
      into removed_count, removed_with_products from old_rows;
  end if;
  if added_count = removed_count and added_with_products = removed_with_products then
    return null;
  end if;
  update category_statistics set
    category_count = category_count + added_count - removed_count,
    with_products_count = with_products_count + added_with_products - removed_with_products
  where singleton;
  return null;
end;
$$;

-- TRUNCATE has no transition tables: count again (from empty views).
create function read_statistics_truncated() returns trigger language plpgsql as $$
begin
  perform refresh_read_statistics();
  return null;
end;
$$;

-- One trigger per event: PostgreSQL allows transition tables only on
-- single-event triggers.
create trigger product_statistics_insert after insert on product_view
  referencing new table as new_rows
  for each statement execute function product_statistics_apply();
create trigger product_statistics_update after update on product_view
  referencing old table as old_rows new table as new_rows
  for each statement execute function product_statistics_apply();
create trigger product_statistics_delete after delete on product_view
  referencing old table as old_rows
  for each statement execute function product_statistics_apply();
create trigger product_statistics_truncate after truncate on product_view
  for each statement execute function read_statistics_truncated();

create trigger category_statistics_insert after insert on category_view
  referencing new table as new_rows
  for each statement execute function category_statistics_apply();
create trigger category_statistics_update after update on category_view
  referencing old table as old_rows new table as new_rows
  for each statement execute function category_statistics_apply();
create trigger category_statistics_delete after delete on category_view
  referencing old table as old_rows
  for each statement execute function category_statistics_apply();
create trigger category_statistics_truncate after truncate on category_view
  for each statement execute function read_statistics_truncated();
