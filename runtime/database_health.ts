import type postgres from "postgres";
import type { ReadinessCheck } from "./health_server.ts";

/** Options of watchDatabaseHealth(). */
export interface DatabaseHealthOptions {
  /** Time between checks. Default 2000 ms. */
  intervalMs?: number;
  /** How long one `select 1` may take before the database counts as unreachable. Default 1500 ms. */
  timeoutMs?: number;
  /** Told whenever reachability changes, and after the first check. Default: nobody. */
  onChange?: (healthy: boolean) => void;
  /** Told the result of every check, after onChange. */
  onCheck?: (healthy: boolean) => void;
}

/** A running health watch. */
export interface DatabaseHealthWatch {
  /** Resolves with the result of the first check. */
  first: Promise<boolean>;
  /** Whether the last check reached the database. */
  readonly healthy: boolean;
  stop(): void;
}

async function reachable(sql: postgres.Sql, timeoutMs: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((resolve) =>
    timer = setTimeout(() => resolve(false), timeoutMs)
  );
  const answered = sql`select 1`.then(() => true, () => false);
  try {
    return await Promise.race([answered, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** What /ready reports of a watched database: "up" or "down". */
export function databaseCheck(watch: DatabaseHealthWatch, label: string): ReadinessCheck {
  return { ready: watch.healthy, status: watch.healthy ? "up" : "down", label };
}

/** Checks the database with `select 1` now and then, and reports when that changes. */
export function watchDatabaseHealth(
  sql: postgres.Sql,
  options: DatabaseHealthOptions,
): DatabaseHealthWatch {
  const intervalMs = options.intervalMs ?? 2000;
  const timeoutMs = options.timeoutMs ?? 1500;
  let healthy: boolean | undefined;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  async function check(): Promise<boolean> {
    const now = await reachable(sql, timeoutMs);
    if (!stopped && now !== healthy) {
      healthy = now;
      options.onChange?.(now);
    }
    if (!stopped) options.onCheck?.(now);
    if (!stopped) timer = setTimeout(check, intervalMs);
    return now;
  }

  return {
    first: check(),
    get healthy() {
      return healthy === true;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
