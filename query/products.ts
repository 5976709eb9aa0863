import type postgres from "postgres";
import type {
  FieldError,
  ListProductsRequest,
  PageProductsRequest,
  Product,
  ProductList,
  ProductPage,
  ProductStatistics,
} from "@catalog/proto";
import { cancellable } from "./cancellable.ts";
import { queryLimitDefaults } from "./config.ts";
import { InvalidArgumentError, ListTooLongError } from "./errors.ts";
import {
  compareDecimals,
  containsPattern,
  isDecimal,
  isUuid,
  listInWindow,
  pageWindow,
  type ReadOptions,
  uuidErrors,
} from "./filters.ts";
import { type KeyedRow, keysetArguments, keysetSql, pageOf } from "./keyset.ts";

/**
 * Longest name_contains a search takes: the longest name a product may have,
 * since a longer term can match nothing.
 */
const MAX_SEARCH_LENGTH = 200;

interface ProductRow {
  id: string;
  name: string;
  price: string;
  category_id: string;
  category_name: string;
  version: number;
  created_at: Date;
  updated_at: Date;
}

function productOf(row: ProductRow): Product {
  return {
    id: row.id,
    name: row.name,
    price: row.price,
    categoryId: row.category_id,
    categoryName: row.category_name,
    version: row.version,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** Products with these ids, by name; unknown ids are left out. */
export async function getProducts(
  sql: postgres.Sql,
  ids: string[],
  options: ReadOptions = {},
): Promise<ProductList> {
  const errors = uuidErrors("ids", ids);
  if (errors.length > 0) throw new InvalidArgumentError("get products", errors);
  if (ids.length === 0) return { products: [], totalCount: 0 };
  const rows = await cancellable(
    sql<ProductRow[]>`
      select id, name, price, category_id, category_name, version, created_at, updated_at
      from product_view
      where id = any(${ids}::uuid[])
      order by name, id`,
    options.signal,
  );
  return { products: rows.map(productOf), totalCount: rows.length };
}

/**
 * A price bound as given, or undefined when absent or blank (so a caller that
 * sends "" for "no bound" is understood).
 */
function priceBound(field: string, text: string | undefined, errors: FieldError[]) {
  const trimmed = text?.trim();
  if (!trimmed) return undefined;
  if (!isDecimal(trimmed)) {
    errors.push({ field, message: "Must be a decimal number, like 19.99" });
    return undefined;
  }
  return trimmed;
}

/**
 * The error of an unpaged list of products longer than maxItems. For the
 * products of given categories the limit counts them all together: the
 * gateway asks for the products of every category a request lists in one
 * call, and a limit per category would let that one call answer maxItems
 * times the number of categories.
 */
function productsTooLong(maxItems: number, categoryIds: string[]): ListTooLongError {
  const most = "the most an unpaged list answers";
  if (categoryIds.length === 0) {
    return new ListTooLongError(
      `Cannot list products: more than ${maxItems} match, ${most}; ` +
        "page through them with PageProducts",
      { entity: "products", limit: maxItems },
    );
  }
  const count = categoryIds.length;
  const which = count === 1 ? "1 category: it has" : `${count} categories: together they have`;
  return new ListTooLongError(
    `Cannot list the products of ${which} more than ${maxItems}, ${most}; ` +
      "page through each category's products with PageProducts (filter.categoryId)",
    { entity: "products", limit: maxItems, categoryCount: count },
  );
}

/**
 * Products matching the filters, ordered by name then id, one page of them,
 * or all of them up to options.maxListItems.
 *
 * @throws {ListTooLongError} when unpaged and more than options.maxListItems match.
 */
export async function listProducts(
  sql: postgres.Sql,
  request: ListProductsRequest,
  options: ReadOptions = {},
): Promise<ProductList> {
  const maxItems = options.maxListItems ?? queryLimitDefaults.maxListItems;
  const { window, errors } = pageWindow(request.page, maxItems);
  const categoryIds = request.categoryIds ?? [];
  errors.push(...uuidErrors("categoryIds", categoryIds));
  const minPrice = priceBound("minPrice", request.minPrice, errors);
  const maxPrice = priceBound("maxPrice", request.maxPrice, errors);
  if (request.nameContains && request.nameContains.length > MAX_SEARCH_LENGTH) {
    errors.push({
      field: "nameContains",
      message: `Must be at most ${MAX_SEARCH_LENGTH} characters`,
    });
  }
  if (errors.length > 0) throw new InvalidArgumentError("list products", errors);

  const whereOf = (q: postgres.Sql | postgres.TransactionSql) => {
    const conditions = [];
    if (request.name !== undefined) conditions.push(q`lower(name) = lower(${request.name.trim()})`);
    if (request.nameContains) {
      conditions.push(q`name ilike ${containsPattern(request.nameContains)} escape '\\'`);
    }
    if (categoryIds.length > 0) conditions.push(q`category_id = any(${categoryIds}::uuid[])`);
    if (minPrice !== undefined) conditions.push(q`price >= ${minPrice}::numeric`);
    if (maxPrice !== undefined) conditions.push(q`price <= ${maxPrice}::numeric`);
    return conditions.reduce((clause, condition) => q`${clause} and ${condition}`, q`where true`);
  };
  const { rows, totalCount } = await listInWindow(sql, window, {
    // A name search takes its matches from the trigram index, then sorts
    // them: OFFSET 0 keeps the planner from walking the sort's index instead
    // to fill the LIMIT early, which reads most of the table when the matches
    // are many or sit at the far end of the order.
    from: (q) =>
      request.nameContains
        ? q`from (select * from product_view ${whereOf(q)} offset 0) as matches`
        : q`from product_view ${whereOf(q)}`,
    select: (q, from, limit) =>
      q<ProductRow[]>`
        select id, name, price, category_id, category_name, version, created_at, updated_at
        ${from}
        order by name, id ${limit}`,
    maxItems,
    tooLong: () => productsTooLong(maxItems, categoryIds),
    signal: options.signal,
  });
  return { products: rows.map(productOf), totalCount };
}

/** The filter of a product page, checked; problems pushed onto errors as filter.<field>. */
function productFilterOf(request: PageProductsRequest, errors: FieldError[]) {
  const filter = request.filter ?? {};
  const categoryId = filter.categoryId?.trim() || undefined;
  if (categoryId !== undefined && !isUuid(categoryId)) {
    errors.push({ field: "filter.categoryId", message: "Must be a UUID" });
  }
  const minPrice = priceBound("filter.minPrice", filter.minPrice, errors);
  const maxPrice = priceBound("filter.maxPrice", filter.maxPrice, errors);
  if (minPrice !== undefined && maxPrice !== undefined && compareDecimals(minPrice, maxPrice) > 0) {
    errors.push({
      field: "filter.minPrice",
      message: `Must not exceed filter.maxPrice (${minPrice} > ${maxPrice})`,
    });
  }
  const nameContains = filter.nameContains || undefined;
  if (nameContains !== undefined && nameContains.length > MAX_SEARCH_LENGTH) {
    errors.push({
      field: "filter.nameContains",
      message: `Must be at most ${MAX_SEARCH_LENGTH} characters`,
    });
  }
  return { categoryId, minPrice, maxPrice, nameContains };
}

/**
 * One keyset page of the products matching the filter, sorted by name, price
 * or creation time (ties by id) either way, with the count of all matches.
 */
export async function pageProducts(
  sql: postgres.Sql,
  request: PageProductsRequest,
  options: ReadOptions = {},
): Promise<ProductPage> {
  const { signal } = options;
  const errors: FieldError[] = [];
  const args = keysetArguments(request, ["NAME", "PRICE", "CREATED_AT"], errors);
  const filter = productFilterOf(request, errors);
  if (errors.length > 0) throw new InvalidArgumentError("page products", errors);

  // Count and page from one snapshot, so the total agrees with the page.
  return await sql.begin("isolation level repeatable read read only", async (tx) => {
    const conditions = [];
    if (filter.categoryId) conditions.push(tx`category_id = ${filter.categoryId}::uuid`);
    if (filter.minPrice !== undefined) conditions.push(tx`price >= ${filter.minPrice}::numeric`);
    if (filter.maxPrice !== undefined) conditions.push(tx`price <= ${filter.maxPrice}::numeric`);
    if (filter.nameContains !== undefined) {
      conditions.push(tx`name ilike ${containsPattern(filter.nameContains)}`);
    }
    const matches = conditions.reduce(
      (clause, condition) => tx`${clause} and ${condition}`,
      tx`true`,
    );
    const keyset = keysetSql(tx, args);
    // A name search takes its matches from the trigram index once, counts
    // them and sorts them. Left to itself, the planner may walk the sort's
    // index instead, hoping to meet the page's matches early, and read most of
    // the table when they sit at the far end of the order (names that start
    // with the term).
    const searched = filter.nameContains === undefined
      ? { with: tx``, from: tx`product_view`, total: tx`null::int` }
      : {
        with: tx`with searched as materialized (select * from product_view where ${matches})`,
        from: tx`searched`,
        total: tx`(select count(*) from searched)::int`,
      };
    const rows = await cancellable(
      tx<(ProductRow & KeyedRow & { total: number | null })[]>`
        ${searched.with}
        select id, name, price, category_id, category_name, version, created_at, updated_at,
          ${keyset.sortKey}, ${searched.total} as total
        from ${searched.from}
        where ${matches} and ${keyset.after}
        ${keyset.orderAndLimit}`,
      signal,
    );
    const totalCount = rows[0]?.total ??
      await countProducts(tx, { matches, filtered: conditions.length > 0, signal });
    const [previous] = args.after
      ? await cancellable(
        tx<{ exists: boolean }[]>`
          select exists (select 1 from product_view where ${matches} and ${keyset.before})`,
        signal,
      )
      : [{ exists: false }];
    return {
      ...pageOf(rows, { args, hasPreviousPage: previous?.exists ?? false }, productOf),
      totalCount,
    };
  });
}

/** How many products match; without a filter, from the maintained statistics (no scan). */
async function countProducts(
  tx: postgres.TransactionSql,
  count: { matches: postgres.Fragment; filtered: boolean; signal: AbortSignal | undefined },
): Promise<number> {
  const [row] = await cancellable(
    count.filtered
      ? tx<
        { total: number }[]
      >`select count(*)::int as total from product_view where ${count.matches}`
      : tx<{ total: number }[]>`select product_count::int as total from product_statistics`,
    count.signal,
  );
  return row?.total ?? 0;
}

/**
 * Count, average (rounded to cents), total, lowest and highest price, as
 * decimal strings in SQL numeric; empty strings when there are no products.
 * Read from product_statistics, which triggers keep up to date as
 * product_view changes (see the read migration 003), not from the products.
 */
export async function getProductStatistics(sql: postgres.Sql): Promise<ProductStatistics> {
  const [row] = await sql<ProductStatistics[]>`
    select
      product_count::int as "totalCount",
      case when product_count = 0 then '' else round(total_value / product_count, 2)::text end
        as "averagePrice",
      case when product_count = 0 then '' else total_value::text end as "totalValue",
      coalesce(min_price::text, '') as "minPrice",
      coalesce(max_price::text, '') as "maxPrice"
    from product_statistics`;
  return row ?? { totalCount: 0, averagePrice: "", totalValue: "", minPrice: "", maxPrice: "" };
}
