import type postgres from "postgres";
import type {
  FieldError,
  ListProductsRequest,
  Product,
  ProductList,
  ProductStatistics,
} from "@catalog/proto";
import { InvalidArgumentError } from "./errors.ts";
import { containsPattern, isDecimal, pageWindow, uuidErrors } from "./filters.ts";

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
export async function getProducts(sql: postgres.Sql, ids: string[]): Promise<ProductList> {
  const errors = uuidErrors("ids", ids);
  if (errors.length > 0) throw new InvalidArgumentError("get products", errors);
  if (ids.length === 0) return { products: [], totalCount: 0 };
  const rows = await sql<ProductRow[]>`
    select id, name, price, category_id, category_name, version, created_at, updated_at
    from product_view
    where id = any(${ids}::uuid[])
    order by name, id`;
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

/** Products matching the filters, ordered by name then id, one page of them. */
export async function listProducts(
  sql: postgres.Sql,
  request: ListProductsRequest,
): Promise<ProductList> {
  const { window, errors } = pageWindow(request.page);
  const categoryIds = request.categoryIds ?? [];
  errors.push(...uuidErrors("categoryIds", categoryIds));
  const minPrice = priceBound("minPrice", request.minPrice, errors);
  const maxPrice = priceBound("maxPrice", request.maxPrice, errors);
  if (errors.length > 0) throw new InvalidArgumentError("list products", errors);

  // Count and page from one snapshot, so the total agrees with the page.
  return await sql.begin("isolation level repeatable read read only", async (tx) => {
    const conditions = [];
    if (request.name !== undefined) {
      conditions.push(tx`lower(name) = lower(${request.name.trim()})`);
    }
    if (request.nameContains) {
      conditions.push(tx`name ilike ${containsPattern(request.nameContains)} escape '\\'`);
    }
    if (categoryIds.length > 0) conditions.push(tx`category_id = any(${categoryIds}::uuid[])`);
    if (minPrice !== undefined) conditions.push(tx`price >= ${minPrice}::numeric`);
    if (maxPrice !== undefined) conditions.push(tx`price <= ${maxPrice}::numeric`);
    const where = conditions.reduce(
      (clause, condition) => tx`${clause} and ${condition}`,
      tx`where true`,
    );
    const [count] = await tx<{ total: number }[]>`
      select count(*)::int as total from product_view ${where}`;
    const limit = window.limit === undefined
      ? tx``
      : tx`limit ${window.limit} offset ${window.offset}`;
    const rows = await tx<ProductRow[]>`
      select id, name, price, category_id, category_name, version, created_at, updated_at
      from product_view ${where}
      order by name, id ${limit}`;
    return { products: rows.map(productOf), totalCount: count?.total ?? 0 };
  });
}

/**
 * Count, average (rounded to cents), total, lowest and highest price, as
 * decimal strings computed in SQL numeric; empty strings when there are no products.
 */
export async function getProductStatistics(sql: postgres.Sql): Promise<ProductStatistics> {
  const [row] = await sql<ProductStatistics[]>`
    select
      count(*)::int as "totalCount",
      coalesce(round(avg(price), 2)::text, '') as "averagePrice",
      coalesce(sum(price)::text, '') as "totalValue",
      coalesce(min(price)::text, '') as "minPrice",
      coalesce(max(price)::text, '') as "maxPrice"
    from product_view`;
  return row ?? { totalCount: 0, averagePrice: "", totalValue: "", minPrice: "", maxPrice: "" };
}
