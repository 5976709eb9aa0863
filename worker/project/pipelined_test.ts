import assert from "node:assert/strict";
import { PIPELINE_DEPTH, pipelined } from "./pipelined.ts";

/** A statement as postgres.js makes one: sent only when awaited; answered when answer() is called. */
function statement(sent: number[], index: number): PromiseLike<void> & { answer(): void } {
  let answer!: () => void;
  const answered = new Promise<void>((resolve) => answer = resolve);
  return {
    answer,
    then(onAnswer, onError) {
      sent.push(index);
      return answered.then(onAnswer, onError);
    },
  };
}

/** Lets every pending promise job run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("pipelined() sends statements in order, a slice at a time, and waits for all", async () => {
  const sent: number[] = [];
  const statements = Array.from(
    { length: PIPELINE_DEPTH + 2 },
    (_, index) => statement(sent, index),
  );
  let done = false;
  const running = pipelined(statements).then(() => done = true);
  await settle();
  assert.deepEqual(sent, Array.from({ length: PIPELINE_DEPTH }, (_, index) => index));

  for (const pending of statements.slice(0, PIPELINE_DEPTH - 1)) pending.answer();
  await settle();
  assert.equal(sent.length, PIPELINE_DEPTH, "the next slice waits for the whole first one");

  statements[PIPELINE_DEPTH - 1]!.answer();
  await settle();
  assert.deepEqual(sent.slice(PIPELINE_DEPTH), [PIPELINE_DEPTH, PIPELINE_DEPTH + 1]);
  assert.equal(done, false);

  for (const pending of statements.slice(PIPELINE_DEPTH)) pending.answer();
  await running;
  assert.equal(done, true);
});

Deno.test("pipelined() fails with the first statement that fails", async () => {
  const failing = Promise.reject(new Error("Cannot insert: boom"));
  await assert.rejects(pipelined([Promise.resolve(), failing]), /Cannot insert: boom/);
});
