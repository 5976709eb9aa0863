/**
 * `deno task projections:rebuild`: rebuilds the read model from the write
 * database's logs into fresh tables and switches to them, while everything
 * keeps running (the work is in rebuild.ts).
 *
 * Reads WRITE_DATABASE_URL and READ_DATABASE_URL as the worker does; run it
 * against migrated databases (a worker has started once). Exits 0 once the
 * fresh tables are in place; 1, with one `Cannot …` line, when the rebuild
 * could not be done, leaving the live read model as it was.
 */
import { ConfigError, parseEnv, postgresUrlVar, sharedDefaults } from "@catalog/runtime";
import { RebuildError, rebuildReadModel } from "./rebuild.ts";

try {
  const env = parseEnv("projections:rebuild", {
    WRITE_DATABASE_URL: postgresUrlVar(sharedDefaults.writeDatabaseUrl, { requireDatabase: true }),
    READ_DATABASE_URL: postgresUrlVar(sharedDefaults.readDatabaseUrl, { requireDatabase: true }),
  }, Deno.env.toObject());
  const started = performance.now();
  const report = await rebuildReadModel({
    writeUrl: env.WRITE_DATABASE_URL,
    readUrl: env.READ_DATABASE_URL,
    log: (line) => console.log(line),
  });
  console.log(
    `Rebuilt the read model from ${report.events} events and ${report.commands} command ` +
      `outcomes in ${((performance.now() - started) / 1000).toFixed(1)} s; the projection waited ` +
      `${report.switchMs.toFixed(0)} ms for the switch.`,
  );
  Deno.exit(0);
} catch (error) {
  if (!(error instanceof RebuildError || error instanceof ConfigError)) throw error;
  console.error(error.message);
  Deno.exit(1);
}
