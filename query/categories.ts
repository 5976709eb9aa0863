import type postgres from "postgres";
import type {
  Category,
  CategoryList,
  CategoryPage,
  CategoryStatistics,
  FieldError,
  ListCategoriesRequest,
  PageCategoriesRequest,
} from "@catalog/proto";
import { cancellable } from "./cancellable.ts";
import { queryLimitDefaults } from "./config.ts";
import { InvalidArgumentError, ListTooLongError } from "./errors.ts";
import {
  containsPattern,
  listInWindow,
  pageWindow,
  type ReadOptions,
  uuidErrors,
} from "./filters.ts";
import { type KeyedRow, keysetArguments, keysetSql, pageOf } from "./keyset.ts";

/**
 * Longest name_contains a search takes: the longest name a category may
 * have, since a longer term can match nothing.
 */
const MAX_SEARCH_LENGTH = 100;

interface CategoryRow {
  id: string;
  name: string;
  product_count: number;
  version: number;
  created_at: Date;
  updated_at: Date;
}

function categoryOf(row: CategoryRow): Category {
  return {
    id: row.id,
    name: row.name,
    version: row.version,
    productCount: row.product_count,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** Categories with these ids, by name; unknown ids are left out. */
export async function getCategories(
  sql: postgres.Sql,
  ids: string[],
  options: ReadOptions = {},
): Promise<CategoryList> {
  const errors = uuidErrors("ids", ids);
  if (errors.length > 0) throw new InvalidArgumentError("get categories", errors);
  if (ids.length === 0) return { categories: [], totalCount: 0 };
  const rows = await cancellable(
    sql<CategoryRow[]>`
      select id, name, product_count, version, created_at, updated_at
      from category_view
      where id = any(${ids}::uuid[])
      order by name, id`,
    options.signal,
  );
  return { categories: rows.map(categoryOf), totalCount: rows.length };
}

/**
 * Categories matching the filters, ordered by name then id, one page of them,
 * or all of them up to options.maxListItems.
 *
 * @throws {ListTooLongError} when unpaged and more than options.maxListItems match.
 */
export async function listCategories(
  sql: postgres.Sql,
  request: ListCategoriesRequest,
  options: ReadOptions = {},
): Promise<CategoryList> {
  const maxItems = options.maxListItems ?? queryLimitDefaults.maxListItems;
  const { window, errors } = pageWindow(request.page, maxItems);
  if (request.nameContains && request.nameContains.length > MAX_SEARCH_LENGTH) {
    errors.push({
      field: "nameContains",
      message: `Must be at most ${MAX_SEARCH_LENGTH} characters`,
    });
  }
  if (errors.length > 0) throw new InvalidArgumentError("list categories", errors);
  const whereOf = (q: postgres.Sql | postgres.TransactionSql) => {
    const conditions = [];
    if (request.name !== undefined) conditions.push(q`lower(name) = lower(${request.name.trim()})`);
    if (request.nameContains) {
      conditions.push(q`name ilike ${containsPattern(request.nameContains)} escape '\\'`);
    }
    return conditions.reduce((clause, condition) => q`${clause} and ${condition}`, q`where true`);
  };
  const { rows, totalCount } = await listInWindow(sql, window, {
    // A name search takes its matches from the trigram index, then sorts
    // them: OFFSET 0 keeps the planner from walking the sort's index instead
    // to fill the LIMIT early, which reads most of the table when the matches
    // are many or sit at the far end of the order.
    from: (q) =>
      request.nameContains
        ? q`from (select * from category_view ${whereOf(q)} offset 0) as matches`
        : q`from category_view ${whereOf(q)}`,
    select: (q, from, limit) =>
      q<CategoryRow[]>`
        select id, name, product_count, version, created_at, updated_at
        ${from}
        order by name, id ${limit}`,
    maxItems,
    tooLong: () =>
      new ListTooLongError(
        `Cannot list categories: more than ${maxItems} match, the most an unpaged list ` +
          "answers; page through them with PageCategories",
        { entity: "categories", limit: maxItems },
      ),
    signal: options.signal,
  });
  return { categories: rows.map(categoryOf), totalCount };
}

/**
 * One keyset page of the categories whose name contains filter.nameContains
 * (all without it), sorted by name or creation time (ties by id) either way,
 * with the count of all matches.
 */
export async function pageCategories(
  sql: postgres.Sql,
  request: PageCategoriesRequest,
  options: ReadOptions = {},
): Promise<CategoryPage> {
  const { signal } = options;
  const errors: FieldError[] = [];
  const args = keysetArguments(request, ["NAME", "CREATED_AT"], errors);
  const nameContains = request.filter?.nameContains || undefined;
  if (nameContains !== undefined && nameContains.length > MAX_SEARCH_LENGTH) {
    errors.push({
      field: "filter.nameContains",
      message: `Must be at most ${MAX_SEARCH_LENGTH} characters`,
    });
  }
  if (errors.length > 0) throw new InvalidArgumentError("page categories", errors);

  // Count and page from one snapshot, so the total agrees with the page.
  return await sql.begin("isolation level repeatable read read only", async (tx) => {
    const matches = nameContains === undefined
      ? tx`true`
      : tx`name ilike ${containsPattern(nameContains)}`;
    const keyset = keysetSql(tx, args);
    const rows = await cancellable(
      tx<(CategoryRow & KeyedRow)[]>`
        select id, name, product_count, version, created_at, updated_at, ${keyset.sortKey}
        from category_view
        where ${matches} and ${keyset.after}
        ${keyset.orderAndLimit}`,
      signal,
    );
    // Without a filter the maintained statistics have the count: no scan.
    const [count] = await cancellable(
      nameContains === undefined
        ? tx<{ total: number }[]>`select category_count::int as total from category_statistics`
        : tx<{ total: number }[]>`
          select count(*)::int as total from category_view where ${matches}`,
      signal,
    );
    const [previous] = args.after
      ? await cancellable(
        tx<{ exists: boolean }[]>`
          select exists (select 1 from category_view where ${matches} and ${keyset.before})`,
        signal,
      )
      : [{ exists: false }];
    return {
      ...pageOf(rows, { args, hasPreviousPage: previous?.exists ?? false }, categoryOf),
      totalCount: count?.total ?? 0,
    };
  });
}

/**
 * How many categories there are, and how many of them have products. Read
 * from category_statistics, which triggers keep up to date as category_view
 * changes (see the read migration 003), not from the categories.
 */
export async function getCategoryStatistics(sql: postgres.Sql): Promise<CategoryStatistics> {
  const [row] = await sql<CategoryStatistics[]>`
    select
      category_count::int as "totalCount",
      with_products_count::int as "withProductsCount",
      (category_count - with_products_count)::int as "emptyCount"
    from category_statistics`;
  return row ?? { totalCount: 0, withProductsCount: 0, emptyCount: 0 };
}
