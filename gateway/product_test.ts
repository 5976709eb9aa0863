import assert from "node:assert/strict";
import {
  fieldErrorsMetadataKey,
  grpc,
  listTooLongMetadataKey,
  statusOriginMetadataKey,
} from "@catalog/proto";
import { FakeBackends, serviceError, testGateway } from "./_testing.ts";

const missing = "00000000-0000-4000-8000-000000000000";
const PRODUCT = "id name price categoryId category { id name } version";

function catalog() {
  const setup = testGateway();
  const books = setup.backends.addCategory("Books");
  const toys = setup.backends.addCategory("Toys");
  const kite = setup.backends.addProduct("Kite", "19.99", toys.id);
  const yoyo = setup.backends.addProduct("Yo-yo", "3.50", toys.id);
  const novel = setup.backends.addProduct("Novel", "12.00", books.id);
  return { ...setup, books, toys, kite, yoyo, novel };
}

function lastRequest(backends: FakeBackends, method: string): unknown {
  return backends.callsOf(method).at(-1)?.request;
}

Deno.test("product(id) finds a product with its category; null when unknown or malformed", async () => {
  const { gqlData, kite, toys } = catalog();
  const data = await gqlData(
    `query ($id: ID!) {
      a: product(id: $id) { ${PRODUCT} createdAt updatedAt }
      b: product(id: "${missing}") { id }
      c: product(id: "42") { id }
    }`,
    { id: kite.id },
  );
  assert.deepEqual(data, {
    a: {
      id: kite.id,
      name: "Kite",
      price: 19.99,
      categoryId: toys.id,
      category: { id: toys.id, name: "Toys" },
      version: 1,
      createdAt: "2026-01-02T03:04:05.000Z",
      updatedAt: "2026-01-02T03:04:05.000Z",
    },
    b: null,
    c: null,
  });
});

Deno.test("productExists(id) answers true and false, also for a malformed id", async () => {
  const { gqlData, kite, toys } = catalog();
  const data = await gqlData(
    `query ($p: ID!, $c: ID!) {
      a: productExists(id: $p) b: productExists(id: $c) c: productExists(id: "nope")
    }`,
    { p: kite.id, c: toys.id },
  );
  assert.deepEqual(data, { a: true, b: false, c: false });
});

Deno.test("productByName(name) and searchProducts(searchTerm) match names", async () => {
  const { backends, gqlData, kite } = catalog();
  const data = await gqlData(
    `{ a: productByName(name: "KITE") { id } b: productByName(name: "Ki") { id }
       search: searchProducts(searchTerm: "o") { name } }`,
  );
  assert.deepEqual(data, {
    a: { id: kite.id },
    b: null,
    search: [{ name: "Novel" }, { name: "Yo-yo" }],
  });
  assert.deepEqual(backends.callsOf("ListProducts")[0]!.request, {
    name: "KITE",
    page: { page: 1, perPage: 1 },
  });
  assert.deepEqual(lastRequest(backends, "ListProducts"), { nameContains: "o" });
});

Deno.test("productsPaginated(page, perPage) pages and refuses bad pages", async () => {
  const { backends, gql, gqlData } = catalog();
  const data = await gqlData(
    "{ a: productsPaginated(page: 2, perPage: 2) { name } b: productsPaginated { name } }",
  );
  assert.deepEqual(data, {
    a: [{ name: "Yo-yo" }],
    b: [{ name: "Kite" }, { name: "Novel" }, { name: "Yo-yo" }],
  });
  const calls = backends.calls.length;
  const bad = await gql("{ productsPaginated(page: 1, perPage: 101) { id } }");
  assert.equal(bad.errors?.[0]?.extensions?.code, "INVALID_ARGUMENT");
  assert.deepEqual(bad.errors?.[0]?.extensions?.fields, [
    { field: "perPage", message: "Must be from 1 to 100" },
  ]);
  assert.equal(backends.calls.length, calls);
});

Deno.test("productsByCategory(categoryId) lists one category's products", async () => {
  const { backends, gqlData, toys } = catalog();
  const data = await gqlData(
    `query ($id: ID!) {
      a: productsByCategory(categoryId: $id) { name category { name } }
      b: productsByCategory(categoryId: "x") { name }
    }`,
    { id: toys.id },
  );
  assert.deepEqual(data, {
    a: [{ name: "Kite", category: { name: "Toys" } }, {
      name: "Yo-yo",
      category: { name: "Toys" },
    }],
    b: [],
  });
  assert.deepEqual(backends.callsOf("ListProducts").map((call) => call.request), [
    { categoryIds: [toys.id] },
  ]);
});

Deno.test("productsByPriceRange(minPrice, maxPrice) sends decimal strings", async () => {
  const { backends, gqlData } = catalog();
  const data = await gqlData(
    "{ productsByPriceRange(minPrice: 3.5, maxPrice: 19.99) { name price } }",
  );
  assert.deepEqual(data, {
    productsByPriceRange: [{ name: "Kite", price: 19.99 }, { name: "Novel", price: 12 }, {
      name: "Yo-yo",
      price: 3.5,
    }],
  });
  assert.deepEqual(lastRequest(backends, "ListProducts"), { minPrice: "3.5", maxPrice: "19.99" });
});

Deno.test("productsByPriceRange(minPrice, maxPrice) refuses a reversed range", async () => {
  const { backends, gql } = catalog();
  const result = await gql("{ productsByPriceRange(minPrice: 20, maxPrice: 10) { id } }");
  assert.equal(result.errors?.[0]?.extensions?.code, "INVALID_ARGUMENT");
  assert.deepEqual(result.errors?.[0]?.extensions?.fields, [
    { field: "minPrice", message: "Must not exceed maxPrice" },
  ]);
  assert.equal(backends.callsOf("ListProducts").length, 0);
});

Deno.test("productStatistics turns decimal strings into Floats", async () => {
  const { gqlData } = catalog();
  const data = await gqlData(
    "{ productStatistics { totalCount hasProducts averagePrice totalValue minPrice maxPrice } }",
  );
  assert.deepEqual(data, {
    productStatistics: {
      totalCount: 3,
      hasProducts: true,
      averagePrice: 11.83,
      totalValue: 35.49,
      minPrice: 3.5,
      maxPrice: 19.99,
    },
  });
});

Deno.test("productStatistics answers nulls and zero for an empty catalog", async () => {
  const { gqlData } = testGateway();
  const data = await gqlData(
    "{ productStatistics { totalCount hasProducts averagePrice totalValue minPrice maxPrice } }",
  );
  assert.deepEqual(data, {
    productStatistics: {
      totalCount: 0,
      hasProducts: false,
      averagePrice: null,
      totalValue: 0,
      minPrice: null,
      maxPrice: null,
    },
  });
});

Deno.test("createProduct(input) sends the price as the decimal string typed", async () => {
  const { backends, gqlData, toys } = catalog();
  const data = await gqlData<{ createProduct: { id: string } }>(
    `mutation ($input: CreateProductInput!) {
      createProduct(input: $input, idempotencyKey: "p-1") { ${PRODUCT} }
    }`,
    { input: { name: "Ball", price: 19.99, categoryId: toys.id } },
  );
  assert.deepEqual(data.createProduct, {
    id: data.createProduct.id,
    name: "Ball",
    price: 19.99,
    categoryId: toys.id,
    category: { id: toys.id, name: "Toys" },
    version: 1,
  });
  assert.deepEqual(backends.callsOf("CreateProduct")[0]!.request, {
    name: "Ball",
    price: "19.99",
    categoryId: toys.id,
    idempotencyKey: "p-1",
  });
});

Deno.test("createProduct(input) never does arithmetic on a price", async () => {
  const { backends, gql, toys } = catalog();
  backends.outcome = { status: "ACCEPTED" };
  for (const price of [0.1, 1.005, 999999.99, 1e-7, 4.35]) {
    await gql("mutation ($input: CreateProductInput!) { createProduct(input: $input) { id } }", {
      input: { name: "X", price, categoryId: toys.id },
    });
  }
  assert.deepEqual(
    backends.callsOf("CreateProduct").map((call) => (call.request as { price: string }).price),
    ["0.1", "1.005", "999999.99", "1e-7", "4.35"],
  );
});

Deno.test("createProduct(input) passes on every offending field", async () => {
  const { backends, gql } = catalog();
  const fields = [
    { field: "name", message: "Must not be empty" },
    { field: "price", message: "Must be a decimal number with at most two decimal places" },
    { field: "categoryId", message: "Must be a UUID" },
  ];
  backends.failures.set(
    "CreateProduct",
    serviceError(grpc.status.INVALID_ARGUMENT, "Cannot create product: 3 invalid fields", {
      [fieldErrorsMetadataKey]: JSON.stringify(fields),
    }),
  );
  const result = await gql(
    'mutation { createProduct(input: { name: " ", price: 0.001, categoryId: "nope" }) { id } }',
  );
  assert.deepEqual(result.errors?.[0]?.extensions, { code: "INVALID_ARGUMENT", fields });
});

Deno.test("createProduct(input) fails with CATEGORY_NOT_FOUND when rejected so", async () => {
  const { backends, gql } = catalog();
  backends.outcome = {
    status: "REJECTED",
    code: "CATEGORY_NOT_FOUND",
    message: `Cannot create product "Ghost": category "${missing}" does not exist`,
  };
  const result = await gql(
    `mutation { createProduct(input: { name: "Ghost", price: 1, categoryId: "${missing}" }) { id } }`,
  );
  assert.equal(result.errors?.[0]?.extensions?.code, "CATEGORY_NOT_FOUND");
  assert.equal(
    result.errors?.[0]?.extensions?.commandId,
    [...backends.statuses.keys()][0],
  );
});

Deno.test("updateProduct(input) sends only the fields given", async () => {
  const { backends, gqlData, yoyo, books } = catalog();
  const priced = await gqlData(
    `mutation ($id: ID!) { updateProduct(input: { id: $id, price: 4.25, name: null }) { ${PRODUCT} } }`,
    { id: yoyo.id },
  );
  assert.deepEqual(priced, {
    updateProduct: {
      id: yoyo.id,
      name: "Yo-yo",
      price: 4.25,
      categoryId: yoyo.categoryId,
      category: { id: yoyo.categoryId, name: "Toys" },
      version: 2,
    },
  });
  const moved = await gqlData(
    `mutation ($id: ID!, $c: ID!) {
      updateProduct(input: { id: $id, name: "Yo-yo Pro", categoryId: $c }, idempotencyKey: "u") {
        name price category { name }
      }
    }`,
    { id: yoyo.id, c: books.id },
  );
  assert.deepEqual(moved, {
    updateProduct: { name: "Yo-yo Pro", price: 4.25, category: { name: "Books" } },
  });
  assert.deepEqual(backends.callsOf("UpdateProduct").map((call) => call.request), [
    { id: yoyo.id, price: "4.25" },
    { id: yoyo.id, name: "Yo-yo Pro", categoryId: books.id, idempotencyKey: "u" },
  ]);
});

Deno.test("updateProduct(input) fails with NOT_FOUND when the product is unknown", async () => {
  const { backends, gql } = catalog();
  backends.outcome = { status: "REJECTED", code: "NOT_FOUND", message: "No such product" };
  const result = await gql(
    `mutation { updateProduct(input: { id: "${missing}", price: 2 }) { id } }`,
  );
  assert.equal(result.errors?.[0]?.extensions?.code, "NOT_FOUND");
  assert.equal(result.errors?.[0]?.message, "No such product");
});

Deno.test("deleteProduct(id) answers true once applied; COMMAND_PENDING while not", async () => {
  const { backends, gql, gqlData, kite, novel } = catalog();
  const data = await gqlData("mutation ($id: ID!) { deleteProduct(id: $id) }", {
    id: kite.id,
  });
  assert.deepEqual(data, { deleteProduct: true });
  assert.equal(backends.products.has(kite.id), false);

  backends.outcome = { status: "ACCEPTED" };
  const pending = await gql("mutation ($id: ID!) { deleteProduct(id: $id) }", {
    id: novel.id,
  });
  assert.equal(pending.data, null);
  assert.equal(pending.errors?.[0]?.extensions?.code, "COMMAND_PENDING");
  assert.equal(backends.products.has(novel.id), true);
});

const RECEIPT = "commandId type aggregateId status acceptedAt";

Deno.test("updateProduct(input) sends the expected version and applies at it", async () => {
  const { backends, gqlData, kite } = catalog();
  const data = await gqlData(
    `mutation ($id: ID!) {
      updateProduct(input: { id: $id, price: 21, expectedVersion: 1 }) { price version }
    }`,
    { id: kite.id },
  );
  assert.deepEqual(data, { updateProduct: { price: 21, version: 2 } });
  assert.deepEqual(lastRequest(backends, "UpdateProduct"), {
    id: kite.id,
    price: "21",
    expectedVersion: 1,
  });
});

Deno.test("updateProduct(input) fails with VERSION_CONFLICT, the current version and the command id", async () => {
  const { backends, gql, kite } = catalog();
  kite.version = 5;
  const result = await gql(
    `mutation ($id: ID!) { updateProduct(input: { id: $id, name: "Box kite", expectedVersion: 3 }) { id } }`,
    { id: kite.id },
  );
  const [commandId] = [...backends.statuses.keys()];
  assert.equal(result.data, null);
  assert.deepEqual(result.errors?.[0]?.extensions, {
    code: "VERSION_CONFLICT",
    commandId,
    currentVersion: 5,
  });
  assert.equal(kite.name, "Kite");
});

Deno.test("deleteProduct(id, expectedVersion) deletes at that version and refuses another", async () => {
  const { backends, gql, gqlData, kite } = catalog();
  const stale = await gql("mutation ($id: ID!) { deleteProduct(id: $id, expectedVersion: 2) }", {
    id: kite.id,
  });
  assert.equal(stale.errors?.[0]?.extensions?.code, "VERSION_CONFLICT");
  assert.equal(stale.errors?.[0]?.extensions?.currentVersion, 1);
  assert.equal(backends.products.has(kite.id), true);
  const data = await gqlData("mutation ($id: ID!) { deleteProduct(id: $id, expectedVersion: 1) }", {
    id: kite.id,
  });
  assert.deepEqual(data, { deleteProduct: true });
  assert.equal(backends.products.has(kite.id), false);
  assert.deepEqual(lastRequest(backends, "DeleteProduct"), { id: kite.id, expectedVersion: 1 });
});

Deno.test("submitCreateProduct(input) answers the receipt at once, without waiting", async () => {
  const { backends, gqlData, toys } = catalog();
  backends.outcome = { status: "ACCEPTED" };
  const data = await gqlData<{ submitCreateProduct: Record<string, unknown> }>(
    `mutation ($c: ID!) {
      submitCreateProduct(input: { name: "Top", price: 19.99, categoryId: $c }, idempotencyKey: "p-1") {
        ${RECEIPT}
      }
    }`,
    { c: toys.id },
  );
  const [status] = [...backends.statuses.values()];
  assert.deepEqual(data.submitCreateProduct, {
    commandId: status!.commandId,
    type: "CreateProduct",
    aggregateId: status!.aggregateId,
    status: "ACCEPTED",
    acceptedAt: "2026-01-02T03:04:05.000Z",
  });
  assert.deepEqual(lastRequest(backends, "CreateProduct"), {
    name: "Top",
    price: "19.99",
    categoryId: toys.id,
    idempotencyKey: "p-1",
  });
  assert.equal(backends.callsOf("WaitForCommand").length, 0);
});

Deno.test("submitUpdateProduct(input) and submitDeleteProduct(id) send what the waiting ones do", async () => {
  const { backends, gqlData, kite } = catalog();
  backends.outcome = { status: "ACCEPTED" };
  const data = await gqlData<Record<string, Record<string, unknown>>>(
    `mutation ($id: ID!) {
      update: submitUpdateProduct(input: { id: $id, price: 4.5, name: null, expectedVersion: 1 }) {
        type aggregateId status
      }
      delete: submitDeleteProduct(id: $id, expectedVersion: 2, idempotencyKey: "d-1") {
        type aggregateId status
      }
    }`,
    { id: kite.id },
  );
  assert.deepEqual(data, {
    update: { type: "UpdateProduct", aggregateId: kite.id, status: "ACCEPTED" },
    delete: { type: "DeleteProduct", aggregateId: kite.id, status: "ACCEPTED" },
  });
  assert.deepEqual(lastRequest(backends, "UpdateProduct"), {
    id: kite.id,
    price: "4.5",
    expectedVersion: 1,
  });
  assert.deepEqual(lastRequest(backends, "DeleteProduct"), {
    id: kite.id,
    expectedVersion: 2,
    idempotencyKey: "d-1",
  });
  assert.equal(backends.callsOf("WaitForCommand").length, 0);
  assert.equal(backends.products.get(kite.id)?.price, "19.99", "nothing applied yet");
});

Deno.test("submitCreateProduct(input) passes on every offending field", async () => {
  const { backends, gql } = catalog();
  const fields = [
    { field: "name", message: "Must not be empty" },
    { field: "price", message: "Must be between 0.01 and 999999.99" },
  ];
  backends.failures.set(
    "CreateProduct",
    serviceError(grpc.status.INVALID_ARGUMENT, "Cannot accept CreateProduct: ...", {
      [fieldErrorsMetadataKey]: JSON.stringify(fields),
    }),
  );
  const result = await gql(
    `mutation { submitCreateProduct(input: { name: "", price: 0, categoryId: "${missing}" }) { commandId } }`,
  );
  assert.equal(result.data, null);
  assert.deepEqual(result.errors?.[0]?.extensions, { code: "INVALID_ARGUMENT", fields });
});

Deno.test("Product.category answers id and name from the product's row, and loads the category for any other field", async () => {
  const { backends, gqlData, kite, toys } = catalog();
  const fromRow = await gqlData<{ product: { category: unknown } }>(
    `query ($id: ID!) {
      product(id: $id) { category { id ...Named ... on Category { __typename } } }
    }
    fragment Named on Category { name }`,
    { id: kite.id },
  );
  assert.deepEqual(fromRow.product.category, { id: toys.id, name: "Toys", __typename: "Category" });
  assert.equal(backends.callsOf("GetCategories").length, 0);

  const loaded = await gqlData<{ product: { category: unknown } }>(
    `query ($id: ID!) { product(id: $id) { category { ...Counted } } }
    fragment Counted on Category { name productCount }`,
    { id: kite.id },
  );
  assert.deepEqual(loaded.product.category, { name: "Toys", productCount: 2 });
  assert.deepEqual(lastRequest(backends, "GetCategories"), { ids: [toys.id] });
});

Deno.test("Product.category shows a renamed category's new name once the rename is applied", async () => {
  const { gqlData, kite, toys } = catalog();
  await gqlData(
    `mutation ($id: ID!) { updateCategory(input: { id: $id, name: "Games" }) { name } }`,
    { id: toys.id },
  );
  const data = await gqlData<{ product: { category: { name: string } } }>(
    `query ($id: ID!) { product(id: $id) { category { name } } }`,
    { id: kite.id },
  );
  assert.deepEqual(data.product.category, { name: "Games" });
});

Deno.test("searchProducts(searchTerm) refuses a term longer than any product name", async () => {
  const { backends, gql, gqlData } = catalog();
  const result = await gql(`{ searchProducts(searchTerm: "${"k".repeat(201)}") { id } }`);
  assert.equal(result.errors?.length, 1);
  assert.equal(
    result.errors?.[0]?.message,
    "Cannot run the request: searchTerm: Must be at most 200 characters",
  );
  assert.deepEqual(result.errors?.[0]?.extensions, {
    code: "INVALID_ARGUMENT",
    fields: [{ field: "searchTerm", message: "Must be at most 200 characters" }],
  });
  assert.equal(backends.callsOf("ListProducts").length, 0);
  const longest = "k".repeat(200);
  const data = await gqlData(`{ searchProducts(searchTerm: "${longest}") { id } }`);
  assert.deepEqual(data, { searchProducts: [] });
  assert.deepEqual(lastRequest(backends, "ListProducts"), { nameContains: longest });
});

Deno.test("products, searchProducts and productsByCategory fail with LIST_TOO_LONG naming productsConnection", async () => {
  const { backends, gql, toys } = catalog();
  const refusal = (list: Record<string, unknown>) =>
    serviceError(grpc.status.FAILED_PRECONDITION, "Cannot list products: more than 1000 match", {
      [statusOriginMetadataKey]: "catalog.v1.QueryService",
      [listTooLongMetadataKey]: JSON.stringify(list),
    });
  backends.failures.set("ListProducts", refusal({ entity: "products", limit: 1000 }));
  for (const query of ["{ products { id } }", '{ searchProducts(searchTerm: "o") { id } }']) {
    const result = await gql(query);
    assert.equal(result.data, null, query);
    assert.equal(result.errors?.length, 1, query);
    assert.equal(
      result.errors?.[0]?.message,
      "Cannot list products: more than 1000 match, the most an unpaged list answers; " +
        "page through them with productsConnection",
    );
    assert.deepEqual(result.errors?.[0]?.extensions, {
      code: "LIST_TOO_LONG",
      limit: 1000,
      connection: "productsConnection",
    });
  }
  backends.failures.set(
    "ListProducts",
    refusal({ entity: "products", limit: 1000, categoryCount: 1 }),
  );
  const byCategory = await gql(
    "query ($id: ID!) { productsByCategory(categoryId: $id) { id } }",
    { id: toys.id },
  );
  assert.equal(
    byCategory.errors?.[0]?.message,
    "Cannot list the products of the category: it has more than 1000, the most an unpaged list " +
      "answers; page through them with productsConnection(filter: { categoryId })",
  );
  assert.equal(byCategory.errors?.[0]?.extensions?.code, "LIST_TOO_LONG");
});

Deno.test("createProduct(input) applied but not readable in time answers APPLIED_NOT_READABLE with its ids", async () => {
  const { backends, gql } = testGateway();
  const category = backends.addCategory("Desks");
  backends.failures.set(
    "GetProducts",
    serviceError(grpc.status.DEADLINE_EXCEEDED, "Deadline exceeded after 5.001s"),
  );
  const result = await gql(
    `mutation { createProduct(input: { name: "Lamp", price: 12.5, categoryId: "${category.id}" }) { id } }`,
  );
  assert.equal(result.data, null);
  const [error] = result.errors ?? [];
  const [command] = backends.callsOf("WaitForCommand");
  const commandId = (command?.request as { commandId: string }).commandId;
  const [created] = [...backends.products.values()];
  assert.ok(created, "the product was created");
  assert.deepEqual(error?.extensions, {
    code: "APPLIED_NOT_READABLE",
    commandId,
    aggregateId: created.id,
  });
  assert.equal(
    error?.message,
    `Command ${commandId} was applied, but its result cannot be read now: Cannot reach the ` +
      `query service: it did not answer in time; read ${created.id} again later`,
  );
});
