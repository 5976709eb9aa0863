import assert from "node:assert/strict";
import { knownStateOf, type LoadedRows, remember, stateOf } from "./known_state.ts";
import { games, gamesId, kite, kiteId, toys, toysId } from "../_catalog_fixture.ts";

/** The state loaded from these rows, every list empty unless given. */
function given(rows: Partial<LoadedRows>) {
  return knownStateOf({
    outcomes: [],
    keyOwners: [],
    categories: [],
    nameKeys: [],
    products: [],
    taken: [],
    deletedCategoryIds: [],
    productCounts: [],
    ...rows,
  });
}

Deno.test("knownStateOf() counts no products for a deleted category the database counted none for", () => {
  const known = given({
    deletedCategoryIds: [toysId.toUpperCase(), gamesId],
    productCounts: [{ id: gamesId, count: 2 }],
  });
  assert.deepEqual([...known.productCounts], [[toysId, 0], [gamesId, 2]]);
});

Deno.test("stateOf() reads another category with the same name, but not the one being renamed", () => {
  const known = given({
    categories: [{ ...toys, key: "toys" }, { ...games, key: "games" }],
    nameKeys: [{ name: "TOYS", key: "toys" }],
  });
  assert.deepEqual(
    stateOf(known, {
      type: "UpdateCategory",
      aggregateId: gamesId,
      payload: { id: gamesId, name: "TOYS" },
    }),
    { category: games, categoryWithSameName: toys },
  );
  assert.deepEqual(
    stateOf(known, {
      type: "UpdateCategory",
      aggregateId: toysId,
      payload: { id: toysId, name: "TOYS" },
    }),
    { category: toys, categoryWithSameName: undefined },
  );
});

Deno.test("stateOf() reads a product update's category from the product when the update keeps it", () => {
  const known = given({ categories: [{ ...toys, key: "toys" }], products: [kite] });
  assert.deepEqual(
    stateOf(known, { type: "UpdateProduct", aggregateId: kiteId, payload: { id: kiteId } }),
    { product: kite, productCategory: toys },
  );
  assert.deepEqual(
    stateOf(known, {
      type: "UpdateProduct",
      aggregateId: kiteId,
      payload: { id: kiteId, categoryId: gamesId },
    }),
    { product: kite, productCategory: undefined },
  );
  assert.deepEqual(
    stateOf(given({}), { type: "UpdateProduct", aggregateId: kiteId, payload: { id: kiteId } }),
    {},
  );
});

Deno.test("stateOf() tells a create whether its id is taken, regardless of case", () => {
  const known = given({ taken: [{ id: kiteId }] });
  const create = {
    type: "CreateProduct",
    aggregateId: kiteId.toUpperCase(),
    payload: { name: "Kite", price: "1.00", categoryId: toysId },
  } as const;
  assert.deepEqual(stateOf(known, create), { idTaken: true, productCategory: undefined });
});

Deno.test("remember() renames a category, freeing its old name and taking the new one", () => {
  const known = given({
    categories: [{ ...toys, key: "toys" }],
    nameKeys: [{ name: "Fun", key: "fun" }],
  });
  remember(known, {
    type: "CategoryUpdated",
    data: { name: "Fun" },
    aggregateId: toysId,
    aggregateVersion: 2,
  });
  assert.deepEqual(known.categories.get(toysId), {
    state: { id: toysId, name: "Fun", version: 2 },
    key: "fun",
  });
  assert.deepEqual([...known.categoryByName], [["fun", toysId]]);
});

Deno.test("remember() moves a product's count from the category it leaves to the one it joins", () => {
  const known = given({
    categories: [{ ...toys, key: "toys" }, { ...games, key: "games" }],
    products: [kite],
    deletedCategoryIds: [toysId, gamesId],
    productCounts: [{ id: toysId, count: 1 }],
  });
  const moved = { name: "Kite", price: "19.99", categoryId: gamesId.toUpperCase() };
  remember(known, {
    type: "ProductUpdated",
    data: moved,
    aggregateId: kiteId,
    aggregateVersion: 3,
  });
  assert.deepEqual([...known.productCounts], [[toysId, 0], [gamesId, 1]]);
  assert.deepEqual(known.products.get(kiteId), { ...kite, categoryId: gamesId, version: 3 });

  remember(known, {
    type: "ProductUpdated",
    data: { ...moved, price: "5.00" },
    aggregateId: kiteId,
    aggregateVersion: 4,
  });
  assert.deepEqual([...known.productCounts], [[toysId, 0], [gamesId, 1]]);

  remember(known, {
    type: "ProductDeleted",
    data: { categoryId: gamesId },
    aggregateId: kiteId,
    aggregateVersion: 5,
  });
  assert.deepEqual([...known.productCounts], [[toysId, 0], [gamesId, 0]]);
  assert.equal(known.products.has(kiteId), false);
});

Deno.test("remember() keeps a deleted entity's id taken", () => {
  const known = given({ nameKeys: [{ name: "Toys", key: "toys" }] });
  remember(known, {
    type: "CategoryCreated",
    data: { name: "Toys" },
    aggregateId: toysId,
    aggregateVersion: 1,
  });
  remember(known, { type: "CategoryDeleted", data: {}, aggregateId: toysId, aggregateVersion: 2 });
  assert.equal(known.categories.has(toysId), false);
  assert.equal(known.categoryByName.has("toys"), false);
  assert.equal(known.taken.has(toysId), true);
});
