import type postgres from "postgres";
import type { FieldError, Page } from "@catalog/proto";
import { cancellable } from "./cancellable.ts";

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

/** How the reads of one call are bounded. */
export interface ReadOptions {
  /**
   * Most rows an unpaged list answers, and the largest page; a longer list
   * fails with ListTooLongError. Default queryLimitDefaults.maxListItems (1000).
   */
  maxListItems?: number;
  /** Aborts when the caller cancels the call: its statements are cancelled in the database. */
  signal?: AbortSignal;
}

type Queryable = postgres.Sql | postgres.TransactionSql;

/**
 * The rows of a list in a page window and the total count, both as of one
 * snapshot. Unpaged, the rows are the count: one statement, no transaction,
 * so one round trip to the database, which reads one row more than maxItems
 * to tell a list that fits from one that does not. Paged, the page and the
 * count run in one read-only repeatable-read transaction, so the total agrees
 * with the page.
 *
 * @throws the error of list.tooLong() for an unpaged list of more than list.maxItems rows.
 */
export async function listInWindow<Row extends postgres.Row>(
  sql: postgres.Sql,
  window: PageWindow,
  list: {
    /** The list's `from … where …`. */
    from: (q: Queryable) => postgres.Fragment;
    /** The list's rows in order, with `limit` last. */
    select: (
      q: Queryable,
      from: postgres.Fragment,
      limit: postgres.Fragment,
    ) => postgres.PendingQuery<Row[]>;
    /** Most rows the list may have unpaged. */
    maxItems: number;
    /** The error of an unpaged list longer than maxItems. */
    tooLong: () => Error;
    /** Cancels the statements when it aborts. */
    signal?: AbortSignal;
  },
): Promise<{ rows: Row[]; totalCount: number }> {
  if (window.limit === undefined) {
    const rows = await cancellable(
      list.select(sql, list.from(sql), sql`limit ${list.maxItems + 1}`),
      list.signal,
    );
    if (rows.length > list.maxItems) throw list.tooLong();
    return { rows, totalCount: rows.length };
  }
  const { limit, offset } = window;
  return await sql.begin("isolation level repeatable read read only", async (tx) => {
    const from = list.from(tx);
    const rows = await cancellable(
      list.select(tx, from, tx`limit ${limit} offset ${offset}`),
      list.signal,
    );
    const [count] = await cancellable(
      tx<{ total: number }[]>`select count(*)::int as total ${from}`,
      list.signal,
    );
    return { rows, totalCount: count?.total ?? 0 };
  });
}

/**
 * The window of a 1-based page (0 means 1); perPage 0 means everything.
 * A perPage above maxPerPage is refused, as it would answer a longer list
 * than an unpaged one may be.
 */
export function pageWindow(
  page: Page | undefined,
  maxPerPage = Number.POSITIVE_INFINITY,
): { window: PageWindow; errors: FieldError[] } {
  const number = page?.page ?? 0;
  const perPage = page?.perPage ?? 0;
  const errors: FieldError[] = [];
  if (number < 0) errors.push({ field: "page.page", message: "Must not be negative" });
  if (perPage < 0) errors.push({ field: "page.perPage", message: "Must not be negative" });
  if (perPage > maxPerPage) {
    errors.push({ field: "page.perPage", message: `Must be at most ${maxPerPage}` });
  }
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
