import assert from "node:assert/strict";
import { isClosedSocketWrite } from "./postgres_guard.ts";

function errorWithStack(error: Error, stack: string): Error {
  error.stack = `${error.name}: ${error.message}\n${stack}`;
  return error;
}

Deno.test("isClosedSocketWrite() recognises postgres.js writing to a closed socket", () => {
  const fault = errorWithStack(
    new TypeError("Cannot read properties of null (reading 'write')"),
    "    at Immediate.nextWrite (file:///cache/npm/registry.npmjs.org/postgres/3.4.9/src/connection.js:255:22)",
  );
  assert.ok(isClosedSocketWrite(fault));
});

Deno.test("isClosedSocketWrite() leaves every other error alone", () => {
  const elsewhere = errorWithStack(
    new TypeError("Cannot read properties of null (reading 'write')"),
    "    at send (file:///work/main/worker/consume.ts:10:1)",
  );
  const other = errorWithStack(
    new TypeError("Cannot read properties of null (reading 'name')"),
    "    at Immediate.nextWrite (file:///cache/postgres/src/connection.js:255:22)",
  );
  assert.ok(!isClosedSocketWrite(elsewhere));
  assert.ok(!isClosedSocketWrite(other));
  assert.ok(!isClosedSocketWrite(new RangeError("write")));
  assert.ok(!isClosedSocketWrite("(reading 'write') nextWrite postgres"));
});
