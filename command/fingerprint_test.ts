import assert from "node:assert/strict";
import { fingerprintOf } from "./fingerprint.ts";

Deno.test("fingerprintOf() ignores key order and tells requests apart", async () => {
  const one = await fingerprintOf("UpdateProduct", { id: "a", name: "Kite", price: "1.00" });
  assert.match(one, /^[0-9a-f]{64}$/);
  assert.equal(await fingerprintOf("UpdateProduct", { price: "1.00", name: "Kite", id: "a" }), one);
  assert.notEqual(
    await fingerprintOf("UpdateProduct", { id: "a", name: "Kite", price: "1.01" }),
    one,
  );
  assert.notEqual(
    await fingerprintOf("UpdateProduct", { id: "b", name: "Kite", price: "1.00" }),
    one,
  );
  assert.notEqual(
    await fingerprintOf("CreateProduct", { id: "a", name: "Kite", price: "1.00" }),
    one,
  );
});

Deno.test("fingerprintOf() tells apart requests that differ only in their expected version", async () => {
  const unconditional = await fingerprintOf("DeleteProduct", { id: "a" });
  const atTwo = await fingerprintOf("DeleteProduct", { id: "a", expectedVersion: 2 });
  assert.notEqual(atTwo, unconditional);
  assert.notEqual(await fingerprintOf("DeleteProduct", { id: "a", expectedVersion: 3 }), atTwo);
  assert.equal(await fingerprintOf("DeleteProduct", { expectedVersion: 2, id: "a" }), atTwo);
});
