/**
 * The most statements sent on a transaction's connection before waiting for
 * their answers. postgres.js sends a transaction's statements without waiting
 * for each only until one is new to the connection (it waits for its
 * description), more than 100 are unanswered or the socket is full; after
 * that it sends one at a time until none is left. Slices of this size keep
 * the usual case, a few statements known to the connection, at one round trip.
 */
export const PIPELINE_DEPTH = 50;

/**
 * Sends the statements in order, a slice at a time, and waits for all of
 * them. postgres.js sends a statement only once it is awaited, so a
 * statement made but outside the slice waits for the slices before it.
 */
export async function pipelined(statements: readonly PromiseLike<unknown>[]): Promise<void> {
  for (let start = 0; start < statements.length; start += PIPELINE_DEPTH) {
    await Promise.all(statements.slice(start, start + PIPELINE_DEPTH));
  }
}
