/**
 * Compares the read model with the write model it is projected from: every
 * category, every product, every handled command's outcome and the
 * statistics, field by field. The work behind `deno task verify`.
 */
import type postgres from "postgres";
import { differencesOf, type ModelDifference, type Row } from "./model_differences.ts";

export type { ModelDifference } from "./model_differences.ts";

/** What compareModels() found. */
export interface ModelComparison {
  /** Rows compared, per kind, on the write side. */
  counts: { categories: number; products: number; commands: number };
  differences: ModelDifference[];
}

// Every column is read as text, so values compare exactly as stored.
const writeCategories = (sql: postgres.Sql) =>
  sql<Row[]>`
    select c.id::text, c.name, c.version::text,
      (select count(*) from products p where p.category_id = c.id)::text as product_count,
      c.created_at::text, c.updated_at::text
    from categories c`;
const readCategories = (sql: postgres.Sql) =>
  sql<Row[]>`
    select id::text, name, version::text, product_count::text, created_at::text, updated_at::text
    from category_view`;
const writeProducts = (sql: postgres.Sql) =>
  sql<Row[]>`
    select p.id::text, p.name, p.price::text, p.category_id::text, c.name as category_name,
      p.version::text, p.created_at::text, p.updated_at::text
    from products p join categories c on c.id = p.category_id`;
const readProducts = (sql: postgres.Sql) =>
  sql<Row[]>`
    select id::text, name, price::text, category_id::text, category_name, version::text,
      created_at::text, updated_at::text
    from product_view`;
const writeCommands = (sql: postgres.Sql) =>
  sql<Row[]>`
    select command_id::text as id, type, aggregate_id::text, status, code, message,
      current_version::text, accepted_at::text, handled_at::text
    from commands`;
// ACCEPTED and FAILED rows have no counterpart in the write model: they are
// commands not handled yet, or dead-lettered.
const readCommands = (sql: postgres.Sql) =>
  sql<Row[]>`
    select command_id::text as id, type, aggregate_id::text, status, code, message,
      current_version::text, accepted_at::text, handled_at::text
    from command_view where status in ('APPLIED', 'REJECTED')`;

// The statistics as the write model has them, and as the read model keeps them.
const writeStatistics = async (sql: postgres.Sql) => [
  ...await sql<Row[]>`
    select 'products' as id, count(*)::text as product_count,
      coalesce(sum(price), 0)::numeric(16, 2)::text as total_value,
      min(price)::text as min_price, max(price)::text as max_price
    from products`,
  ...await sql<Row[]>`
    select 'categories' as id, count(*)::text as category_count,
      count(*) filter (
        where exists (select 1 from products p where p.category_id = c.id)
      )::text as with_products_count
    from categories c`,
];
const readStatistics = async (sql: postgres.Sql) => [
  ...await sql<Row[]>`
    select 'products' as id, product_count::text, total_value::text, min_price::text,
      max_price::text
    from product_statistics`,
  ...await sql<Row[]>`
    select 'categories' as id, category_count::text, with_products_count::text
    from category_statistics`,
];

/** Compares the two models as they are now. */
export async function compareModels(
  write: postgres.Sql,
  read: postgres.Sql,
): Promise<ModelComparison> {
  const [categories, products, commands, statistics] = await Promise.all([
    Promise.all([writeCategories(write), readCategories(read)]),
    Promise.all([writeProducts(write), readProducts(read)]),
    Promise.all([writeCommands(write), readCommands(read)]),
    Promise.all([writeStatistics(write), readStatistics(read)]),
  ]);
  return {
    counts: {
      categories: categories[0].length,
      products: products[0].length,
      commands: commands[0].length,
    },
    differences: [
      ...differencesOf("category", { write: categories[0], read: categories[1] }),
      ...differencesOf("product", { write: products[0], read: products[1] }),
      ...differencesOf("command", { write: commands[0], read: commands[1] }),
      ...differencesOf("statistics", { write: statistics[0], read: statistics[1] }),
    ],
  };
}

/** Where a log ends: its last (transaction id, position). */
interface LogEnd {
  transactionId: bigint;
  position: bigint;
}

/** How far the write logs go, and how far the projection has applied them. */
async function progress(write: postgres.Sql, read: postgres.Sql) {
  const [logs] = await write<{ events: string | null; commands: string | null }[]>`
    select
      (select transaction_id::text || ' ' || position from events
        order by transaction_id desc, position desc limit 1) as events,
      (select transaction_id::text || ' ' || position from commands
        order by transaction_id desc, position desc limit 1) as commands`;
  const marks = await read<{ name: string; mark: string }[]>`
    select name, transaction_id::text || ' ' || position as mark from projection_checkpoints
    where name in ('events', 'commands')`;
  const parse = (text: string | null | undefined): LogEnd => {
    const [transactionId, position] = (text ?? "0 0").split(" ");
    return { transactionId: BigInt(transactionId!), position: BigInt(position!) };
  };
  const behind = (log: LogEnd, applied: LogEnd) =>
    log.transactionId > applied.transactionId ||
    (log.transactionId === applied.transactionId && log.position > applied.position);
  const checkpoint = (name: string) => parse(marks.find((mark) => mark.name === name)?.mark);
  const ends = `${logs?.events ?? ""}|${logs?.commands ?? ""}`;
  return {
    /** Changes whenever a write transaction commits. */
    ends,
    caughtUp: !behind(parse(logs?.events), checkpoint("events")) &&
      !behind(parse(logs?.commands), checkpoint("commands")),
  };
}

/** Options of verifyModels(). */
export interface VerifyOptions {
  /** How long to wait for the projection to catch up with the write logs, in ms. Default 10000. */
  catchUpMs?: number;
  /** How many times to compare again while commands keep arriving. Default 5. */
  attempts?: number;
}

/** What verifyModels() found. */
export interface Verification extends ModelComparison {
  /** Whether the projection had applied everything written when the models were compared. */
  caughtUp: boolean;
}

/**
 * Compares the models once the projection has caught up with the write logs
 * (waiting up to catchUpMs). A difference can be a row projected a moment
 * later than it was read: while commands keep arriving, it compares again,
 * and a difference counts only when the write logs did not move during the
 * comparison that found it.
 */
export async function verifyModels(
  write: postgres.Sql,
  read: postgres.Sql,
  options: VerifyOptions = {},
): Promise<Verification> {
  const deadline = Date.now() + (options.catchUpMs ?? 10_000);
  const attempts = options.attempts ?? 5;
  for (let attempt = 1;; attempt++) {
    let before = await progress(write, read);
    while (!before.caughtUp && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      before = await progress(write, read);
    }
    const comparison = await compareModels(write, read);
    const after = await progress(write, read);
    const settled = after.ends === before.ends && before.caughtUp;
    if (comparison.differences.length === 0 || settled || attempt >= attempts) {
      return { ...comparison, caughtUp: before.caughtUp };
    }
  }
}
