import assert from "node:assert/strict";
import { type Command, decide, type DecisionState, type RejectionCode } from "./decide.ts";
import type { DomainEvent } from "./events.ts";
import { games, gamesId, kite, kiteId, missingId, toys, toysId } from "./_catalog_fixture.ts";

/** given(state).when(command) answers the decision, to be checked with then…(). */
function given(state: DecisionState) {
  return {
    when(command: Command) {
      const decision = decide(command, state);
      return {
        thenEvents(expected: DomainEvent[]) {
          assert.deepEqual(decision, { events: expected });
        },
        /** Only a VERSION_CONFLICT carries the current version. */
        thenRejected(code: RejectionCode, message: string | RegExp, currentVersion?: number) {
          assert.ok(
            "rejection" in decision,
            `expected a rejection, got ${JSON.stringify(decision)}`,
          );
          assert.equal(decision.rejection.code, code);
          if (typeof message === "string") assert.equal(decision.rejection.message, message);
          else assert.match(decision.rejection.message, message);
          assert.equal(decision.rejection.currentVersion, currentVersion);
        },
      };
    },
  };
}

Deno.test("decide() creates a category with a free name", () => {
  given({})
    .when({ type: "CreateCategory", aggregateId: toysId, payload: { name: "Toys" } })
    .thenEvents([{ type: "CategoryCreated", data: { name: "Toys" } }]);
});

Deno.test("decide() rejects a category name that another category has in any case", () => {
  given({ categoryWithSameName: toys })
    .when({ type: "CreateCategory", aggregateId: gamesId, payload: { name: "TOYS" } })
    .thenRejected(
      "CATEGORY_NAME_TAKEN",
      'Cannot create category "TOYS": a category named "Toys" already exists',
    );
});

Deno.test("decide() rejects creating a category with an id that is taken", () => {
  given({ idTaken: true })
    .when({ type: "CreateCategory", aggregateId: toysId, payload: { name: "Toys" } })
    .thenRejected("ALREADY_EXISTS", `Cannot create category "Toys": id "${toysId}" is taken`);
});

Deno.test("decide() renames a category", () => {
  given({ category: toys })
    .when({ type: "UpdateCategory", aggregateId: toysId, payload: { id: toysId, name: "Fun" } })
    .thenEvents([{ type: "CategoryUpdated", data: { name: "Fun" } }]);
});

Deno.test("decide() lets a category take its own name in another case", () => {
  given({ category: toys, categoryWithSameName: toys })
    .when({ type: "UpdateCategory", aggregateId: toysId, payload: { id: toysId, name: "TOYS" } })
    .thenEvents([{ type: "CategoryUpdated", data: { name: "TOYS" } }]);
});

Deno.test("decide() rejects renaming a category to another category's name", () => {
  given({ category: toys, categoryWithSameName: games })
    .when({ type: "UpdateCategory", aggregateId: toysId, payload: { id: toysId, name: "games" } })
    .thenRejected(
      "CATEGORY_NAME_TAKEN",
      'Cannot rename category "Toys" to "games": a category named "Games" already exists',
    );
});

Deno.test("decide() rejects updating a category that does not exist", () => {
  given({})
    .when({
      type: "UpdateCategory",
      aggregateId: missingId,
      payload: { id: missingId, name: "Fun" },
    })
    .thenRejected("NOT_FOUND", `Cannot update category "${missingId}": it does not exist`);
});

Deno.test("decide() deletes a category without products", () => {
  given({ category: toys, productCount: 0 })
    .when({ type: "DeleteCategory", aggregateId: toysId, payload: { id: toysId } })
    .thenEvents([{ type: "CategoryDeleted", data: {} }]);
});

Deno.test("decide() rejects deleting a category that still has products", () => {
  given({ category: toys, productCount: 2 })
    .when({ type: "DeleteCategory", aggregateId: toysId, payload: { id: toysId } })
    .thenRejected("CATEGORY_NOT_EMPTY", 'Cannot delete category "Toys": it still has 2 products');
});

Deno.test("decide() rejects deleting a category that does not exist", () => {
  given({})
    .when({ type: "DeleteCategory", aggregateId: missingId, payload: { id: missingId } })
    .thenRejected("NOT_FOUND", `Cannot delete category "${missingId}": it does not exist`);
});

Deno.test("decide() creates a product in an existing category", () => {
  given({ productCategory: toys })
    .when({
      type: "CreateProduct",
      aggregateId: kiteId,
      payload: { name: "Kite", price: "19.99", categoryId: toysId },
    })
    .thenEvents([
      { type: "ProductCreated", data: { name: "Kite", price: "19.99", categoryId: toysId } },
    ]);
});

Deno.test("decide() rejects creating a product whose category does not exist", () => {
  given({})
    .when({
      type: "CreateProduct",
      aggregateId: kiteId,
      payload: { name: "Desk", price: "120.00", categoryId: missingId },
    })
    .thenRejected(
      "CATEGORY_NOT_FOUND",
      `Cannot create product "Desk": category "${missingId}" does not exist`,
    );
});

Deno.test("decide() rejects creating a product with an id that is taken", () => {
  given({ idTaken: true, productCategory: toys })
    .when({
      type: "CreateProduct",
      aggregateId: kiteId,
      payload: { name: "Kite", price: "19.99", categoryId: toysId },
    })
    .thenRejected("ALREADY_EXISTS", `Cannot create product "Kite": id "${kiteId}" is taken`);
});

Deno.test("decide() updates a product with its full new state, keeping fields not given", () => {
  given({ product: kite, productCategory: toys })
    .when({ type: "UpdateProduct", aggregateId: kiteId, payload: { id: kiteId, price: "4.25" } })
    .thenEvents([
      { type: "ProductUpdated", data: { name: "Kite", price: "4.25", categoryId: toysId } },
    ]);
});

Deno.test("decide() moves a product to another existing category", () => {
  given({ product: kite, productCategory: games })
    .when({
      type: "UpdateProduct",
      aggregateId: kiteId,
      payload: { id: kiteId, name: "Box kite", categoryId: gamesId },
    })
    .thenEvents([
      { type: "ProductUpdated", data: { name: "Box kite", price: "19.99", categoryId: gamesId } },
    ]);
});

Deno.test("decide() rejects moving a product to a category that does not exist", () => {
  given({ product: kite })
    .when({
      type: "UpdateProduct",
      aggregateId: kiteId,
      payload: { id: kiteId, categoryId: missingId },
    })
    .thenRejected(
      "CATEGORY_NOT_FOUND",
      `Cannot update product "Kite": category "${missingId}" does not exist`,
    );
});

Deno.test("decide() rejects updating a product that does not exist", () => {
  given({ productCategory: toys })
    .when({ type: "UpdateProduct", aggregateId: missingId, payload: { id: missingId, name: "X" } })
    .thenRejected("NOT_FOUND", `Cannot update product "${missingId}": it does not exist`);
});

Deno.test("decide() deletes a product, naming the category it leaves", () => {
  given({ product: kite })
    .when({ type: "DeleteProduct", aggregateId: kiteId, payload: { id: kiteId } })
    .thenEvents([{ type: "ProductDeleted", data: { categoryId: toysId } }]);
});

Deno.test("decide() rejects deleting a product that does not exist", () => {
  given({})
    .when({ type: "DeleteProduct", aggregateId: missingId, payload: { id: missingId } })
    .thenRejected("NOT_FOUND", `Cannot delete product "${missingId}": it does not exist`);
});

Deno.test("decide() renames a category at the expected version", () => {
  given({ category: games })
    .when({
      type: "UpdateCategory",
      aggregateId: gamesId,
      payload: { id: gamesId, name: "Board games", expectedVersion: 3 },
    })
    .thenEvents([{ type: "CategoryUpdated", data: { name: "Board games" } }]);
});

Deno.test("decide() rejects renaming a category that is not at the expected version", () => {
  given({ category: games })
    .when({
      type: "UpdateCategory",
      aggregateId: gamesId,
      payload: { id: gamesId, name: "Board games", expectedVersion: 2 },
    })
    .thenRejected(
      "VERSION_CONFLICT",
      `Cannot update category "${gamesId}": expected version 2, but it is at version 3`,
      3,
    );
});

Deno.test("decide() reports a version conflict before a taken name", () => {
  given({ category: toys, categoryWithSameName: games })
    .when({
      type: "UpdateCategory",
      aggregateId: toysId,
      payload: { id: toysId, name: "Games", expectedVersion: 4 },
    })
    .thenRejected(
      "VERSION_CONFLICT",
      `Cannot update category "${toysId}": expected version 4, but it is at version 1`,
      1,
    );
});

Deno.test("decide() deletes a category at the expected version", () => {
  given({ category: toys, productCount: 0 })
    .when({
      type: "DeleteCategory",
      aggregateId: toysId,
      payload: { id: toysId, expectedVersion: 1 },
    })
    .thenEvents([{ type: "CategoryDeleted", data: {} }]);
});

Deno.test("decide() rejects deleting a category that is not at the expected version", () => {
  given({ category: games, productCount: 2 })
    .when({
      type: "DeleteCategory",
      aggregateId: gamesId,
      payload: { id: gamesId, expectedVersion: 5 },
    })
    .thenRejected(
      "VERSION_CONFLICT",
      `Cannot delete category "${gamesId}": expected version 5, but it is at version 3`,
      3,
    );
});

Deno.test("decide() still refuses a non-empty category at the expected version", () => {
  given({ category: games, productCount: 1 })
    .when({
      type: "DeleteCategory",
      aggregateId: gamesId,
      payload: { id: gamesId, expectedVersion: 3 },
    })
    .thenRejected("CATEGORY_NOT_EMPTY", 'Cannot delete category "Games": it still has 1 product');
});

Deno.test("decide() updates a product at the expected version", () => {
  given({ product: kite, productCategory: toys })
    .when({
      type: "UpdateProduct",
      aggregateId: kiteId,
      payload: { id: kiteId, name: "Box kite", expectedVersion: 2 },
    })
    .thenEvents([
      { type: "ProductUpdated", data: { name: "Box kite", price: "19.99", categoryId: toysId } },
    ]);
});

Deno.test("decide() rejects updating a product that is not at the expected version", () => {
  given({ product: { ...kite, version: 5 }, productCategory: toys })
    .when({
      type: "UpdateProduct",
      aggregateId: kiteId,
      payload: { id: kiteId, price: "5.00", expectedVersion: 3 },
    })
    .thenRejected(
      "VERSION_CONFLICT",
      `Cannot update product "${kiteId}": expected version 3, but it is at version 5`,
      5,
    );
});

Deno.test("decide() reports a version conflict before a missing category", () => {
  given({ product: kite })
    .when({
      type: "UpdateProduct",
      aggregateId: kiteId,
      payload: { id: kiteId, categoryId: missingId, expectedVersion: 1 },
    })
    .thenRejected(
      "VERSION_CONFLICT",
      `Cannot update product "${kiteId}": expected version 1, but it is at version 2`,
      2,
    );
});

Deno.test("decide() deletes a product at the expected version", () => {
  given({ product: kite })
    .when({
      type: "DeleteProduct",
      aggregateId: kiteId,
      payload: { id: kiteId, expectedVersion: 2 },
    })
    .thenEvents([{ type: "ProductDeleted", data: { categoryId: toysId } }]);
});

Deno.test("decide() rejects deleting a product that is not at the expected version", () => {
  given({ product: kite })
    .when({
      type: "DeleteProduct",
      aggregateId: kiteId,
      payload: { id: kiteId, expectedVersion: 1 },
    })
    .thenRejected(
      "VERSION_CONFLICT",
      `Cannot delete product "${kiteId}": expected version 1, but it is at version 2`,
      2,
    );
});

Deno.test("decide() answers NOT_FOUND, not a version conflict, for an entity that does not exist", () => {
  const expectedVersion = 1;
  given({})
    .when({
      type: "UpdateCategory",
      aggregateId: missingId,
      payload: { id: missingId, name: "Fun", expectedVersion },
    })
    .thenRejected("NOT_FOUND", `Cannot update category "${missingId}": it does not exist`);
  given({})
    .when({
      type: "DeleteCategory",
      aggregateId: missingId,
      payload: { id: missingId, expectedVersion },
    })
    .thenRejected("NOT_FOUND", `Cannot delete category "${missingId}": it does not exist`);
  given({})
    .when({
      type: "UpdateProduct",
      aggregateId: missingId,
      payload: { id: missingId, name: "X", expectedVersion },
    })
    .thenRejected("NOT_FOUND", `Cannot update product "${missingId}": it does not exist`);
  given({})
    .when({
      type: "DeleteProduct",
      aggregateId: missingId,
      payload: { id: missingId, expectedVersion },
    })
    .thenRejected("NOT_FOUND", `Cannot delete product "${missingId}": it does not exist`);
});
