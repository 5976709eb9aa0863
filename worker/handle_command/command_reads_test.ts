import assert from "node:assert/strict";
import { commandEnvelope } from "../_testing.ts";
import { lockKeys, readsOf } from "./command_reads.ts";

const toysId = "0a4f0c1e-1b1a-4c3e-9a57-3f0a1d1f7a01";
const gamesId = "0a4f0c1e-1b1a-4c3e-9a57-3f0a1d1f7a02";
const kiteId = "0a4f0c1e-1b1a-4c3e-9a57-3f0a1d1f7a03";

Deno.test("lockKeys() locks the entity, the category a product goes to, the name claimed and the key", () => {
  assert.deepEqual(
    lockKeys(
      commandEnvelope(
        "CreateProduct",
        kiteId,
        { name: "Kite", price: "1.00", categoryId: toysId },
        {
          idempotencyKey: "k1",
        },
      ),
    ),
    [`entity:${kiteId}`, `entity:${toysId}`, "idempotency:k1"],
  );
  assert.deepEqual(
    lockKeys(commandEnvelope("UpdateCategory", toysId, { id: toysId, name: "Fun" })),
    [`entity:${toysId}`, "name:Fun"],
  );
});

Deno.test("lockKeys() does not lock the category of a product update that keeps it", () => {
  assert.deepEqual(
    lockKeys(commandEnvelope("UpdateProduct", kiteId, { id: kiteId, price: "2.00" })),
    [`entity:${kiteId}`],
  );
  assert.deepEqual(lockKeys(commandEnvelope("DeleteCategory", toysId, { id: toysId })), [
    `entity:${toysId}`,
  ]);
});

Deno.test("readsOf() looks each id, name and key up once, in what the decisions read it from", () => {
  const envelopes = [
    commandEnvelope("CreateCategory", toysId, { name: "Toys" }, { idempotencyKey: "k1" }),
    commandEnvelope("UpdateCategory", gamesId, { id: gamesId, name: "Toys" }),
    commandEnvelope("DeleteCategory", gamesId, { id: gamesId }, { idempotencyKey: "k1" }),
    commandEnvelope("CreateProduct", kiteId, { name: "Kite", price: "1.00", categoryId: toysId }),
    commandEnvelope("UpdateProduct", kiteId, { id: kiteId, categoryId: gamesId }),
    commandEnvelope("DeleteProduct", kiteId, { id: kiteId }),
  ];
  assert.deepEqual(readsOf(envelopes), {
    commandIds: envelopes.map((envelope) => envelope.commandId),
    categoryIds: [gamesId, toysId],
    productIds: [kiteId],
    createIds: [toysId, kiteId],
    deletedCategoryIds: [gamesId],
    names: ["Toys"],
    keys: ["k1"],
  });
});
