/**
 * `deno task verify`: compares the read model with the write model and
 * prints every difference (the work is in verify.ts).
 *
 * Reads WRITE_DATABASE_URL and READ_DATABASE_URL as the worker does. Exits 0
 * when the models are equal; 1 when they differ; 2 when they could not be
 * compared (a database unreachable, a setting unusable), with one `Cannot …`
 * line.
 */
import postgres from "postgres";
import { ConfigError, parseEnv, postgresUrlVar, redactUrl, sharedDefaults } from "@catalog/runtime";
import { messageOf } from "./faults.ts";
import { verifyModels } from "./verify.ts";

/** The models could not be compared; its message is the one line to print. */
class CannotVerify extends Error {}

/** At most this many differences are printed one per line; the rest are counted. */
const PRINTED = 1000;

function plural(count: number, noun: string, nouns = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : nouns}`;
}

async function verify(writeUrl: string, readUrl: string): Promise<number> {
  const options = { max: 2, onnotice: () => {}, connect_timeout: 10 };
  const write = postgres(writeUrl, options);
  const read = postgres(readUrl, options);
  try {
    const reachable = async (sql: postgres.Sql, url: string, which: string) => {
      try {
        await sql`select 1`;
      } catch (error) {
        throw new CannotVerify(
          `Cannot verify: cannot reach the ${which} database at ${redactUrl(url)}: ${
            messageOf(error)
          }`,
        );
      }
    };
    await reachable(write, writeUrl, "write");
    await reachable(read, readUrl, "read");
    const result = await verifyModels(write, read);
    for (const difference of result.differences.slice(0, PRINTED)) {
      console.log(`${difference.kind} ${difference.id}: ${difference.what}`);
    }
    if (result.differences.length > PRINTED) {
      console.log(`… and ${result.differences.length - PRINTED} more`);
    }
    const { categories, products, commands } = result.counts;
    const compared = `${plural(categories, "category", "categories")}, ` +
      `${plural(products, "product")}, ${plural(commands, "command")}`;
    if (result.differences.length === 0) {
      console.log(`The read model equals the write model: ${compared}.`);
      return 0;
    }
    const lag = result.caughtUp
      ? ""
      : " The projection had not caught up with the write logs: is a worker running?";
    console.log(
      `The read model differs from the write model: ${
        plural(result.differences.length, "difference")
      } over ${compared}.${lag}`,
    );
    return 1;
  } finally {
    await Promise.all([write.end({ timeout: 5 }), read.end({ timeout: 5 })]);
  }
}

try {
  const env = parseEnv("verify", {
    WRITE_DATABASE_URL: postgresUrlVar(sharedDefaults.writeDatabaseUrl, { requireDatabase: true }),
    READ_DATABASE_URL: postgresUrlVar(sharedDefaults.readDatabaseUrl, { requireDatabase: true }),
  }, Deno.env.toObject());
  Deno.exit(await verify(env.WRITE_DATABASE_URL, env.READ_DATABASE_URL));
} catch (error) {
  if (!(error instanceof ConfigError || error instanceof CannotVerify)) throw error;
  console.error(error.message);
  Deno.exit(2);
}
