import assert from "node:assert/strict";
import { wholeTransactions } from "./whole_transactions.ts";

/** Rows of the given transaction ids, each with its place among them. */
function rows(...transactionIds: number[]) {
  return transactionIds.map((id, index) => ({ transactionId: BigInt(id), index }));
}

const horizon = 100n;

Deno.test("wholeTransactions() takes every row up to the horizon when they fit in the batch", () => {
  assert.deepEqual(wholeTransactions(rows(1, 1, 2), { size: 3, horizon }), {
    rows: rows(1, 1, 2),
    upTo: horizon,
  });
  assert.deepEqual(wholeTransactions([], { size: 3, horizon }), { rows: [], upTo: horizon });
});

Deno.test("wholeTransactions() ends a batch cut between two transactions after the first", () => {
  assert.deepEqual(wholeTransactions(rows(1, 2, 2, 3), { size: 3, horizon }), {
    rows: rows(1, 2, 2),
    upTo: 3n,
  });
});

Deno.test("wholeTransactions() leaves a transaction the cut falls in for the next batch", () => {
  assert.deepEqual(wholeTransactions(rows(1, 2, 5, 5), { size: 3, horizon }), {
    rows: rows(1, 2),
    upTo: 5n,
  });
});

Deno.test("wholeTransactions() asks for all of a transaction that alone outgrows the batch", () => {
  assert.deepEqual(wholeTransactions(rows(4, 4, 4, 4), { size: 3, horizon }), { upTo: 5n });
});
