import type postgres from "postgres";
import type {
  Category,
  CategoryList,
  CategoryStatistics,
  ListCategoriesRequest,
} from "@catalog/proto";
import { InvalidArgumentError } from "./errors.ts";
import { containsPattern, pageWindow, uuidErrors } from "./filters.ts";

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
export async function getCategories(sql: postgres.Sql, ids: string[]): Promise<CategoryList> {
  const errors = uuidErrors("ids", ids);
  if (errors.length > 0) throw new InvalidArgumentError("get categories", errors);
  if (ids.length === 0) return { categories: [], totalCount: 0 };
  const rows = await sql<CategoryRow[]>`
    select id, name, product_count, version, created_at, updated_at
    from category_view
    where id = any(${ids}::uuid[])
    order by name, id`;
  return { categories: rows.map(categoryOf), totalCount: rows.length };
}

/** Categories matching the filters, ordered by name then id, one page of them. */
export async function listCategories(
  sql: postgres.Sql,
  request: ListCategoriesRequest,
): Promise<CategoryList> {
  const { window, errors } = pageWindow(request.page);
  if (errors.length > 0) throw new InvalidArgumentError("list categories", errors);
  // Count and page from one snapshot, so the total agrees with the page.
  return await sql.begin("isolation level repeatable read read only", async (tx) => {
    const conditions = [];
    if (request.name !== undefined) {
      conditions.push(tx`lower(name) = lower(${request.name.trim()})`);
    }
    if (request.nameContains) {
      conditions.push(tx`name ilike ${containsPattern(request.nameContains)} escape '\\'`);
    }
    const where = conditions.reduce(
      (clause, condition) => tx`${clause} and ${condition}`,
      tx`where true`,
    );
    const [count] = await tx<{ total: number }[]>`
      select count(*)::int as total from category_view ${where}`;
    const limit = window.limit === undefined
      ? tx``
      : tx`limit ${window.limit} offset ${window.offset}`;
    const rows = await tx<CategoryRow[]>`
      select id, name, product_count, version, created_at, updated_at
      from category_view ${where}
      order by name, id ${limit}`;
    return { categories: rows.map(categoryOf), totalCount: count?.total ?? 0 };
  });
}

/** How many categories there are, and how many of them have products. */
export async function getCategoryStatistics(sql: postgres.Sql): Promise<CategoryStatistics> {
  const [row] = await sql<CategoryStatistics[]>`
    select
      count(*)::int as "totalCount",
      (count(*) filter (where product_count > 0))::int as "withProductsCount",
      (count(*) filter (where product_count = 0))::int as "emptyCount"
    from category_view`;
  return row ?? { totalCount: 0, withProductsCount: 0, emptyCount: 0 };
}
