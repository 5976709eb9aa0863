import assert from "node:assert/strict";
import { differencesOf } from "./model_differences.ts";

const toys = { id: "c-1", name: "Toys", version: "1" };
const games = { id: "c-2", name: "Games", version: "3" };

Deno.test("differencesOf() finds none between equal rows, whatever their order", () => {
  assert.deepEqual(differencesOf("category", { write: [toys, games], read: [games, toys] }), []);
});

Deno.test("differencesOf() names a row missing from the read model and one only in it", () => {
  assert.deepEqual(differencesOf("category", { write: [toys], read: [games] }), [
    { kind: "category", id: "c-1", what: "missing from the read model" },
    { kind: "category", id: "c-2", what: "in the read model only" },
  ]);
});

Deno.test("differencesOf() names each field that differs, with both texts", () => {
  const written = { id: "p-1", name: "Kite", price: "10.00", category_name: null };
  const shown = { id: "p-1", name: "Kite", price: "9.99", category_name: "Toys" };
  assert.deepEqual(differencesOf("product", { write: [written], read: [shown] }), [
    {
      kind: "product",
      id: "p-1",
      what: 'price: read "9.99", write "10.00"; category_name: read "Toys", write null',
    },
  ]);
});
