/** A place in a log: rows are ordered by (transaction id, position). */
export interface Mark {
  transactionId: bigint;
  position: bigint;
}

/** Whether a row comes after a place in its log. */
export function after(row: Mark, mark: Mark): boolean {
  return row.transactionId > mark.transactionId ||
    (row.transactionId === mark.transactionId && row.position > mark.position);
}

/** A row as read, before its place in the log is turned into numbers. */
export type Raw<T extends Mark> = Omit<T, "transactionId" | "position"> & {
  transactionId: string;
  position: string;
};

/** A row with its place in the log as numbers; the database answers them as text. */
export function marked<T extends Mark>(row: Raw<T>): T {
  return {
    ...row,
    transactionId: BigInt(row.transactionId),
    position: BigInt(row.position),
  } as unknown as T;
}
