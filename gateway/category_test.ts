import assert from "node:assert/strict";
import {
  fieldErrorsMetadataKey,
  grpc,
  listTooLongMetadataKey,
  statusOriginMetadataKey,
} from "@catalog/proto";
import { serviceError, testGateway, writerToken } from "./_testing.ts";

const missing = "00000000-0000-4000-8000-000000000000";

Deno.test("category(id) finds a category, and null for an unknown or malformed id", async () => {
  const { backends, gqlData } = testGateway();
  const books = backends.addCategory("Books");
  const data = await gqlData(
    `query ($id: ID!, $upper: ID!) {
      a: category(id: $id) { id name createdAt updatedAt version productCount }
      b: category(id: $upper) { id }
      c: category(id: "${missing}") { id }
      d: category(id: "not-a-uuid") { id }
    }`,
    { id: books.id, upper: books.id.toUpperCase() },
  );
  assert.deepEqual(data, {
    a: {
      id: books.id,
      name: "Books",
      createdAt: "2026-01-02T03:04:05.000Z",
      updatedAt: "2026-01-02T03:04:05.000Z",
      version: 1,
      productCount: 0,
    },
    b: { id: books.id },
    c: null,
    d: null,
  });
  // The well-formed ids, one of them in upper case, went out in one lookup; the malformed one in none.
  const lookups = backends.callsOf("GetCategories");
  assert.equal(lookups.length, 1);
  assert.deepEqual((lookups[0]!.request as { ids: string[] }).ids, [books.id, missing]);
});

Deno.test("categoryExists(id) answers true and false, also for a malformed id", async () => {
  const { backends, gqlData } = testGateway();
  const books = backends.addCategory("Books");
  const data = await gqlData(
    `query ($id: ID!) {
      a: categoryExists(id: $id) b: categoryExists(id: "${missing}") c: categoryExists(id: "x")
    }`,
    { id: books.id },
  );
  assert.deepEqual(data, { a: true, b: false, c: false });
});

Deno.test("categoryByName(name) asks for one exact match", async () => {
  const { backends, gqlData } = testGateway();
  const books = backends.addCategory("Books");
  const data = await gqlData(
    '{ a: categoryByName(name: "books") { id } b: categoryByName(name: "Boo") { id } }',
  );
  assert.deepEqual(data, { a: { id: books.id }, b: null });
  assert.deepEqual(backends.callsOf("ListCategories")[0]!.request, {
    name: "books",
    page: { page: 1, perPage: 1 },
  });
});

Deno.test("searchCategories(searchTerm) asks for names containing the term", async () => {
  const { backends, gqlData } = testGateway();
  backends.addCategory("Home & Kitchen");
  backends.addCategory("Books");
  const data = await gqlData('{ searchCategories(searchTerm: "KITCH") { name } }');
  assert.deepEqual(data, { searchCategories: [{ name: "Home & Kitchen" }] });
  assert.deepEqual(backends.callsOf("ListCategories")[0]!.request, { nameContains: "KITCH" });
});

Deno.test("categoriesPaginated(page, perPage) pages, 1 and 10 by default", async () => {
  const { backends, gqlData } = testGateway();
  for (const name of ["A", "B", "C", "D", "E"]) backends.addCategory(name);
  const data = await gqlData(`{ first: categoriesPaginated(page: 1, perPage: 2) { name }
       last: categoriesPaginated(page: 3, perPage: 2) { name }
       all: categoriesPaginated { name } }`);
  assert.deepEqual(data, {
    first: [{ name: "A" }, { name: "B" }],
    last: [{ name: "E" }],
    all: ["A", "B", "C", "D", "E"].map((name) => ({ name })),
  });
  assert.deepEqual(backends.callsOf("ListCategories")[2]!.request, {
    page: { page: 1, perPage: 10 },
  });
});

Deno.test("categoriesPaginated(page, perPage) refuses a page below 1 or over 100 items", async () => {
  const { backends, gql, gqlData } = testGateway();
  for (
    const [args, fields] of [
      ["page: 0", ["page"]],
      ["perPage: 0", ["perPage"]],
      ["perPage: 101", ["perPage"]],
      ["page: -1, perPage: 1000", ["page", "perPage"]],
    ] as const
  ) {
    const result = await gql(`{ categoriesPaginated(${args}) { id } }`);
    const error = result.errors?.[0];
    assert.equal(error?.extensions?.code, "INVALID_ARGUMENT", args);
    assert.deepEqual(
      (error?.extensions?.fields as { field: string }[]).map((field) => field.field),
      fields,
    );
  }
  assert.equal(backends.callsOf("ListCategories").length, 0);
  const edge = await gqlData("{ categoriesPaginated(page: 1, perPage: 100) { id } }");
  assert.deepEqual(edge, { categoriesPaginated: [] });
});

Deno.test("categoryStatistics counts categories with and without products", async () => {
  const { backends, gqlData } = testGateway();
  const books = backends.addCategory("Books");
  backends.addCategory("Garden");
  backends.addProduct("Novel", "12.00", books.id);
  const data = await gqlData(
    "{ categoryStatistics { totalCount hasCategories withProductsCount emptyCount } }",
  );
  assert.deepEqual(data, {
    categoryStatistics: {
      totalCount: 2,
      hasCategories: true,
      withProductsCount: 1,
      emptyCount: 1,
    },
  });
  const empty = testGateway();
  const none = await empty.gqlData("{ categoryStatistics { hasCategories } }");
  assert.deepEqual(none, { categoryStatistics: { hasCategories: false } });
});

Deno.test("createCategory(input) sends one command and returns the category", async () => {
  const { backends, gqlData } = testGateway();
  const data = await gqlData<{ createCategory: { id: string; name: string } }>(
    'mutation { createCategory(input: { name: "  Toys " }, idempotencyKey: "k-1") { id name version products { id } } }',
  );
  assert.equal(data.createCategory.name, "Toys");
  assert.deepEqual(data.createCategory, {
    id: data.createCategory.id,
    name: "Toys",
    version: 1,
    products: [],
  });
  const [create] = backends.callsOf("CreateCategory");
  assert.deepEqual(create!.request, { name: "  Toys ", idempotencyKey: "k-1" });
  assert.equal(create!.options?.timeoutMs, 5000);
  assert.equal(create!.options?.metadata?.authorization, `Bearer ${await writerToken}`);
  assert.equal(create!.options?.metadata?.["x-actor"], undefined);
  const [wait] = backends.callsOf("WaitForCommand");
  assert.equal((wait!.request as { timeoutMs: number }).timeoutMs, 50);
  assert.ok(wait!.options!.timeoutMs! > 50);
});

Deno.test("createCategory(input) leaves the idempotency key out when none is given", async () => {
  const { backends, gqlData } = testGateway();
  await gqlData('mutation { createCategory(input: { name: "Toys" }) { id } }');
  assert.deepEqual(backends.callsOf("CreateCategory")[0]!.request, { name: "Toys" });
});

Deno.test("updateCategory(input) returns the renamed category, read afresh", async () => {
  const { backends, gqlData } = testGateway();
  const toys = backends.addCategory("Toys");
  const data = await gqlData(
    `mutation ($id: ID!) {
      before: updateCategory(input: { id: $id, name: "Games" }) { name version }
      after: updateCategory(input: { id: $id, name: "Toys & Games" }) { id name version }
    }`,
    { id: toys.id },
  );
  assert.deepEqual(data, {
    before: { name: "Games", version: 2 },
    after: { id: toys.id, name: "Toys & Games", version: 3 },
  });
  assert.deepEqual(backends.callsOf("UpdateCategory")[0]!.request, { id: toys.id, name: "Games" });
});

Deno.test("deleteCategory(id) answers true once the command is applied", async () => {
  const { backends, gqlData } = testGateway();
  const toys = backends.addCategory("Toys");
  const data = await gqlData("mutation ($id: ID!) { deleteCategory(id: $id) }", {
    id: toys.id,
  });
  assert.deepEqual(data, { deleteCategory: true });
  assert.equal(backends.categories.size, 0);
});

Deno.test("createCategory(input) fails with the code and command id of a rejection", async () => {
  const { backends, gql } = testGateway();
  backends.outcome = {
    status: "REJECTED",
    code: "CATEGORY_NAME_TAKEN",
    message: 'Cannot create category "Toys": the name is taken',
  };
  const result = await gql('mutation { createCategory(input: { name: "Toys" }) { id } }');
  assert.equal(result.data, null);
  const error = result.errors?.[0];
  assert.equal(error?.message, 'Cannot create category "Toys": the name is taken');
  assert.equal(error?.extensions?.code, "CATEGORY_NAME_TAKEN");
  const [receipt] = [...backends.statuses.values()];
  assert.equal(error?.extensions?.commandId, receipt!.commandId);
  assert.deepEqual(error?.path, ["createCategory"]);
});

Deno.test("deleteCategory(id) fails with CATEGORY_NOT_EMPTY when the worker says so", async () => {
  const { backends, gql } = testGateway();
  const toys = backends.addCategory("Toys");
  backends.outcome = {
    status: "REJECTED",
    code: "CATEGORY_NOT_EMPTY",
    message: "Cannot delete category: it has products",
  };
  const result = await gql("mutation ($id: ID!) { deleteCategory(id: $id) }", {
    id: toys.id,
  });
  assert.equal(result.errors?.[0]?.extensions?.code, "CATEGORY_NOT_EMPTY");
  assert.match(String(result.errors?.[0]?.extensions?.commandId), /^[0-9a-f-]{36}$/);
});

Deno.test("createCategory(input) fails with COMMAND_PENDING when the worker is late", async () => {
  const { backends, gql } = testGateway();
  backends.outcome = { status: "ACCEPTED" };
  const result = await gql('mutation { createCategory(input: { name: "Toys" }) { id } }');
  const error = result.errors?.[0];
  const [status] = [...backends.statuses.values()];
  assert.equal(error?.extensions?.code, "COMMAND_PENDING");
  assert.equal(error?.extensions?.commandId, status!.commandId);
  assert.equal(
    error?.message,
    `Cannot return the result yet: command ${
      status!.commandId
    } is accepted but not applied yet; follow it with command(id)`,
  );
});

Deno.test("createCategory(input) passes on the fields of an INVALID_ARGUMENT", async () => {
  const { backends, gql } = testGateway();
  const fields = [{ field: "name", message: "Must not be empty" }];
  backends.failures.set(
    "CreateCategory",
    serviceError(grpc.status.INVALID_ARGUMENT, "Cannot create category: name: Must not be empty", {
      [fieldErrorsMetadataKey]: JSON.stringify(fields),
    }),
  );
  const result = await gql('mutation { createCategory(input: { name: "" }) { id } }');
  assert.deepEqual(result.errors?.[0]?.extensions, { code: "INVALID_ARGUMENT", fields });
  assert.equal(result.errors?.[0]?.message, "Cannot create category: name: Must not be empty");
  assert.equal(backends.callsOf("WaitForCommand").length, 0);
});

Deno.test("createCategory(input) reports an unreachable command service", async () => {
  const { backends, gql } = testGateway();
  backends.failures.set(
    "CreateCategory",
    serviceError(grpc.status.DEADLINE_EXCEEDED, "Deadline exceeded after 5.001s"),
  );
  const result = await gql('mutation { createCategory(input: { name: "Toys" }) { id } }');
  assert.equal(result.errors?.[0]?.extensions?.code, "SERVICE_UNAVAILABLE");
  assert.equal(
    result.errors?.[0]?.message,
    "Cannot reach the command service: it did not answer in time",
  );
});

const RECEIPT = "commandId type aggregateId status acceptedAt";

Deno.test("updateCategory(input) sends the expected version and applies at it", async () => {
  const { backends, gqlData } = testGateway();
  const toys = backends.addCategory("Toys");
  const data = await gqlData(
    `mutation ($id: ID!) {
      updateCategory(input: { id: $id, name: "Games", expectedVersion: 1 }) { name version }
    }`,
    { id: toys.id },
  );
  assert.deepEqual(data, { updateCategory: { name: "Games", version: 2 } });
  assert.deepEqual(backends.callsOf("UpdateCategory")[0]!.request, {
    id: toys.id,
    name: "Games",
    expectedVersion: 1,
  });
});

Deno.test("updateCategory(input) fails with VERSION_CONFLICT, the current version and the command id", async () => {
  const { backends, gql } = testGateway();
  const toys = backends.addCategory("Toys");
  toys.version = 3;
  const result = await gql(
    `mutation ($id: ID!) {
      updateCategory(input: { id: $id, name: "Games", expectedVersion: 2 }) { id }
    }`,
    { id: toys.id },
  );
  const [commandId] = [...backends.statuses.keys()];
  assert.equal(result.data, null);
  assert.deepEqual(result.errors?.[0]?.extensions, {
    code: "VERSION_CONFLICT",
    commandId,
    currentVersion: 3,
  });
  assert.match(result.errors?.[0]?.message ?? "", /expected version 2, but it is at version 3/);
  assert.equal(toys.name, "Toys");
});

Deno.test("deleteCategory(id, expectedVersion) deletes at that version and refuses another", async () => {
  const { backends, gql, gqlData } = testGateway();
  const toys = backends.addCategory("Toys");
  const stale = await gql("mutation ($id: ID!) { deleteCategory(id: $id, expectedVersion: 7) }", {
    id: toys.id,
  });
  assert.equal(stale.errors?.[0]?.extensions?.code, "VERSION_CONFLICT");
  assert.equal(stale.errors?.[0]?.extensions?.currentVersion, 1);
  assert.equal(backends.categories.has(toys.id), true);

  const data = await gqlData(
    'mutation ($id: ID!) { deleteCategory(id: $id, expectedVersion: 1, idempotencyKey: "d-1") }',
    { id: toys.id },
  );
  assert.deepEqual(data, { deleteCategory: true });
  assert.deepEqual(backends.callsOf("DeleteCategory").map((call) => call.request), [
    { id: toys.id, expectedVersion: 7 },
    { id: toys.id, expectedVersion: 1, idempotencyKey: "d-1" },
  ]);
});

Deno.test("updateCategory(input) and deleteCategory(id) leave a null expected version out", async () => {
  const { backends, gqlData } = testGateway();
  const toys = backends.addCategory("Toys");
  await gqlData(
    `mutation ($id: ID!) {
      updateCategory(input: { id: $id, name: "Games", expectedVersion: null }) { id }
      deleteCategory(id: $id, expectedVersion: null)
    }`,
    { id: toys.id },
  );
  assert.deepEqual(backends.callsOf("UpdateCategory")[0]!.request, { id: toys.id, name: "Games" });
  assert.deepEqual(backends.callsOf("DeleteCategory")[0]!.request, { id: toys.id });
});

Deno.test("submitCreateCategory(input) answers the receipt at once, without waiting", async () => {
  const { backends, gqlData } = testGateway();
  backends.outcome = { status: "ACCEPTED" };
  const data = await gqlData<{ submitCreateCategory: Record<string, unknown> }>(
    `mutation { submitCreateCategory(input: { name: " Toys " }, idempotencyKey: "k-1") { ${RECEIPT} } }`,
  );
  const [status] = [...backends.statuses.values()];
  assert.deepEqual(data.submitCreateCategory, {
    commandId: status!.commandId,
    type: "CreateCategory",
    aggregateId: status!.aggregateId,
    status: "ACCEPTED",
    acceptedAt: "2026-01-02T03:04:05.000Z",
  });
  assert.deepEqual(backends.callsOf("CreateCategory")[0]!.request, {
    name: " Toys ",
    idempotencyKey: "k-1",
  });
  assert.equal(backends.callsOf("WaitForCommand").length, 0);
  assert.equal(backends.callsOf("GetCategories").length, 0);
});

Deno.test("submitUpdateCategory(input) and submitDeleteCategory(id) send what the waiting ones do", async () => {
  const { backends, gqlData } = testGateway();
  const toys = backends.addCategory("Toys");
  backends.outcome = { status: "ACCEPTED" };
  const data = await gqlData<Record<string, Record<string, unknown>>>(
    `mutation ($id: ID!) {
      update: submitUpdateCategory(input: { id: $id, name: "Games", expectedVersion: 1 },
        idempotencyKey: "u-1") { type aggregateId status }
      delete: submitDeleteCategory(id: $id, expectedVersion: 2) { type aggregateId status }
    }`,
    { id: toys.id },
  );
  assert.deepEqual(data, {
    update: { type: "UpdateCategory", aggregateId: toys.id, status: "ACCEPTED" },
    delete: { type: "DeleteCategory", aggregateId: toys.id, status: "ACCEPTED" },
  });
  assert.deepEqual(backends.callsOf("UpdateCategory")[0]!.request, {
    id: toys.id,
    name: "Games",
    expectedVersion: 1,
    idempotencyKey: "u-1",
  });
  assert.deepEqual(backends.callsOf("DeleteCategory")[0]!.request, {
    id: toys.id,
    expectedVersion: 2,
  });
  assert.equal(backends.callsOf("WaitForCommand").length, 0);
});

Deno.test("submitCreateCategory(input) passes on the fields of an INVALID_ARGUMENT", async () => {
  const { backends, gql } = testGateway();
  const fields = [{ field: "name", message: "Must not be empty" }];
  backends.failures.set(
    "CreateCategory",
    serviceError(
      grpc.status.INVALID_ARGUMENT,
      "Cannot accept CreateCategory: name: Must not be empty",
      {
        [fieldErrorsMetadataKey]: JSON.stringify(fields),
      },
    ),
  );
  const result = await gql('mutation { submitCreateCategory(input: { name: "" }) { commandId } }');
  assert.equal(result.data, null);
  assert.deepEqual(result.errors?.[0]?.extensions, { code: "INVALID_ARGUMENT", fields });
  assert.equal(
    result.errors?.[0]?.message,
    "Cannot accept CreateCategory: name: Must not be empty",
  );
});

Deno.test("submitDeleteCategory(id) passes on a refused expected version", async () => {
  const { backends, gql } = testGateway();
  const fields = [{ field: "expectedVersion", message: "Must be a positive integer" }];
  backends.failures.set(
    "DeleteCategory",
    serviceError(
      grpc.status.INVALID_ARGUMENT,
      "Cannot accept DeleteCategory: expectedVersion: Must be a positive integer",
      { [fieldErrorsMetadataKey]: JSON.stringify(fields) },
    ),
  );
  const result = await gql(
    `mutation { submitDeleteCategory(id: "${missing}", expectedVersion: 0) { commandId } }`,
  );
  assert.deepEqual(result.errors?.[0]?.extensions, { code: "INVALID_ARGUMENT", fields });
  assert.deepEqual(backends.callsOf("DeleteCategory")[0]!.request, {
    id: missing,
    expectedVersion: 0,
  });
});

Deno.test("submitCreateCategory(input) reports an unreachable command service", async () => {
  const { backends, gql } = testGateway();
  backends.failures.set(
    "CreateCategory",
    serviceError(grpc.status.UNAVAILABLE, "Cannot publish the command: RabbitMQ is not connected"),
  );
  const result = await gql(
    'mutation { submitCreateCategory(input: { name: "Toys" }) { commandId } }',
  );
  assert.equal(result.errors?.[0]?.extensions?.code, "SERVICE_UNAVAILABLE");
});

/** The query service's refusal of an unpaged list, with its trailers. */
function listRefused(details: string, list: Record<string, unknown>): Error {
  return serviceError(grpc.status.FAILED_PRECONDITION, details, {
    [statusOriginMetadataKey]: "catalog.v1.QueryService",
    [listTooLongMetadataKey]: JSON.stringify(list),
  });
}

Deno.test("searchCategories(searchTerm) refuses a term longer than any category name", async () => {
  const { backends, gql, gqlData } = testGateway();
  const result = await gql(`{ searchCategories(searchTerm: "${"k".repeat(101)}") { id } }`);
  assert.equal(result.errors?.length, 1);
  assert.equal(
    result.errors?.[0]?.message,
    "Cannot run the request: searchTerm: Must be at most 100 characters",
  );
  assert.deepEqual(result.errors?.[0]?.extensions, {
    code: "INVALID_ARGUMENT",
    fields: [{ field: "searchTerm", message: "Must be at most 100 characters" }],
  });
  assert.equal(backends.callsOf("ListCategories").length, 0);
  const longest = "k".repeat(100);
  const data = await gqlData(`{ searchCategories(searchTerm: "${longest}") { id } }`);
  assert.deepEqual(data, { searchCategories: [] });
  assert.deepEqual(backends.callsOf("ListCategories")[0]!.request, { nameContains: longest });
});

Deno.test("categories fails with LIST_TOO_LONG naming categoriesConnection when the query service refuses the list", async () => {
  const { backends, gql } = testGateway();
  backends.addCategory("Books");
  backends.failures.set(
    "ListCategories",
    listRefused(
      "Cannot list categories: more than 1000 match; page through them with PageCategories",
      {
        entity: "categories",
        limit: 1000,
      },
    ),
  );
  for (const query of ["{ categories { id } }", '{ searchCategories(searchTerm: "o") { id } }']) {
    const result = await gql(query);
    assert.equal(result.data, null, query);
    assert.equal(result.errors?.length, 1, query);
    const [error] = result.errors!;
    assert.equal(
      error?.message,
      "Cannot list categories: more than 1000 match, the most an unpaged list answers; " +
        "page through them with categoriesConnection",
    );
    assert.deepEqual(error?.extensions, {
      code: "LIST_TOO_LONG",
      limit: 1000,
      connection: "categoriesConnection",
    });
  }
});

Deno.test("Category.products fails with LIST_TOO_LONG when the listed categories' products are too many together", async () => {
  const { backends, gql } = testGateway();
  const books = backends.addCategory("Books");
  const toys = backends.addCategory("Toys");
  backends.failures.set(
    "ListProducts",
    listRefused("Cannot list the products of 2 categories", {
      entity: "products",
      limit: 1000,
      categoryCount: 2,
    }),
  );
  const result = await gql("{ categories { name products { name } } }");
  assert.equal(result.data, null);
  assert.equal(result.errors?.length, 1);
  assert.equal(
    result.errors?.[0]?.message,
    "Cannot list the products of 2 categories at once: together they have more than 1000, the " +
      "most an unpaged list answers; page through each category's products with " +
      "productsConnection(filter: { categoryId })",
  );
  assert.equal(result.errors?.[0]?.extensions?.code, "LIST_TOO_LONG");
  // One call for both categories, whose limit counts their products together.
  assert.deepEqual(backends.callsOf("ListProducts").map((call) => call.request), [
    { categoryIds: [books.id, toys.id] },
  ]);
});

Deno.test("createCategory(input) applied but not readable in time answers APPLIED_NOT_READABLE with its ids", async () => {
  const { backends, gql } = testGateway();
  backends.failures.set(
    "GetCategories",
    serviceError(grpc.status.UNAVAILABLE, "connect ECONNREFUSED 10.0.0.7:50052"),
  );
  const result = await gql('mutation { createCategory(input: { name: "Toys" }) { id } }');
  const [error] = result.errors ?? [];
  const [created] = [...backends.categories.values()];
  assert.ok(created, "the category was created");
  assert.equal(error?.extensions?.code, "APPLIED_NOT_READABLE");
  assert.equal(error?.extensions?.aggregateId, created.id);
  assert.equal(typeof error?.extensions?.commandId, "string");
  assert.doesNotMatch(error?.message ?? "", /10\.0\.0\.7/);
});
