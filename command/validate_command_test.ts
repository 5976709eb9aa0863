import assert from "node:assert/strict";
import type { FieldError } from "@catalog/proto";
import { InvalidCommandError } from "./errors.ts";
import { idempotencyKeyErrors, validateCommand } from "./validate_command.ts";

const categoryId = "0b1d6a8e-3c2f-4e4b-9f0a-1d2c3b4a5f60";
const productId = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

function fieldErrors(fn: () => unknown): FieldError[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof InvalidCommandError, `expected InvalidCommandError, got ${error}`);
    return error.fieldErrors;
  }
  assert.fail("expected the command to be invalid");
}

Deno.test("validateCommand() trims a category name", () => {
  assert.deepEqual(validateCommand("CreateCategory", { name: "  Books \n" }), { name: "Books" });
});

Deno.test("validateCommand() rejects an empty or blank category name", () => {
  for (const name of ["", "   "]) {
    assert.deepEqual(fieldErrors(() => validateCommand("CreateCategory", { name })), [
      { field: "name", message: "Must not be empty" },
    ]);
  }
});

Deno.test("validateCommand() allows 100 characters in a category name and no more", () => {
  assert.deepEqual(validateCommand("CreateCategory", { name: "a".repeat(100) }), {
    name: "a".repeat(100),
  });
  assert.deepEqual(
    fieldErrors(() => validateCommand("CreateCategory", { name: "a".repeat(101) })),
    [{ field: "name", message: "Must be at most 100 characters" }],
  );
});

Deno.test("validateCommand() counts a category name's length after trimming", () => {
  assert.deepEqual(
    validateCommand("UpdateCategory", { id: categoryId, name: ` ${"a".repeat(100)} ` }),
    { id: categoryId, name: "a".repeat(100) },
  );
});

Deno.test("validateCommand() allows 200 characters in a product name and no more", () => {
  const valid = { name: "b".repeat(200), price: "1", categoryId };
  assert.equal(validateCommand("CreateProduct", valid).name, "b".repeat(200));
  assert.deepEqual(
    fieldErrors(() => validateCommand("CreateProduct", { ...valid, name: "b".repeat(201) })),
    [{ field: "name", message: "Must be at most 200 characters" }],
  );
});

Deno.test("validateCommand() normalises a price to two decimal places", () => {
  for (
    const [given, expected] of [["19.9", "19.90"], ["19", "19.00"], [" 0.01 ", "0.01"], [
      "999999.99",
      "999999.99",
    ]]
  ) {
    assert.equal(
      validateCommand("CreateProduct", { name: "Pen", price: given, categoryId }).price,
      expected,
    );
  }
});

Deno.test("validateCommand() rejects a price with more than two decimal places or not a decimal", () => {
  for (const price of ["1.234", "abc", "", "1e3", "-1", "1,50", "0x10", ".5", "1."]) {
    assert.deepEqual(
      fieldErrors(() => validateCommand("CreateProduct", { name: "Pen", price, categoryId })),
      [{
        field: "price",
        message: "Must be a decimal number with at most two decimal places, like 19.99",
      }],
      `price ${JSON.stringify(price)}`,
    );
  }
});

Deno.test("validateCommand() rejects a price out of range", () => {
  for (const price of ["0", "0.00", "1000000", "1000000.00", "999999999999"]) {
    const errors = fieldErrors(() =>
      validateCommand("CreateProduct", { name: "Pen", price, categoryId })
    );
    assert.equal(errors.length, 1, `price ${price}`);
    assert.equal(errors[0]!.field, "price");
  }
  assert.deepEqual(
    fieldErrors(() => validateCommand("CreateProduct", { name: "Pen", price: "0", categoryId })),
    [{ field: "price", message: "Must be between 0.01 and 999999.99" }],
  );
});

Deno.test("validateCommand() rejects ids that are not UUIDs", () => {
  assert.deepEqual(fieldErrors(() => validateCommand("DeleteCategory", { id: "42" })), [
    { field: "id", message: "Must be a UUID" },
  ]);
  assert.deepEqual(fieldErrors(() => validateCommand("DeleteProduct", { id: "" })), [
    { field: "id", message: "Must be a UUID" },
  ]);
  assert.deepEqual(
    fieldErrors(() =>
      validateCommand("CreateProduct", { name: "Pen", price: "1", categoryId: "c-1" })
    ),
    [{ field: "categoryId", message: "Must be a UUID" }],
  );
});

Deno.test("validateCommand() names every failed field at once", () => {
  assert.deepEqual(
    fieldErrors(() =>
      validateCommand("CreateProduct", { name: "", price: "0", categoryId: "nope" })
    ),
    [
      { field: "name", message: "Must not be empty" },
      { field: "price", message: "Must be between 0.01 and 999999.99" },
      { field: "categoryId", message: "Must be a UUID" },
    ],
  );
});

Deno.test("validateCommand() rejects a field the command does not have", () => {
  const errors = fieldErrors(() =>
    validateCommand("CreateCategory", { name: "Books", price: "1.00" })
  );
  assert.equal(errors.length, 1);
  assert.match(errors[0]!.message, /Unrecognized key: "price"/);
});

Deno.test("validateCommand() takes a partial UpdateProduct and leaves absent fields out", () => {
  assert.deepEqual(validateCommand("UpdateProduct", { id: productId, price: "5" }), {
    id: productId,
    price: "5.00",
  });
  assert.deepEqual(validateCommand("UpdateProduct", { id: productId, name: " Lamp " }), {
    id: productId,
    name: "Lamp",
  });
});

Deno.test("validateCommand() checks the fields an UpdateProduct does carry", () => {
  assert.deepEqual(
    fieldErrors(() => validateCommand("UpdateProduct", { id: productId, name: "", price: "x" })),
    [
      { field: "name", message: "Must not be empty" },
      {
        field: "price",
        message: "Must be a decimal number with at most two decimal places, like 19.99",
      },
    ],
  );
});

Deno.test("validateCommand() rejects an UpdateProduct that changes nothing", () => {
  assert.deepEqual(fieldErrors(() => validateCommand("UpdateProduct", { id: productId })), [
    { field: "(request)", message: "Must change at least one of name, price or categoryId" },
  ]);
});

Deno.test("validateCommand() carries an expected version on updates and deletes", () => {
  assert.deepEqual(
    validateCommand("UpdateCategory", { id: categoryId, name: "Books", expectedVersion: 3 }),
    { id: categoryId, name: "Books", expectedVersion: 3 },
  );
  assert.deepEqual(validateCommand("DeleteCategory", { id: categoryId, expectedVersion: 1 }), {
    id: categoryId,
    expectedVersion: 1,
  });
  assert.deepEqual(
    validateCommand("UpdateProduct", { id: productId, price: "2", expectedVersion: 7 }),
    { id: productId, price: "2.00", expectedVersion: 7 },
  );
  assert.deepEqual(validateCommand("DeleteProduct", { id: productId, expectedVersion: 2 }), {
    id: productId,
    expectedVersion: 2,
  });
  assert.deepEqual(validateCommand("DeleteProduct", { id: productId }), { id: productId });
});

Deno.test("validateCommand() rejects an expected version that is not a positive integer", () => {
  for (const expectedVersion of [0, -1, 1.5, "2", Number.NaN]) {
    assert.deepEqual(
      fieldErrors(() => validateCommand("DeleteCategory", { id: categoryId, expectedVersion })),
      [{ field: "expectedVersion", message: "Must be a positive integer" }],
      `expectedVersion ${String(expectedVersion)}`,
    );
  }
  assert.deepEqual(
    fieldErrors(() =>
      validateCommand("UpdateProduct", { id: productId, name: "", expectedVersion: 0 })
    ),
    [
      { field: "name", message: "Must not be empty" },
      { field: "expectedVersion", message: "Must be a positive integer" },
    ],
  );
});

Deno.test("validateCommand() does not count an expected version as a change of a product", () => {
  assert.deepEqual(
    fieldErrors(() => validateCommand("UpdateProduct", { id: productId, expectedVersion: 2 })),
    [{ field: "(request)", message: "Must change at least one of name, price or categoryId" }],
  );
});

Deno.test("validateCommand() refuses an expected version on a create", () => {
  const errors = fieldErrors(() =>
    validateCommand("CreateCategory", { name: "Books", expectedVersion: 1 })
  );
  assert.equal(errors.length, 1);
  assert.match(errors[0]!.message, /Unrecognized key: "expectedVersion"/);
});

Deno.test("validateCommand() refuses U+0000 in a name, naming the field", () => {
  assert.deepEqual(fieldErrors(() => validateCommand("CreateCategory", { name: "Toys\u0000" })), [
    { field: "name", message: "Must not contain control characters" },
  ]);
  assert.deepEqual(
    fieldErrors(() => validateCommand("CreateProduct", { name: "\u0000", price: "1", categoryId })),
    [{ field: "name", message: "Must not contain control characters" }],
  );
});

Deno.test("validateCommand() refuses C0, DEL and C1 controls inside any string field", () => {
  const controls = ["\u0001", "\u0009", "\u000a", "\u000d", "\u001f", "\u007f", "\u0080", "\u009f"];
  for (const control of controls) {
    const shown = `U+${control.charCodeAt(0).toString(16).padStart(4, "0")}`;
    assert.deepEqual(
      fieldErrors(() =>
        validateCommand("UpdateCategory", { id: categoryId, name: `A${control}B` })
      ),
      [{ field: "name", message: "Must not contain control characters" }],
      `name with ${shown}`,
    );
    assert.deepEqual(
      fieldErrors(() =>
        validateCommand("UpdateProduct", {
          id: `${productId}${control}`,
          name: `Pen${control}cil`,
          price: `1${control}0`,
          categoryId: `${control}${categoryId}`,
        })
      ),
      [
        { field: "id", message: "Must not contain control characters" },
        { field: "name", message: "Must not contain control characters" },
        { field: "price", message: "Must not contain control characters" },
        { field: "categoryId", message: "Must not contain control characters" },
      ],
      `every field with ${shown}`,
    );
  }
});

Deno.test("validateCommand() trims line breaks and tabs around a name but refuses them inside", () => {
  assert.deepEqual(validateCommand("CreateCategory", { name: "\tBooks\r\n" }), { name: "Books" });
  assert.deepEqual(
    fieldErrors(() => validateCommand("CreateCategory", { name: "Books\nand more" })),
    [{ field: "name", message: "Must not contain control characters" }],
  );
});

Deno.test("validateCommand() keeps names that only look unusual", () => {
  for (const name of ["Küche & Bad", "Ça va", "日本語の本", "Kite 🪁", "50% off", "a\u00a0b"]) {
    assert.deepEqual(validateCommand("CreateCategory", { name }), { name }, name);
  }
});

Deno.test("idempotencyKeyErrors() accepts no key or a plain one", () => {
  assert.deepEqual(idempotencyKeyErrors(""), []);
  assert.deepEqual(idempotencyKeyErrors("toys-1"), []);
  assert.deepEqual(idempotencyKeyErrors("k".repeat(200)), []);
});

Deno.test("idempotencyKeyErrors() refuses a key with control characters or over 200 characters", () => {
  for (const key of ["toys-1\u0000", "\u0000", "toys\n1", "toys-1\u007f", "\u0085toys"]) {
    assert.deepEqual(
      idempotencyKeyErrors(key),
      [{ field: "idempotencyKey", message: "Must not contain control characters" }],
      JSON.stringify(key),
    );
  }
  assert.deepEqual(idempotencyKeyErrors("k".repeat(201)), [
    { field: "idempotencyKey", message: "Must be at most 200 characters" },
  ]);
});

Deno.test("InvalidCommandError names the command and every field in its message", () => {
  try {
    validateCommand("CreateProduct", { name: "", price: "0", categoryId });
    assert.fail("expected the command to be invalid");
  } catch (error) {
    assert.ok(error instanceof InvalidCommandError);
    assert.equal(
      error.message,
      "Cannot accept CreateProduct: name: Must not be empty; price: Must be between 0.01 and 999999.99",
    );
  }
});
