import type { BackoffOptions } from "@catalog/runtime";
import { messageOf, sleep } from "../faults.ts";
import { RetryPolicy } from "./retry_policy.ts";

/** How an attempt() ended. */
export type Attempt<T> =
  | { kind: "ok"; value: T }
  /** Failed for a reason other than a passing fault, more often than the retries allow. */
  | { kind: "failed"; error: unknown }
  /** Given up because the partition or the worker is stopping; the message stays unacknowledged. */
  | { kind: "abandoned" };

/** Options of attempt(). */
export interface AttemptOptions {
  /** Aborted when the work is no longer wanted (the partition or the session is leaving). */
  abandon: AbortSignal;
  /** Receives one line per failed attempt. */
  log: (line: string) => void;
  /** Failures other than passing faults retried. Default 3. */
  retries?: number;
  /** The delays between attempts. Default: backoffDelay()'s own. */
  backoff?: BackoffOptions;
}

/**
 * Runs work until it succeeds, retrying as RetryPolicy says and waiting in
 * between; `what` names it in the log ("handle CreateCategory 3f2a9c1e…").
 * Never rejects: a failure past the retries is an outcome, and so is giving
 * up once `abandon` aborts.
 */
export async function attempt<T>(
  what: string,
  work: () => Promise<T>,
  options: AttemptOptions,
): Promise<Attempt<T>> {
  const { abandon, log } = options;
  const policy = new RetryPolicy({ retries: options.retries, backoff: options.backoff });
  while (true) {
    if (abandon.aborted) return { kind: "abandoned" };
    try {
      return { kind: "ok", value: await work() };
    } catch (error) {
      if (abandon.aborted) return { kind: "abandoned" };
      const retry = policy.next(error);
      if (!retry) return { kind: "failed", error };
      log(
        retry.transient
          ? `cannot ${what} yet (${messageOf(error)}); retrying in ${retry.delayMs} ms`
          : `cannot ${what}: ${
            messageOf(error)
          }; retry ${retry.failures} of ${retry.retries} in ${retry.delayMs} ms`,
      );
      await sleep(retry.delayMs, abandon);
    }
  }
}
