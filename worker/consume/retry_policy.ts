import { backoffDelay, type BackoffOptions } from "@catalog/runtime";
import { isDataError, isTransient } from "../faults.ts";

/** Options of a RetryPolicy. */
export interface RetryPolicyOptions {
  /** Failures other than passing faults retried before giving up. Default 3. */
  retries?: number;
  /** The delays between attempts. Default: backoffDelay()'s own (100 ms doubling up to 5 s). */
  backoff?: BackoffOptions;
}

/** What to do after a failed attempt: wait, then try again. */
export interface Retry {
  /** How long to wait before the next attempt, in milliseconds. */
  delayMs: number;
  /** Whether the failure was a passing fault (isTransient()), which never runs out of retries. */
  transient: boolean;
  /** Failures other than passing faults so far, this one included (0 for a passing fault). */
  failures: number;
  /** Failures other than passing faults allowed before giving up. */
  retries: number;
}

/**
 * The worker's rule for retrying one piece of work: a passing fault (the
 * database is briefly away, a transaction lost a race) is retried as long as
 * it lasts, so it never costs a command its place; any other failure only
 * `retries` times, after which the work is given up (and the command
 * dead-lettered). Each kind has its own backoff, growing with its own count.
 * A data exception of PostgreSQL's (isDataError()) is given up at once: the
 * same data is refused the same way every time. Pure: it decides, the
 * caller waits.
 */
export class RetryPolicy {
  readonly #retries: number;
  readonly #backoff: BackoffOptions | undefined;
  #faults = 0;
  #failures = 0;

  constructor(options: RetryPolicyOptions = {}) {
    this.#retries = options.retries ?? 3;
    this.#backoff = options.backoff;
  }

  /** After a failed attempt: when to try again, or undefined to give up. */
  next(error: unknown): Retry | undefined {
    if (isDataError(error)) return undefined;
    if (isTransient(error)) {
      const delayMs = backoffDelay(this.#faults++, this.#backoff);
      return { delayMs, transient: true, failures: 0, retries: this.#retries };
    }
    this.#failures += 1;
    if (this.#failures > this.#retries) return undefined;
    const delayMs = backoffDelay(this.#failures - 1, this.#backoff);
    return { delayMs, transient: false, failures: this.#failures, retries: this.#retries };
  }
}
