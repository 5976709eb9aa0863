/** Where a batch ends, as wholeTransactions() answers it. */
export interface BatchEnd<T> {
  /**
   * The rows to take; absent when one transaction alone outgrows the batch,
   * and then every row before `upTo` is to be read and taken: all of it.
   */
  rows?: T[];
  /** The batch holds rows of transactions before this id only; outcomes are taken up to it too. */
  upTo: bigint;
}

/**
 * Cuts rows of a log, read in (transaction id, position) order with one row
 * to spare (up to `size` + 1, all before `horizon`), into a batch of at most
 * `size` rows that holds only whole transactions, so the views never show
 * half a transaction: the rows of the transaction the cut falls in are left
 * for the next batch. Rows that fit whole run up to the horizon.
 */
export function wholeTransactions<T extends { transactionId: bigint }>(
  rows: readonly T[],
  options: { size: number; horizon: bigint },
): BatchEnd<T> {
  const { size, horizon } = options;
  if (rows.length <= size) return { rows: [...rows], upTo: horizon };
  // The spare row tells whether the batch ends inside a transaction.
  const next = rows[size]!.transactionId;
  const taken = rows.slice(0, size);
  const last = taken[size - 1]!.transactionId;
  if (next !== last) return { rows: taken, upTo: last + 1n };
  // Keep only whole transactions, or all of one that alone outgrows the batch.
  const whole = taken.filter((row) => row.transactionId < last);
  if (whole.length > 0) return { rows: whole, upTo: last };
  return { upTo: last + 1n };
}
