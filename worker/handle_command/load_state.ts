import type postgres from "postgres";
import type { CommandEnvelope } from "@catalog/proto";
import type { CategoryState, ProductState } from "../decide.ts";
import { lockKeys, readsOf } from "./command_reads.ts";
import { type KnownState, knownStateOf } from "./known_state.ts";

type Tx = postgres.TransactionSql;

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
 * Takes the commands' locks (see lockKeys()), then reads what their decisions
 * need (see readsOf()): every statement sent at once, answered in one round
 * trip. The locks come first on the connection, so every read runs with them
 * held. Reads only: the transaction has no id yet when it returns.
 */
export async function loadState(
  tx: Tx,
  envelopes: readonly CommandEnvelope[],
): Promise<KnownState> {
  const wanted = readsOf(envelopes);
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
  return knownStateOf({
    outcomes,
    keyOwners,
    categories,
    nameKeys,
    products,
    taken,
    deletedCategoryIds: wanted.deletedCategoryIds,
    productCounts: counts,
  });
}
