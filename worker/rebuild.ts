/**
 * Rebuilds the read model from the write database's logs into fresh tables
 * and switches to them in one transaction, while the services keep serving
 * reads and the workers keep applying commands. The work behind
 * `deno task projections:rebuild`.
 */
import postgres from "postgres";
import { messageOf } from "./faults.ts";
import { applyMigrations } from "./migrate.ts";
import { type Mark, project } from "./project.ts";
import type { Clock } from "./handle_command.ts";

/** Options of rebuildReadModel(). */
export interface RebuildOptions {
  writeUrl: string;
  readUrl: string;
  /** Receives a line per step. Default: none. */
  log?: (line: string) => void;
  /** Rows of each log one projection round reads. Default 5000. */
  batchSize?: number;
  /** Stamps the checkpoints' updated_at. Default: the system clock. */
  clock?: Clock;
}

/** What a rebuild did. */
export interface RebuildReport {
  /** Events applied to the fresh tables. */
  events: number;
  /** Command outcomes written to the fresh tables. */
  commands: number;
  /** Commands only the read side knew (ACCEPTED, FAILED), carried over. */
  carried: number;
  /** How long the switch held the projection still, in milliseconds. */
  switchMs: number;
}

/** Something stopped the rebuild; the live read model is untouched. */
export class RebuildError extends Error {
  override name = "RebuildError";
}

/** The schema the fresh tables are built in; dropped after the switch. */
const BUILD_SCHEMA = "catalog_rebuild";
/** The schema the replaced tables are moved to at the switch; dropped right after. */
const RETIRED_SCHEMA = "catalog_retired";

/**
 * Tables of the read database that are not projections of the write
 * database, and so stay as they are: the migrations applied, and the change
 * feed (live subscribers read on from where they are; the rebuild announces
 * nothing).
 */
const LIVE_TABLES = new Set(["schema_migrations", "changes", "changes_pruned"]);

/** Key of the session advisory lock that lets one rebuild run at a time. */
const REBUILD_LOCK = 4_711_002_027;

type Tx = postgres.TransactionSql;

/**
 * Creates the build schema with every read migration applied in it: the same
 * tables, indexes, functions and triggers as the live read model, empty.
 */
async function createBuildSchema(
  admin: postgres.Sql,
  build: postgres.Sql,
  log: (line: string) => void,
) {
  await admin`drop schema if exists ${admin(BUILD_SCHEMA)} cascade`;
  await admin`drop schema if exists ${admin(RETIRED_SCHEMA)} cascade`;
  await admin`create schema ${admin(BUILD_SCHEMA)}`;
  const applied = await applyMigrations(build, "read", BUILD_SCHEMA);
  log(`created fresh tables in schema ${BUILD_SCHEMA} (${applied.length} migrations)`);
}

/** Where the live projection stands in each log. */
async function liveMarks(sql: postgres.Sql | Tx): Promise<{ events: Mark; commands: Mark }> {
  const rows = await sql<{ name: string; transactionId: string; position: string }[]>`
    select name, transaction_id::text as "transactionId", position::text as position
    from public.projection_checkpoints where name in ('events', 'commands')`;
  const mark = (name: string): Mark => {
    const row = rows.find((candidate) => candidate.name === name);
    if (!row) throw new Error(`the live read model has no "${name}" checkpoint`);
    return { transactionId: BigInt(row.transactionId), position: BigInt(row.position) };
  };
  return { events: mark("events"), commands: mark("commands") };
}

/**
 * Projects into the build schema, never past the live projection (until()
 * answers where it stands), for at most `rounds` rounds, each up to where the
 * live projection stood when it began, stopping early once one finds
 * nothing; answers the totals.
 */
async function projectAll(
  write: postgres.Sql,
  build: postgres.Sql,
  until: () => Promise<{ events: Mark; commands: Mark }>,
  options: { batchSize: number; clock?: Clock; rounds: number },
) {
  const totals = { events: 0, commands: 0 };
  for (let round = 0; round < options.rounds; round++) {
    const report = await project({ write, read: build }, {
      batchSize: options.batchSize,
      clock: options.clock,
      until: await until(),
    });
    totals.events += report.events;
    totals.commands += report.commands;
    if (report.events === 0 && report.commands === 0) break;
  }
  return totals;
}

/** Names of the build schema's tables, views and functions to move into public. */
async function buildObjects(tx: Tx) {
  const relations = await tx<{ name: string; kind: string }[]>`
    select c.relname as name, c.relkind::text as kind
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${BUILD_SCHEMA} and c.relkind in ('r', 'p', 'v', 'm')`;
  const functions = await tx<{ signature: string; name: string }[]>`
    select p.oid::regprocedure::text as signature, p.proname as name
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = ${BUILD_SCHEMA}`;
  return {
    tables: relations.filter((relation) => !LIVE_TABLES.has(relation.name)),
    functions,
  };
}

/**
 * What a switch would leave behind in the schema, and so drop with it: types
 * of their own (an enum, a domain) and sequences that no column owns.
 * Tables (with their indexes, row types and owned sequences), views and
 * functions move; an extension's types belong to the extension.
 */
export async function strandedObjects(sql: postgres.Sql | Tx, schema: string): Promise<string[]> {
  const rows = await sql<{ what: string }[]>`
    with moving as (
      -- Row types move with their tables; an extension's types are its own.
      select t.oid from pg_type t join pg_namespace n on n.oid = t.typnamespace
      where n.nspname = ${schema} and (
        t.typtype = 'c'
        or exists (select 1 from pg_depend d where d.objid = t.oid and d.deptype = 'e')
      )
    )
    select format('type %s', t.typname) as what
    from pg_type t join pg_namespace n on n.oid = t.typnamespace
    where n.nspname = ${schema} and t.oid not in (select oid from moving)
      and t.typelem not in (select oid from moving)
    union all
    select format('sequence %s', c.relname)
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schema} and c.relkind = 'S'
      and not exists (
        select 1 from pg_depend d
        where d.objid = c.oid and d.deptype in ('a', 'i') and d.refobjsubid > 0
      )
    order by 1`;
  return rows.map((row) => row.what);
}

/**
 * Moves public's counterparts of the build objects to the retired schema,
 * and the build objects into public, in the caller's transaction.
 */
async function swap(tx: Tx, log: (line: string) => void) {
  const { tables, functions } = await buildObjects(tx);
  const stranded = await strandedObjects(tx, BUILD_SCHEMA);
  if (stranded.length > 0) {
    throw new RebuildError(
      `Cannot rebuild the read model: the read migrations create ${
        stranded.join(", ")
      }, which the switch does not move (see worker/rebuild.ts)`,
    );
  }
  await tx`create schema ${tx(RETIRED_SCHEMA)}`;
  const kindWord = (kind: string) =>
    kind === "v" ? "view" : kind === "m" ? "materialized view" : "table";
  for (const table of tables) {
    const [live] = await tx`select to_regclass(${`public.${table.name}`}) as oid`;
    if (live?.oid) {
      await tx.unsafe(
        `alter ${kindWord(table.kind)} public.${quote(table.name)} set schema ${RETIRED_SCHEMA}`,
      );
    }
    await tx.unsafe(
      `alter ${kindWord(table.kind)} ${BUILD_SCHEMA}.${quote(table.name)} set schema public`,
    );
  }
  for (const fn of functions) {
    // regprocedure text is schema-qualified when the schema is not on the search_path.
    const args = fn.signature.slice(fn.signature.indexOf("("));
    const [live] = await tx`select to_regprocedure(${`public.${fn.name}${args}`}) as oid`;
    if (live?.oid) {
      await tx.unsafe(
        `alter function public.${quote(fn.name)}${args} set schema ${RETIRED_SCHEMA}`,
      );
    }
    await tx.unsafe(`alter function ${BUILD_SCHEMA}.${quote(fn.name)}${args} set schema public`);
  }
  log(`switched ${tables.length} tables and ${functions.length} functions to the fresh ones`);
}

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

/**
 * Rebuilds the read model: creates fresh tables (every read migration applied
 * in a schema of their own), projects the event and command logs into them
 * while the live projection carries on, never past it, then, in one
 * read-database transaction, holds the live projection still, brings the
 * fresh tables to exactly where it stands, carries over the command statuses
 * only the read side knows (ACCEPTED, FAILED), and puts the fresh tables in
 * place of the live ones. Readers wait for that switch (milliseconds) instead
 * of failing, and the live projection goes on from where it stood, so
 * nothing written meanwhile is lost, announced or not.
 *
 * @throws {RebuildError} when another rebuild runs, or a step fails; the live
 * read model is then untouched.
 */
export async function rebuildReadModel(options: RebuildOptions): Promise<RebuildReport> {
  const log = options.log ?? (() => {});
  const batchSize = options.batchSize ?? 5000;
  const admin = postgres(options.readUrl, { max: 1, onnotice: () => {}, max_lifetime: null });
  const build = postgres(options.readUrl, {
    max: 2,
    onnotice: () => {},
    connection: { search_path: `${BUILD_SCHEMA}, public`, application_name: "catalog-rebuild" },
  });
  const write = postgres(options.writeUrl, { max: 2, onnotice: () => {} });
  let building = false;
  try {
    const [locked] = await admin<{ locked: boolean }[]>`
      select pg_try_advisory_lock(${REBUILD_LOCK}) as locked`;
    if (!locked?.locked) {
      throw new RebuildError("Cannot rebuild the read model: another rebuild is running");
    }
    building = true;
    await createBuildSchema(admin, build, log);
    // Everything up to where the live projection stands, then what it did
    // meanwhile, twice: the switch is left with a few moments' worth.
    const bulk = await projectAll(write, build, () => liveMarks(admin), {
      batchSize,
      clock: options.clock,
      rounds: 3,
    });
    log(`projected ${bulk.events} events and ${bulk.commands} command outcomes into fresh tables`);

    const started = performance.now();
    const final = await admin.begin(async (tx) => {
      // Live projectors lock the checkpoints first: this holds them still
      // (they wait, they do not fail) until the switch commits. The fresh
      // tables are brought to exactly where the live ones stand, so the live
      // projection goes on after the switch with everything written since:
      // its outcomes announced, its changes in the feed.
      await tx`lock table public.projection_checkpoints in access exclusive mode`;
      const stand = await liveMarks(tx);
      const rest = await projectAll(write, build, () => Promise.resolve(stand), {
        batchSize,
        clock: options.clock,
        rounds: 1,
      });
      for (const [name, mark] of Object.entries(stand)) {
        await tx`
          update ${tx(BUILD_SCHEMA)}.projection_checkpoints
          set transaction_id = ${mark.transactionId.toString()}::xid8,
            position = ${mark.position.toString()}
          where name = ${name}`;
      }
      // The workers record ACCEPTED and FAILED straight into command_view.
      // Carried over as they are, with the table's triggers off: subscribers
      // have heard of them already.
      await tx`lock table public.command_view in exclusive mode`;
      await tx`alter table ${tx(BUILD_SCHEMA)}.command_view disable trigger user`;
      const carried = await tx`
        insert into ${tx(BUILD_SCHEMA)}.command_view
        select * from public.command_view where status in ('ACCEPTED', 'FAILED')
        on conflict (command_id) do nothing`;
      await tx`alter table ${tx(BUILD_SCHEMA)}.command_view enable trigger user`;
      await swap(tx, log);
      return { ...rest, carried: carried.count };
    });
    const switchMs = performance.now() - started;
    log(
      `switched after ${final.events} more events and ${final.commands} more outcomes, ` +
        `carrying ${final.carried} statuses over; projection held for ${switchMs.toFixed(0)} ms`,
    );
    await admin`drop schema ${admin(RETIRED_SCHEMA)} cascade`;
    await admin`drop schema ${admin(BUILD_SCHEMA)} cascade`;
    return {
      events: bulk.events + final.events,
      commands: bulk.commands + final.commands,
      carried: final.carried,
      switchMs,
    };
  } catch (error) {
    if (building) await admin`drop schema if exists ${admin(BUILD_SCHEMA)} cascade`.catch(() => {});
    if (error instanceof RebuildError) throw error;
    throw new RebuildError(`Cannot rebuild the read model: ${messageOf(error)}`, { cause: error });
  } finally {
    await admin`select pg_advisory_unlock(${REBUILD_LOCK})`.catch(() => {});
    await Promise.all([
      admin.end({ timeout: 5 }),
      build.end({ timeout: 5 }),
      write.end({ timeout: 5 }),
    ]);
  }
}
