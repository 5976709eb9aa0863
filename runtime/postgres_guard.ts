/**
 * A guard against a fault of postgres.js 3.4.9 (porsager/postgres#1154,
 * #1208): when a connection closes while a small write is still scheduled,
 * the scheduled write runs against the closed socket and throws from a timer,
 * where no caller can catch it, and the process dies. By then the driver has
 * already failed the query with CONNECTION_CLOSED through its usual path, so
 * the write is moot and the pool opens a new connection for the next query.
 */

/** Whether an uncaught error is that scheduled write on a closed socket. */
export function isClosedSocketWrite(error: unknown): boolean {
  return error instanceof TypeError &&
    /\(reading 'write'\)/.test(error.message) &&
    /nextWrite/.test(error.stack ?? "") &&
    /postgres/.test(error.stack ?? "");
}

/**
 * Keeps the process alive through that one fault, logging it; every other
 * uncaught error still ends the process. For a service's main.ts.
 */
export function survivePostgresClosedSocketWrites(log: (line: string) => void): void {
  globalThis.addEventListener("error", (event) => {
    if (!isClosedSocketWrite(event.error)) return;
    event.preventDefault();
    log("PostgreSQL closed a connection during a write; the query failed and will be retried");
  });
}
