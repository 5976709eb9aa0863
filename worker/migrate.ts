import postgres from "postgres";
import { redactUrl } from "@catalog/runtime";

/** Options of migrate(). */
export interface MigrateOptions {
  /** URL of the write database; created if absent. */
  writeUrl: string;
  /** URL of the read database; created if absent. */
  readUrl: string;
  /** Receives one line per migration applied. Default: none. */
  log?: (line: string) => void;
}

/** Which migration files migrate() applied now, per database (empty when already up to date). */
export interface MigrationReport {
  write: string[];
  read: string[];
}

const migrationsDirectory = new URL("./migrations/", import.meta.url);

/** Key of the advisory lock that serialises migrations of one database. */
const MIGRATION_LOCK = 4_711_002_025;

/**
 * Creates the write and read databases if they are absent and applies
 * `worker/migrations/write/*.sql` and `worker/migrations/read/*.sql` to them
 * in file-name order, each file in its own transaction and recorded in
 * `schema_migrations`. Idempotent, and safe when several workers start at once.
 */
export async function migrate(options: MigrateOptions): Promise<MigrationReport> {
  const log = options.log ?? (() => {});
  // The two databases have nothing in common: created and migrated side by
  // side, they are ready in the time of the slower one (creating a database
  // is most of it), which is most of a first worker's start-up.
  // Both settle before a failure is thrown, so none is left running.
  const [write, read] = await Promise.allSettled([
    migrateDatabase(options.writeUrl, "write", log),
    migrateDatabase(options.readUrl, "read", log),
  ]);
  if (write.status === "rejected") throw write.reason;
  if (read.status === "rejected") throw read.reason;
  return { write: write.value, read: read.value };
}

function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  if (!name) throw new TypeError(`Cannot migrate ${redactUrl(url)}: the URL names no database`);
  return name;
}

/** Creates the database the URL names, on the same server, unless it exists. */
async function ensureDatabase(url: string): Promise<void> {
  const name = databaseName(url);
  const maintenance = new URL(url);
  maintenance.pathname = "/postgres";
  const sql = postgres(maintenance.toString(), { max: 1, onnotice: () => {} });
  try {
    const [existing] = await sql`select 1 from pg_database where datname = ${name}`;
    if (existing) return;
    await sql`create database ${sql(name)}`;
  } catch (error) {
    // Another worker created it between our look and our create.
    const code = (error as { code?: string }).code;
    if (code !== "42P04" && code !== "23505") {
      throw new Error(`Cannot create database "${name}": ${(error as Error).message}`, {
        cause: error,
      });
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function migrationFiles(folder: "write" | "read"): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(new URL(`${folder}/`, migrationsDirectory))) {
    if (entry.isFile && entry.name.endsWith(".sql")) names.push(entry.name);
  }
  return names.sort();
}

async function migrateDatabase(
  url: string,
  folder: "write" | "read",
  log: (line: string) => void,
): Promise<string[]> {
  await ensureDatabase(url);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await applyMigrations(sql, folder, databaseName(url), log);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * Applies the folder's migrations that `schema_migrations` does not list yet,
 * through sql, in file-name order; unqualified names go where sql's
 * search_path puts them. `name` names the database in errors and log lines.
 */
export async function applyMigrations(
  sql: postgres.Sql,
  folder: "write" | "read",
  name: string,
  log: (line: string) => void = () => {},
): Promise<string[]> {
  const applied: string[] = [];
  {
    for (const file of await migrationFiles(folder)) {
      const text = await Deno.readTextFile(new URL(`${folder}/${file}`, migrationsDirectory));
      const ran = await sql.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK})`;
        await tx`
          create table if not exists schema_migrations (
            name text primary key,
            applied_at timestamptz not null
          )`;
        const [done] = await tx`select 1 from schema_migrations where name = ${file}`;
        if (done) return false;
        await tx.unsafe(text);
        await tx`insert into schema_migrations (name, applied_at) values (${file}, now())`;
        return true;
      }).catch((error: Error) => {
        throw new Error(`Cannot migrate database "${name}" with ${file}: ${error.message}`, {
          cause: error,
        });
      });
      if (ran) {
        applied.push(file);
        log(`migrated ${name}: applied ${file}`);
      }
    }
  }
  return applied;
}
