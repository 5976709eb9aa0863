import assert from "node:assert/strict";
import postgres from "postgres";
import { isDataError, isTransient, sleep } from "./faults.ts";

function withCode(code: string): Error {
  return Object.assign(new Error("boom"), { code });
}

Deno.test("isTransient() retries connection, serialization, deadlock and shutdown SQLSTATEs", () => {
  for (const code of ["08006", "08001", "40001", "40P01", "57P01", "57P02", "57P03", "53300"]) {
    assert.equal(isTransient(withCode(code)), true, code);
  }
});

Deno.test("isTransient() gives up on constraint, syntax and data SQLSTATEs", () => {
  for (const code of ["23505", "23503", "42601", "22012", "57014"]) {
    assert.equal(isTransient(withCode(code)), false, code);
  }
});

Deno.test("isTransient() retries refused and reset connections, also as a cause", () => {
  assert.equal(isTransient(withCode("ECONNREFUSED")), true);
  assert.equal(isTransient(withCode("CONNECTION_CLOSED")), true);
  assert.equal(isTransient(new Deno.errors.ConnectionReset("reset")), true);
  assert.equal(isTransient(new Error("wrapped", { cause: withCode("ECONNRESET") })), true);
  assert.equal(isTransient(new TypeError("bug")), false);
  assert.equal(isTransient("text"), false);
  assert.equal(isTransient(undefined), false);
});

Deno.test("isDataError() recognises PostgreSQL's data exceptions (class 22), also as a cause", () => {
  for (const code of ["22021", "22P05", "22001", "22P02", "22003", "22012", "22000"]) {
    assert.equal(isDataError(withCode(code)), true, code);
  }
  assert.equal(isDataError(new Error("wrapped", { cause: withCode("22021") })), true);
});

Deno.test("isDataError() leaves other SQLSTATEs and other errors alone", () => {
  for (const code of ["23505", "40001", "08006", "42601", "2202", "220211", "ECONNREFUSED"]) {
    assert.equal(isDataError(withCode(code)), false, code);
  }
  assert.equal(isDataError(new TypeError("bug")), false);
  assert.equal(isDataError(undefined), false);
  assert.equal(isDataError("22021"), false);
});

Deno.test("isTransient() recognises a refused PostgreSQL connection", async () => {
  const sql = postgres("postgres://postgres@127.0.0.1:1/none", { max: 1, connect_timeout: 2 });
  try {
    await assert.rejects(sql`select 1`, (error: unknown) => isTransient(error));
  } finally {
    await sql.end({ timeout: 1 });
  }
});

Deno.test("sleep() ends early when its signal aborts", async () => {
  const controller = new AbortController();
  const started = Date.now();
  const slept = sleep(10_000, controller.signal);
  controller.abort();
  await slept;
  assert.ok(Date.now() - started < 1000);
});
