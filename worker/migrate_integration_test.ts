import assert from "node:assert/strict";
import postgres from "postgres";
import { createDatabase } from "@catalog/testkit";
import { migrate } from "./migrate.ts";

async function tables(url: string): Promise<string[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ name: string }[]>`
      select table_name as name from information_schema.tables
      where table_schema = 'public' order by table_name`;
    return rows.map((row) => row.name);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

Deno.test("migrate() creates both databases, and running it again changes nothing", async () => {
  await using write = await createDatabase("catalog_write");
  await using read = await createDatabase("catalog_read");
  const writeUrl = write.url;
  const readUrl = read.url;
  const lines: string[] = [];
  const first = await migrate({ writeUrl, readUrl, log: (line) => lines.push(line) });
  assert.deepEqual(first, {
    write: [
      "001_catalog.sql",
      "002_idempotency_keys.sql",
      "003_current_version.sql",
      "004_trace_context.sql",
    ],
    read: [
      "001_views.sql",
      "002_command_lifecycle.sql",
      "003_search_and_statistics.sql",
      "004_change_feed.sql",
      "005_change_trace_context.sql",
    ],
  });
  // One line per file, each database's in file order (the two migrate side by side).
  const logged = (name: string) =>
    lines.filter((line) => line.startsWith(`migrated ${name}: `))
      .map((line) => line.slice(`migrated ${name}: applied `.length));
  assert.equal(lines.length, 9);
  assert.deepEqual(logged(write.name), first.write);
  assert.deepEqual(logged(read.name), first.read);

  const second = await migrate({ writeUrl, readUrl });
  assert.deepEqual(second, { write: [], read: [] });

  assert.deepEqual(await tables(writeUrl), [
    "categories",
    "commands",
    "events",
    "idempotency_keys",
    "products",
    "schema_migrations",
  ]);
  assert.deepEqual(await tables(readUrl), [
    "category_statistics",
    "category_view",
    "changes",
    "changes_pruned",
    "command_view",
    "product_statistics",
    "product_view",
    "projection_checkpoints",
    "schema_migrations",
  ]);
});

Deno.test("migrate() is safe when two workers start at once", async () => {
  await using write = await createDatabase("catalog_write");
  await using read = await createDatabase("catalog_read");
  const writeUrl = write.url;
  const readUrl = read.url;
  const reports = await Promise.all([
    migrate({ writeUrl, readUrl }),
    migrate({ writeUrl, readUrl }),
  ]);
  const applied = reports.flatMap((report) => [...report.write, ...report.read]).sort();
  assert.deepEqual(applied, [
    "001_catalog.sql",
    "001_views.sql",
    "002_command_lifecycle.sql",
    "002_idempotency_keys.sql",
    "003_current_version.sql",
    "003_search_and_statistics.sql",
    "004_change_feed.sql",
    "004_trace_context.sql",
    "005_change_trace_context.sql",
  ]);
  const sql = postgres(readUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql`select count(*)::int as count from projection_checkpoints`;
    assert.equal(row?.count, 2);
  } finally {
    await sql.end({ timeout: 5 });
  }
});
