import assert from "node:assert/strict";
import { after, marked } from "./mark.ts";

Deno.test("after() orders rows by transaction id, then by position within a transaction", () => {
  const mark = { transactionId: 10n, position: 5n };
  assert.equal(after({ transactionId: 10n, position: 6n }, mark), true);
  assert.equal(after({ transactionId: 11n, position: 1n }, mark), true);
  assert.equal(after({ transactionId: 10n, position: 5n }, mark), false);
  // A later commit can carry a lower position: the transaction id comes first.
  assert.equal(after({ transactionId: 9n, position: 100n }, mark), false);
});

Deno.test("marked() turns a row's place in the log from text into numbers, keeping the rest", () => {
  assert.deepEqual(
    marked<{ transactionId: bigint; position: bigint; type: string }>({
      transactionId: "18446744073709551615",
      position: "7",
      type: "CategoryCreated",
    }),
    { transactionId: 18446744073709551615n, position: 7n, type: "CategoryCreated" },
  );
});
