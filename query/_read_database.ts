import postgres from "postgres";

/**
 * Test helper: a throwaway read database with the worker's read migrations
 * applied (read from worker/migrations/read, not imported), dropped afterwards.
 */
export interface ReadDatabase {
  url: string;
  name: string;
  sql: postgres.Sql;
}

const serverUrl = Deno.env.get("READ_DATABASE_URL") ??
  "postgres://postgres@localhost:5432/catalog_read";
const migrations = new URL("../worker/migrations/read/", import.meta.url);

function databaseUrl(name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function migrationFiles(): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(migrations)) {
    if (entry.isFile && entry.name.endsWith(".sql")) names.push(entry.name);
  }
  return names.sort();
}

/** Runs fn with a fresh, migrated, empty read database. */
export async function withReadDatabase(fn: (db: ReadDatabase) => Promise<void>): Promise<void> {
  const name = `catalog_read_query_test_${crypto.randomUUID().slice(0, 8)}`;
  const admin = postgres(databaseUrl("postgres"), { max: 1, onnotice: () => {} });
  let sql: postgres.Sql | undefined;
  try {
    await admin.unsafe(`create database "${name}"`);
    const url = databaseUrl(name);
    sql = postgres(url, { max: 2, onnotice: () => {} });
    for (const file of await migrationFiles()) {
      await sql.unsafe(await Deno.readTextFile(new URL(file, migrations)));
    }
    await fn({ url, name, sql });
  } finally {
    await sql?.end({ timeout: 1 });
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end({ timeout: 1 });
  }
}
