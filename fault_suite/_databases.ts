/**
 * What the fault scenarios check in the sandbox's databases, read directly
 * (never through the services under test).
 */
import postgres from "postgres";
import { runDeno, type Sandbox, TcpProxy } from "@catalog/testkit";
import { sleep } from "./_load.ts";

/** Pools on the sandbox's write and read databases. */
export interface Databases extends AsyncDisposable {
  write: postgres.Sql;
  read: postgres.Sql;
  end(): Promise<void>;
}

/** Where each pool openDatabases() made connects, for the tools that take URLs. */
const urls = new WeakMap<postgres.Sql, string>();

/** Opens small pools on the sandbox's databases (which the worker has created by now). */
export function openDatabases(sandbox: Sandbox): Databases {
  const options = { max: 2, onnotice: () => {} };
  const write = postgres(sandbox.env.WRITE_DATABASE_URL, options);
  const read = postgres(sandbox.env.READ_DATABASE_URL, options);
  urls.set(write, sandbox.env.WRITE_DATABASE_URL);
  urls.set(read, sandbox.env.READ_DATABASE_URL);
  const end = async () => {
    await Promise.all([write.end({ timeout: 5 }), read.end({ timeout: 5 })]);
  };
  return { write, read, end, [Symbol.asyncDispose]: end };
}

/** How many of these command ids the write database's command log holds. */
export async function countHandled(write: postgres.Sql, commandIds: string[]): Promise<number> {
  const [row] = await write<{ handled: number }[]>`
    select count(*)::int as handled from commands where command_id = any(${commandIds}::uuid[])`;
  return row?.handled ?? 0;
}

/** Options of waitHandled(). */
export interface WaitHandledOptions {
  /** Give up once the count has not grown for this long, in milliseconds. Default 30000. */
  stallMs?: number;
  /** Give up after this long in any case, in milliseconds. Default 300000. */
  timeoutMs?: number;
  /**
   * Stop waiting as soon as this answers true (a service has died, say), and
   * answer the count reached: the caller deals with it. Default: never.
   */
  giveUp?: () => boolean;
}

/**
 * Waits until the write database's command log holds every one of these
 * command ids; answers how many it holds. Throws, saying why it stopped
 * waiting (progress stalled, the deadline, or the error its query kept
 * getting), when the count stops growing for stallMs or timeoutMs passes;
 * answers the count reached so far when giveUp() answers true.
 */
export async function waitHandled(
  write: postgres.Sql,
  commandIds: string[],
  options: WaitHandledOptions = {},
): Promise<number> {
  const stallMs = options.stallMs ?? 30_000;
  const timeoutMs = options.timeoutMs ?? 300_000;
  const started = Date.now();
  let handled = 0;
  let progressAt = started;
  let lastError: unknown;
  while (true) {
    try {
      const now = await countHandled(write, commandIds);
      lastError = undefined;
      if (now > handled) {
        handled = now;
        progressAt = Date.now();
      }
    } catch (error) {
      // The database may be away for a moment; only an error that lasts is told.
      lastError = error;
    }
    if (handled >= commandIds.length) return handled;
    if (options.giveUp?.()) return handled;
    const stalled = Date.now() - progressAt > stallMs;
    if (stalled || Date.now() - started > timeoutMs) {
      const why = lastError !== undefined
        ? `its count query kept failing: ${
          lastError instanceof Error ? lastError.message : String(lastError)
        }`
        : stalled
        ? `progress stalled: none more for ${(stallMs / 1000).toFixed(0)} s`
        : `the deadline of ${(timeoutMs / 1000).toFixed(0)} s passed`;
      throw new Error(
        `Stopped waiting for ${commandIds.length} commands to be handled: ${handled} are, ` +
          `after ${((Date.now() - started) / 1000).toFixed(1)} s; ${why}`,
      );
    }
    await sleep(200);
  }
}

/**
 * Checks that each of these handled commands was applied; throws naming how
 * many were not, with their outcomes, for a setup that the rest of a
 * scenario builds on.
 */
export async function expectApplied(
  write: postgres.Sql,
  commandIds: string[],
  what: string,
): Promise<void> {
  await waitHandled(write, commandIds);
  const outcomes = await write<{ status: string; code: string | null; count: number }[]>`
    select status, code, count(*)::int as count from commands
    where command_id = any(${commandIds}::uuid[]) and status <> 'APPLIED'
    group by status, code order by count desc`;
  if (outcomes.length === 0) return;
  const notApplied = outcomes.reduce((total, row) => total + row.count, 0);
  throw new Error(
    `Cannot set up ${what}: ${notApplied} of ${commandIds.length} commands were not applied (${
      outcomes.map((row) => `${row.status} ${row.code ?? ""}`.trim() + ` × ${row.count}`)
        .join(", ")
    })`,
  );
}

/** Whether every accepted command was handled exactly once. */
export interface ExactlyOnceAudit {
  /** Command ids the clients got a receipt for. */
  accepted: number;
  /** Of those, how many the command log holds. */
  handled: number;
  /** Accepted but not in the command log. */
  lost: number;
  applied: number;
  rejected: number;
  /** Rejections by code. */
  rejections: Record<string, number>;
  /** Applied commands with more than one event, plus events of commands not applied. */
  duplicated: number;
  /** Applied commands with no event at all. */
  withoutEffect: number;
  /** Aggregates whose event versions are not exactly 1..n. */
  versionGaps: number;
  /** Entities whose version differs from their last event's. */
  versionMismatches: number;
}

/**
 * Checks in the write database that each of these command ids was handled
 * once: it is in the command log, an applied one has exactly one event (every
 * command of the catalog makes one), a rejected one none, and every
 * aggregate's versions run 1..n without a gap.
 */
export async function auditExactlyOnce(
  write: postgres.Sql,
  commandIds: string[],
): Promise<ExactlyOnceAudit> {
  const ids = [...new Set(commandIds)];
  const outcomes = await write<{ status: string; code: string; count: number }[]>`
    select status, code, count(*)::int as count from commands
    where command_id = any(${ids}::uuid[]) group by status, code`;
  let applied = 0;
  let rejected = 0;
  const rejections: Record<string, number> = {};
  for (const row of outcomes) {
    if (row.status === "APPLIED") applied += row.count;
    else {
      rejected += row.count;
      rejections[row.code] = (rejections[row.code] ?? 0) + row.count;
    }
  }
  const handled = applied + rejected;
  const [effects] = await write<{ duplicated: number; without_effect: number }[]>`
    with per_command as (
      select c.command_id, c.status, count(e.event_id)::int as events
      from commands c left join events e on e.command_id = c.command_id
      where c.command_id = any(${ids}::uuid[])
      group by c.command_id, c.status
    )
    select
      (count(*) filter (where status = 'APPLIED' and events > 1)
        + coalesce(sum(events) filter (where status <> 'APPLIED'), 0))::int as duplicated,
      count(*) filter (where status = 'APPLIED' and events = 0)::int as without_effect
    from per_command`;
  const [orphans] = await write<{ orphans: number }[]>`
    select count(*)::int as orphans from events e
    where not exists (
      select 1 from commands c where c.command_id = e.command_id and c.status = 'APPLIED'
    )`;
  const [gaps] = await write<{ gaps: number }[]>`
    select count(*)::int as gaps from (
      select aggregate_id from events group by aggregate_id
      having min(aggregate_version) <> 1 or max(aggregate_version) <> count(*)
        or count(distinct aggregate_version) <> count(*)
    ) broken`;
  const [mismatches] = await write<{ mismatches: number }[]>`
    with last as (
      select aggregate_id, max(aggregate_version) as version from events group by aggregate_id
    )
    select count(*)::int as mismatches from (
      select id, version from categories union all select id, version from products
    ) entity left join last on last.aggregate_id = entity.id
    where last.version is distinct from entity.version`;
  return {
    accepted: ids.length,
    handled,
    lost: ids.length - handled,
    applied,
    rejected,
    rejections,
    duplicated: (effects?.duplicated ?? 0) + (orphans?.orphans ?? 0),
    withoutEffect: effects?.without_effect ?? 0,
    versionGaps: gaps?.gaps ?? 0,
    versionMismatches: mismatches?.mismatches ?? 0,
  };
}

/** The audit's figures that must all be zero. */
export function exactlyOnceHolds(audit: ExactlyOnceAudit): boolean {
  return audit.lost === 0 && audit.duplicated === 0 && audit.withoutEffect === 0 &&
    audit.versionGaps === 0 && audit.versionMismatches === 0;
}

/** Rows that differ between the write database and the read database's views. */
export interface ReadWriteDifference {
  categories: number;
  products: number;
  commands: number;
  /** Statistics rows (products, categories) that differ. */
  statistics: number;
  /** A few of the differences, for the report. */
  examples: string[];
}

/** The kinds of difference `deno task verify` prints, one per line: "<kind> <id>: <what>". */
const differenceKinds = ["category", "product", "command", "statistics"] as const;

/**
 * Compares the read database with the write database by running `deno task
 * verify`, the operator's tool, on their URLs: every category, product and
 * handled command's outcome, field by field.
 */
export async function compareReadWrite(
  write: postgres.Sql,
  read: postgres.Sql,
): Promise<ReadWriteDifference> {
  const writeUrl = urls.get(write);
  const readUrl = urls.get(read);
  if (!writeUrl || !readUrl) {
    throw new TypeError("Cannot compare read and write: the pools are not from openDatabases()");
  }
  const run = await runDeno(["task", "verify"], {
    WRITE_DATABASE_URL: writeUrl,
    READ_DATABASE_URL: readUrl,
  });
  if (run.code !== 0 && run.code !== 1) {
    throw new Error(
      `Cannot compare read and write: deno task verify exited ${run.code}: ${
        (run.stdout + run.stderr).trim().split("\n").slice(-3).join(" ")
      }`,
    );
  }
  const differences = run.stdout.split("\n").flatMap((line) => {
    const match = /^(\w+) (\S+): (.*)$/.exec(line);
    const kind = differenceKinds.find((known) => known === match?.[1]);
    return match && kind ? [{ kind, id: match[2]!, what: match[3]! }] : [];
  });
  if (run.code === 1 && differences.length === 0) {
    throw new Error(`Cannot read deno task verify's differences: ${run.stdout.trim()}`);
  }
  const count = (kind: (typeof differenceKinds)[number]) =>
    differences.filter((difference) => difference.kind === kind).length;
  return {
    categories: count("category"),
    products: count("product"),
    commands: count("command"),
    statistics: count("statistics"),
    examples: differences.slice(0, 5).map(({ kind, id, what }) => `${kind} ${id}: ${what}`),
  };
}

/**
 * Compares until the read side has caught up; answers that comparison.
 * Throws, with the last comparison's differences, once timeoutMs has passed
 * without it.
 */
export async function waitReadEqualsWrite(
  write: postgres.Sql,
  read: postgres.Sql,
  timeoutMs = 30_000,
): Promise<ReadWriteDifference> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const difference = await compareReadWrite(write, read);
    if (readEqualsWrite(difference)) return difference;
    if (Date.now() > deadline) {
      throw new Error(
        `Stopped waiting for the read side to catch up: after ${
          (timeoutMs / 1000).toFixed(0)
        } s the deadline passed with ${describeReadWrite(difference)}: ${
          difference.examples.join("; ")
        }`,
      );
    }
    await sleep(500);
  }
}

/** Whether the read side equals the write side. */
export function readEqualsWrite(difference: ReadWriteDifference): boolean {
  return difference.categories + difference.products + difference.commands +
      difference.statistics === 0;
}

/** "read = write", or what differs. */
export function describeReadWrite(difference: ReadWriteDifference): string {
  return readEqualsWrite(difference)
    ? "read = write"
    : `read != write (${difference.categories} categories, ${difference.products} products, ` +
      `${difference.commands} commands, ${difference.statistics} statistics differ)`;
}

/** Command outcomes the read side shows as FAILED (dead-lettered). */
export async function countFailed(read: postgres.Sql): Promise<number> {
  const [row] = await read<{ failed: number }[]>`
    select count(*)::int as failed from command_view where status = 'FAILED'`;
  return row?.failed ?? 0;
}

/** How many commands the write database's command log holds in all. */
export async function countAllHandled(write: postgres.Sql): Promise<number> {
  const [row] = await write<{ handled: number }[]>`select count(*)::int as handled from commands`;
  return row?.handled ?? 0;
}

/**
 * A proxy, open, in front of the sandbox's PostgreSQL, and the services'
 * database URLs rewritten to go through it. Both databases live on the same
 * server: one proxy serves both.
 */
export function databasesBehindProxy(
  sandbox: Sandbox,
): { proxy: TcpProxy; env: { WRITE_DATABASE_URL: string; READ_DATABASE_URL: string } } {
  const write = TcpProxy.inFrontOf(sandbox.env.WRITE_DATABASE_URL, 5432);
  write.proxy.open();
  const read = new URL(sandbox.env.READ_DATABASE_URL);
  read.hostname = "127.0.0.1";
  read.port = String(write.proxy.port);
  return {
    proxy: write.proxy,
    env: { WRITE_DATABASE_URL: write.url, READ_DATABASE_URL: read.toString() },
  };
}

/**
 * Open proxies in front of the sandbox's PostgreSQL (both databases) and its
 * RabbitMQ, and the services' URLs rewritten to go through them.
 */
export function sandboxBehindProxies(
  sandbox: Sandbox,
): { postgres: TcpProxy; rabbitmq: TcpProxy; env: Sandbox["env"] } {
  const databases = databasesBehindProxy(sandbox);
  const broker = TcpProxy.inFrontOf(sandbox.env.AMQP_URL, 5672);
  broker.proxy.open();
  return {
    postgres: databases.proxy,
    rabbitmq: broker.proxy,
    env: { ...databases.env, AMQP_URL: broker.url },
  };
}
