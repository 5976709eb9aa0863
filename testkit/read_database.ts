import postgres from "postgres";
import { applyMigrations } from "../worker/migrate.ts";
import { createDatabase } from "./sandbox.ts";

/** A throwaway read database with the worker's read migrations applied. */
export interface ReadDatabase {
  url: string;
  name: string;
  sql: postgres.Sql;
}

/**
 * Runs fn with a fresh, migrated, empty read database, dropped afterwards.
 * The migrations are the worker's own, applied by its migrator, so a query
 * test reads the schema the worker makes.
 */
export async function withReadDatabase(fn: (db: ReadDatabase) => Promise<void>): Promise<void> {
  await using database = await createDatabase("catalog_read_query", {
    server: "read",
    create: true,
  });
  const { url, name } = database;
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  try {
    await applyMigrations(sql, "read", name);
    await fn({ url, name, sql });
  } finally {
    await sql.end({ timeout: 1 });
  }
}
