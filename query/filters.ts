import type postgres from "postgres";
import type { FieldError, Page } from "@catalog/proto";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DECIMAL = /^\d{1,12}(\.\d+)?$/;

/** The field errors of ids that are not UUIDs ("ids[1]: Must be a UUID"). */
export function uuidErrors(field: string, ids: readonly string[]): FieldError[] {
  return ids.flatMap((id, index) =>
    UUID.test(id) ? [] : [{ field: `${field}[${index}]`, message: "Must be a UUID" }]
  );
}

/** Whether text is a UUID, in any case. */
export function isUuid(text: string): boolean {
  return UUID.test(text);
}

/** Whether text is a non-negative decimal such as "10", "10.5" or "19.99". */
export function isDecimal(text: string): boolean {
  return DECIMAL.test(text);
}

/** An ILIKE pattern matching names that contain text, with its wildcards taken literally. */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
}

/** LIMIT and OFFSET of a page; limit undefined means every row. */
export interface PageWindow {
  limit: number | undefined;
  offset: number;
}

type Queryable = postgres.Sql | postgres.TransactionSql;

/**
 * The rows of a list in a page window and the total count, both as of one
 * snapshot. Unpaged, the rows are the count: one statement, no transaction,
 * so one round trip to the database. Paged, the page and the count run in one
 * read-only repeatable-read transaction, so the total agrees with the page.
 */
export async function listInWindow<Row>(
  sql: postgres.Sql,
  window: PageWindow,
  list: {
    /** The list's `from … where …`. */
    from: (q: Queryable) => postgres.Fragment;
    /** The list's rows in order, with `limit` last. */
    select: (q: Queryable, from: postgres.Fragment, limit: postgres.Fragment) => Promise<Row[]>;
  },
): Promise<{ rows: Row[]; totalCount: number }> {
  if (window.limit === undefined) {
    const rows = await list.select(sql, list.from(sql), sql``);
    return { rows, totalCount: rows.length };
  }
  const { limit, offset } = window;
  return await sql.begin("isolation level repeatable read read only", async (tx) => {
    const from = list.from(tx);
    const rows = await list.select(tx, from, tx`limit ${limit} offset ${offset}`);
    const [count] = await tx<{ total: number }[]>`select count(*)::int as total ${from}`;
    return { rows, totalCount: count?.total ?? 0 };
  });
}

/** The window of a 1-based page (0 means 1); perPage 0 means everything. */
export function pageWindow(page: Page | undefined): { window: PageWindow; errors: FieldError[] } {
  const number = page?.page ?? 0;
  const perPage = page?.perPage ?? 0;
  const errors: FieldError[] = [];
  if (number < 0) errors.push({ field: "page.page", message: "Must not be negative" });
  if (perPage < 0) errors.push({ field: "page.perPage", message: "Must not be negative" });
  if (errors.length > 0 || perPage === 0) {
    return { window: { limit: undefined, offset: 0 }, errors };
  }
  return { window: { limit: perPage, offset: (Math.max(number, 1) - 1) * perPage }, errors };
}

/** -1, 0 or 1 as decimal a is below, equal to or above decimal b (both as isDecimal() accepts). */
export function compareDecimals(a: string, b: string): number {
  const [aWhole = "", aFraction = ""] = a.split(".");
  const [bWhole = "", bFraction = ""] = b.split(".");
  const wholeA = aWhole.replace(/^0+(?=\d)/, "");
  const wholeB = bWhole.replace(/^0+(?=\d)/, "");
  const width = Math.max(aFraction.length, bFraction.length);
  const digitsA = wholeA.padStart(wholeB.length, "0") + aFraction.padEnd(width, "0");
  const digitsB = wholeB.padStart(wholeA.length, "0") + bFraction.padEnd(width, "0");
  return digitsA < digitsB ? -1 : digitsA > digitsB ? 1 : 0;
}
