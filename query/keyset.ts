import type postgres from "postgres";
import type { FieldError, PageInfo } from "@catalog/proto";
import { isDecimal, isUuid } from "./filters.ts";

/**
 * Keyset pages: rows sorted by one key with the id as tie-breaker, each page
 * starting after the (key, id) of a cursor. Unlike an offset, a cursor names
 * a place in the order, so rows written between two pages neither repeat nor
 * push rows out of the next page.
 */

/** Rows a page holds when the caller does not say. */
export const DEFAULT_PAGE_SIZE = 20;
/** Most rows a page holds. */
export const MAX_PAGE_SIZE = 100;

/** The keys a page can be sorted by, and how each one is spelled in a cursor. */
export type SortKey = "NAME" | "PRICE" | "CREATED_AT";

/** Where a page starts: after the row with this sort key (as text) and id. */
export interface CursorPosition {
  key: string;
  id: string;
}

/** A page's arguments, checked. */
export interface KeysetArguments {
  /** Rows to return (0 to MAX_PAGE_SIZE). */
  limit: number;
  sort: SortKey;
  descending: boolean;
  /** Undefined for the first page. */
  after: CursorPosition | undefined;
}

/** A page's arguments as the request has them. */
export interface KeysetRequest {
  first?: number;
  after?: string;
  sort?: string;
  direction?: string;
}

/** Microsecond UTC timestamps, as created_at is written into cursors. */
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

function toBase64Url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** The text base64url encodes, or undefined if it is not base64url of UTF-8. */
function fromBase64Url(encoded: string): string | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(encoded)) return undefined;
  try {
    const binary = atob(encoded.replaceAll("-", "+").replaceAll("_", "/"));
    const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** The opaque cursor of a row: base64url of JSON holding the sort, the row's key and its id. */
export function encodeCursor(sort: SortKey, position: CursorPosition): string {
  return toBase64Url(JSON.stringify({ s: sort, k: position.key, id: position.id }));
}

/** Why a key cannot be one of this sort's, or undefined if it can. */
function keyProblem(sort: SortKey, key: string): string | undefined {
  switch (sort) {
    case "NAME":
      return undefined;
    case "PRICE":
      return isDecimal(key) ? undefined : `its price "${key}" is not a decimal`;
    case "CREATED_AT":
      return TIMESTAMP.test(key) && !Number.isNaN(Date.parse(`${key.slice(0, 23)}Z`))
        ? undefined
        : `its timestamp "${key}" is not an ISO-8601 UTC time`;
  }
}

/**
 * The position a cursor names, or the error that says why it names none:
 * not a cursor at all, or one made for another sort.
 */
export function decodeCursor(
  cursor: string,
  sort: SortKey,
): { position: CursorPosition } | { error: string } {
  const text = fromBase64Url(cursor);
  let parsed: unknown;
  try {
    parsed = text === undefined ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const { s, k, id } = (parsed ?? {}) as Record<string, unknown>;
  if (typeof s !== "string" || typeof k !== "string" || typeof id !== "string") {
    return { error: "Must be a cursor this list gave (an edge's cursor or pageInfo.endCursor)" };
  }
  if (s !== sort) {
    return {
      error: `Must be a cursor of a list sorted by ${sort}; this one is of one sorted by ${s}`,
    };
  }
  if (!isUuid(id)) return { error: "Must be a cursor this list gave: its id is not a UUID" };
  const problem = keyProblem(sort, k);
  if (problem) return { error: `Must be a cursor this list gave: ${problem}` };
  return { position: { key: k, id: id.toLowerCase() } };
}

/**
 * Checks a page's arguments: first from 0 to MAX_PAGE_SIZE (absent means
 * DEFAULT_PAGE_SIZE), a sort among those given ("" means the first), ASC or
 * DESC ("" means ASC), and a cursor of that sort. Problems are pushed onto
 * errors, named by field.
 */
export function keysetArguments(
  request: KeysetRequest,
  sorts: readonly SortKey[],
  errors: FieldError[],
): KeysetArguments {
  const limit = request.first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 0 || limit > MAX_PAGE_SIZE) {
    errors.push({ field: "first", message: `Must be from 0 to ${MAX_PAGE_SIZE}` });
  }
  const sort = (request.sort || sorts[0]) as SortKey;
  if (!sorts.includes(sort)) {
    errors.push({ field: "sort", message: `Must be one of ${sorts.join(", ")}` });
  }
  const direction = request.direction || "ASC";
  if (direction !== "ASC" && direction !== "DESC") {
    errors.push({ field: "direction", message: "Must be ASC or DESC" });
  }
  let after: CursorPosition | undefined;
  if (request.after && sorts.includes(sort)) {
    const decoded = decodeCursor(request.after, sort);
    if ("error" in decoded) errors.push({ field: "after", message: decoded.error });
    else after = decoded.position;
  }
  return { limit, sort, descending: direction === "DESC", after };
}

/** Row of a page query: the sort key as text (for its cursor) and the id. */
export interface KeyedRow {
  id: string;
  sort_key: string;
}

/**
 * The edges and page info of a page, from up to limit + 1 rows (one more
 * than the page holds, to tell whether a next page exists).
 */
export function pageOf<Row extends KeyedRow, Node>(
  rows: Row[],
  page: { args: KeysetArguments; hasPreviousPage: boolean },
  nodeOf: (row: Row) => Node,
): { edges: { cursor: string; node: Node }[]; pageInfo: PageInfo } {
  const { limit, sort } = page.args;
  const edges = rows.slice(0, limit).map((row) => ({
    cursor: encodeCursor(sort, { key: row.sort_key, id: row.id }),
    node: nodeOf(row),
  }));
  return {
    edges,
    pageInfo: {
      hasNextPage: rows.length > limit,
      hasPreviousPage: page.hasPreviousPage,
      startCursor: edges[0]?.cursor ?? "",
      endCursor: edges.at(-1)?.cursor ?? "",
    },
  };
}

/**
 * The SQL of each sort key: its column, the key as the text a cursor keeps
 * (exactly, so that comparing with it again finds the same place: prices to
 * the cent, timestamps to the microsecond) and that text cast back.
 */
function keySql(tx: postgres.TransactionSql, sort: SortKey) {
  switch (sort) {
    case "NAME":
      return { column: tx`name`, text: tx`name`, cast: (key: string) => tx`${key}::text` };
    case "PRICE":
      return {
        column: tx`price`,
        text: tx`price::text`,
        cast: (key: string) => tx`${key}::numeric`,
      };
    case "CREATED_AT":
      return {
        column: tx`created_at`,
        text: tx`to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
        cast: (key: string) => tx`${key}::timestamptz`,
      };
  }
}

/** The SQL pieces of one keyset page over a table with the sort's columns and an id. */
export interface KeysetSql {
  /** Select item: the sort key as text, named sort_key. */
  sortKey: postgres.Fragment;
  /** Condition: rows after the cursor in the page's order (true on the first page). */
  after: postgres.Fragment;
  /** Condition: rows before the page, the cursor's own row included (false on the first). */
  before: postgres.Fragment;
  /** ORDER BY … LIMIT limit + 1 (the extra row tells whether a next page exists). */
  orderAndLimit: postgres.Fragment;
}

/** The SQL of a page: row comparisons on (key, id), which the (key, id) indexes serve. */
export function keysetSql(tx: postgres.TransactionSql, args: KeysetArguments): KeysetSql {
  const key = keySql(tx, args.sort);
  const order = args.descending ? tx`desc` : tx`asc`;
  let after = tx`true`;
  let before = tx`false`;
  if (args.after) {
    const position = tx`(${key.cast(args.after.key)}, ${args.after.id}::uuid)`;
    after = args.descending
      ? tx`(${key.column}, id) < ${position}`
      : tx`(${key.column}, id) > ${position}`;
    before = args.descending
      ? tx`(${key.column}, id) >= ${position}`
      : tx`(${key.column}, id) <= ${position}`;
  }
  return {
    sortKey: tx`${key.text} as sort_key`,
    after,
    before,
    orderAndLimit: tx`order by ${key.column} ${order}, id ${order} limit ${args.limit + 1}`,
  };
}
