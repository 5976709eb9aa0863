import type postgres from "postgres";
import { CallCancelledError } from "./errors.ts";

/** What postgres.js 3.4 keeps on a query to cancel it: what its cancel() calls. */
interface QueryCanceller {
  canceller?: ((query: unknown) => Promise<unknown>) | null;
}

/**
 * Asks PostgreSQL to cancel the statement (or drops it from the pool's queue
 * if it has not been sent yet). Not through postgres.js's own cancel(): that
 * drops the promise of its cancel request, and when the request cannot reach
 * the server (connection refused) the promise rejects with nobody to catch
 * it, which ends the process. Here a cancel that cannot be sent changes
 * nothing: the statement_timeout still ends the statement.
 */
function sendCancel(query: QueryCanceller): void {
  const canceller = query.canceller;
  if (typeof canceller !== "function") return;
  query.canceller = null;
  canceller(query).catch(() => {});
}

/**
 * Runs one statement, cancelling it in the database as soon as signal aborts
 * (the caller cancelled the call, or its deadline passed), so that a read
 * nobody waits for stops at once instead of at the statement timeout.
 *
 * @throws {CallCancelledError} without running the statement if signal has already aborted.
 */
export async function cancellable<Row extends readonly postgres.MaybeRow[]>(
  query: postgres.PendingQuery<Row>,
  signal: AbortSignal | undefined,
): Promise<postgres.RowList<Row>> {
  if (!signal) return await query;
  // A query runs once awaited: one never awaited is never sent.
  if (signal.aborted) throw new CallCancelledError();
  const cancel = () => sendCancel(query as unknown as QueryCanceller);
  signal.addEventListener("abort", cancel, { once: true });
  try {
    return await query;
  } finally {
    signal.removeEventListener("abort", cancel);
  }
}
