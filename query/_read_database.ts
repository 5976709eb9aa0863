import postgres from "postgres";
import { createDatabase } from "../dev/sandbox.ts";

/**
 * Test helper: a throwaway read database with the worker's read migrations
 * applied (read from worker/migrations/read, not imported), dropped afterwards.
 */
export interface ReadDatabase {
  url: string;
  name: string;
  sql: postgres.Sql;
}

const migrations = new URL("../worker/migrations/read/", import.meta.url);

async function migrationFiles(): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(migrations)) {
    if (entry.isFile && entry.name.endsWith(".sql")) names.push(entry.name);
  }
  return names.sort();
}

/** Runs fn with a fresh, migrated, empty read database. */
export async function withReadDatabase(fn: (db: ReadDatabase) => Promise<void>): Promise<void> {
  await using database = await createDatabase("catalog_read_query", {
    server: "read",
    create: true,
  });
  const { url, name } = database;
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  try {
    for (const file of await migrationFiles()) {
      await sql.unsafe(await Deno.readTextFile(new URL(file, migrations)));
    }
    await fn({ url, name, sql });
  } finally {
    await sql.end({ timeout: 1 });
  }
}
