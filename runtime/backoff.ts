/** Options of backoffDelay(). */
export interface BackoffOptions {
  /** Ceiling of the first delay, in milliseconds. Default 100. */
  initialMs?: number;
  /** Highest ceiling, in milliseconds. Default 5000. */
  maxMs?: number;
  /**
   * Where the jitter comes from: a number from 0 to 1. Default Math.random.
   * `() => 1` gives the ceiling itself, plain doubling, which is how tests
   * pin the delay.
   */
  random?: () => number;
}

/**
 * The delay before retry number `attempt` (0-based) of every retry loop and
 * every reconnection in the services: exponential backoff with "equal
 * jitter". The ceiling doubles from initialMs up to maxMs; the delay is half
 * the ceiling plus a random part of the other half.
 *
 * Why equal jitter rather than full jitter (a random delay anywhere from 0 to
 * the ceiling): what these loops wait for is a peer coming back (RabbitMQ or
 * PostgreSQL restarting), watched by a handful of replicas rather than
 * thousands of contending clients. Half a window of randomness is enough to
 * keep the replicas from reconnecting in lockstep after a restart, and the
 * lower bound of half the ceiling keeps the backoff a backoff: full jitter may
 * draw near-zero delays several times in a row, hammering a peer that is down
 * and filling the logs with "retrying in 3 ms".
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const initial = options.initialMs ?? 100;
  const max = options.maxMs ?? 5000;
  // Past 2^30 the ceiling is the cap anyway; the exponent stays finite.
  const ceiling = Math.min(max, initial * 2 ** Math.min(Math.max(0, attempt), 30));
  const random = Math.min(1, Math.max(0, (options.random ?? Math.random)()));
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}
