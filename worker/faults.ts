/**
 * How the worker tells a passing fault (the database or broker is briefly
 * unreachable, a transaction lost a race) from a lasting one, and the small
 * waiting helpers its retries use (the delays come from the runtime's
 * backoffDelay()).
 */

/** Network error codes of Node-style errors and postgres.js's own connection errors. */
const transientCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "CONNECTION_CLOSED",
  "CONNECTION_DESTROYED",
  "CONNECTION_ENDED",
  "CONNECT_TIMEOUT",
]);

/** Deno's error classes for the same situations. */
const transientNames = new Set([
  "ConnectionRefused",
  "ConnectionReset",
  "ConnectionAborted",
  "NotConnected",
  "BrokenPipe",
  "TimedOut",
]);

/**
 * SQLSTATEs worth retrying: connection exceptions (08), insufficient resources
 * (53), serialization failure, deadlock, and the server shutting down or not
 * yet accepting connections (57P01-03).
 */
function isTransientSqlState(code: string): boolean {
  return /^(08|53)[0-9A-Z]{3}$/.test(code) ||
    ["40001", "40P01", "57P01", "57P02", "57P03"].includes(code);
}

/** The error and the errors it wraps (`cause`), outermost first, at most ten deep. */
function* causeChain(error: unknown): Generator<{ code?: unknown; name?: unknown }> {
  for (let current = error, depth = 0; current && depth < 10; depth++) {
    if (typeof current !== "object") return;
    yield current as { code?: unknown; name?: unknown };
    current = (current as { cause?: unknown }).cause;
  }
}

/** Whether retrying the same work later may succeed; looks through `cause` chains too. */
export function isTransient(error: unknown): boolean {
  for (const { code, name } of causeChain(error)) {
    if (typeof code === "string" && (transientCodes.has(code) || isTransientSqlState(code))) {
      return true;
    }
    if (typeof name === "string" && transientNames.has(name)) return true;
  }
  return false;
}

/**
 * Whether PostgreSQL refused the data itself: a SQLSTATE of class 22 (data
 * exception), such as 22021 (a byte sequence invalid in the encoding),
 * 22P05 (a character the encoding cannot hold) or 22001 (a string too long
 * for its column). The same command meets the same refusal every time, so
 * retrying it only delays the partition behind it. Looks through `cause`
 * chains too.
 */
export function isDataError(error: unknown): boolean {
  for (const { code } of causeChain(error)) {
    if (typeof code === "string" && /^22[0-9A-Z]{3}$/.test(code)) return true;
  }
  return false;
}

/** Waits ms milliseconds, or less if the signal aborts; never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Whether the promise settles, either way, within ms milliseconds. */
export function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms));
  return Promise.race([promise.then(() => true, () => true), timeout]).finally(() =>
    clearTimeout(timer)
  );
}

/** The message of any thrown value, for logs and dead-letter reasons. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
