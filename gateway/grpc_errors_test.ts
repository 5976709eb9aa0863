import assert from "node:assert/strict";
import { GraphQLError } from "graphql";
import {
  commandIdMetadataKey,
  fieldErrorsMetadataKey,
  grpc,
  listTooLongMetadataKey,
  statusOriginMetadataKey,
} from "@catalog/proto";
import { serviceError } from "./_testing.ts";
import { translateGrpcError } from "./grpc_errors.ts";

Deno.test("translateGrpcError() turns INVALID_ARGUMENT into the offending fields", () => {
  const fields = [{ field: "price", message: "Must be between 0.01 and 999999.99" }];
  const error = translateGrpcError(
    serviceError(grpc.status.INVALID_ARGUMENT, "Cannot create product: invalid fields", {
      [fieldErrorsMetadataKey]: JSON.stringify(fields),
    }),
    "command",
  );
  assert.ok(error instanceof GraphQLError);
  assert.equal(error.message, "Cannot create product: invalid fields");
  assert.deepEqual(error.extensions, { code: "INVALID_ARGUMENT", fields });
});

Deno.test("translateGrpcError() keeps INVALID_ARGUMENT when its field trailer is malformed", () => {
  const error = translateGrpcError(
    serviceError(grpc.status.INVALID_ARGUMENT, "Bad", { [fieldErrorsMetadataKey]: "{oops" }),
    "command",
  );
  assert.ok(error instanceof GraphQLError);
  assert.deepEqual(error.extensions, { code: "INVALID_ARGUMENT", fields: [] });
});

Deno.test("translateGrpcError() names the unreachable service, never its address", () => {
  const lost = [
    [
      grpc.status.UNAVAILABLE,
      "No connection established. Last error: connect ECONNREFUSED 127.0.0.1:50052",
    ],
    [grpc.status.CANCELLED, "Call cancelled"],
    [
      grpc.status.INTERNAL,
      "Received RST_STREAM with code 2 triggered by internal client error: write EPIPE",
    ],
  ] as const;
  for (const [code, details] of lost) {
    const error = translateGrpcError(serviceError(code, details), "query");
    assert.ok(error instanceof GraphQLError);
    assert.equal(error.message, "Cannot reach the query service: it is not answering");
    assert.deepEqual(error.extensions, { code: "SERVICE_UNAVAILABLE" });
  }
  const late = translateGrpcError(
    serviceError(grpc.status.DEADLINE_EXCEEDED, "Deadline exceeded after 5.001s,LB pick: 0.000s"),
    "command",
  );
  assert.ok(late instanceof GraphQLError);
  assert.equal(late.message, "Cannot reach the command service: it did not answer in time");
  assert.deepEqual(late.extensions, { code: "SERVICE_UNAVAILABLE" });
});

Deno.test("translateGrpcError() passes on what a service says of its own unavailability", () => {
  const error = translateGrpcError(
    serviceError(grpc.status.UNAVAILABLE, "Cannot publish the command: RabbitMQ is not connected", {
      [statusOriginMetadataKey]: "catalog.v1.CommandService",
    }),
    "command",
  );
  assert.ok(error instanceof GraphQLError);
  assert.equal(error.message, "Cannot publish the command: RabbitMQ is not connected");
  assert.deepEqual(error.extensions, { code: "SERVICE_UNAVAILABLE" });
});

Deno.test("translateGrpcError() reports a command whose confirm did not come as of unknown outcome", () => {
  const commandId = "4d1f6f0e-3b0a-4a59-9d7e-2b8f7f0c1a11";
  const error = translateGrpcError(
    serviceError(grpc.status.UNKNOWN, `Cannot tell whether command ${commandId} was queued: late`, {
      [statusOriginMetadataKey]: "catalog.v1.CommandService",
      [commandIdMetadataKey]: commandId,
    }),
    "command",
  );
  assert.ok(error instanceof GraphQLError);
  assert.deepEqual(error.extensions, { code: "COMMAND_OUTCOME_UNKNOWN", commandId });
});

Deno.test("translateGrpcError() reports a command lost after it was named as of unknown outcome", () => {
  const commandId = "4d1f6f0e-3b0a-4a59-9d7e-2b8f7f0c1a11";
  const headers = new grpc.Metadata();
  headers.set(commandIdMetadataKey, commandId);
  for (const code of [grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]) {
    const lost = Object.assign(serviceError(code, "read ECONNRESET"), { headers });
    const error = translateGrpcError(lost, "command");
    assert.ok(error instanceof GraphQLError);
    assert.match(error.message, new RegExp(`^Cannot tell whether command ${commandId} was queued`));
    assert.deepEqual(error.extensions, { code: "COMMAND_OUTCOME_UNKNOWN", commandId });
  }
  // Before the command service names a command, nothing was published.
  const refused = translateGrpcError(serviceError(grpc.status.UNAVAILABLE, "x"), "command");
  assert.ok(refused instanceof GraphQLError);
  assert.deepEqual(refused.extensions, { code: "SERVICE_UNAVAILABLE" });
});

Deno.test("translateGrpcError() turns NOT_FOUND into NOT_FOUND", () => {
  const error = translateGrpcError(serviceError(grpc.status.NOT_FOUND, "No such command"), "query");
  assert.ok(error instanceof GraphQLError);
  assert.deepEqual(error.extensions, { code: "NOT_FOUND" });
});

Deno.test("translateGrpcError() leaves other errors to be masked", () => {
  const internal = serviceError(grpc.status.INTERNAL, "database exploded");
  assert.equal(translateGrpcError(internal, "query"), internal);
  const unknown = serviceError(grpc.status.UNKNOWN, "Received HTTP status code 502");
  assert.equal(translateGrpcError(unknown, "command"), unknown);
  const bug = new TypeError("x is undefined");
  assert.equal(translateGrpcError(bug, "query"), bug);
});

/** A query service's refusal of an unpaged list, as the service sends it. */
function listTooLong(list: Record<string, unknown>, origin = true): Error {
  return serviceError(grpc.status.FAILED_PRECONDITION, "Cannot list products: more than 1000", {
    ...(origin ? { [statusOriginMetadataKey]: "catalog.v1.QueryService" } : {}),
    [listTooLongMetadataKey]: JSON.stringify(list),
  });
}

Deno.test("translateGrpcError() turns a list refused as too long into LIST_TOO_LONG naming the connection", () => {
  const products = translateGrpcError(listTooLong({ entity: "products", limit: 1000 }), "query");
  assert.ok(products instanceof GraphQLError);
  assert.equal(
    products.message,
    "Cannot list products: more than 1000 match, the most an unpaged list answers; " +
      "page through them with productsConnection",
  );
  assert.deepEqual(products.extensions, {
    code: "LIST_TOO_LONG",
    limit: 1000,
    connection: "productsConnection",
  });
  const categories = translateGrpcError(listTooLong({ entity: "categories", limit: 50 }), "query");
  assert.ok(categories instanceof GraphQLError);
  assert.equal(
    categories.message,
    "Cannot list categories: more than 50 match, the most an unpaged list answers; " +
      "page through them with categoriesConnection",
  );
  assert.deepEqual(categories.extensions, {
    code: "LIST_TOO_LONG",
    limit: 50,
    connection: "categoriesConnection",
  });
});

Deno.test("translateGrpcError() says a category's products are paged by categoryId", () => {
  const one = translateGrpcError(
    listTooLong({ entity: "products", limit: 1000, categoryCount: 1 }),
    "query",
  );
  assert.ok(one instanceof GraphQLError);
  assert.equal(
    one.message,
    "Cannot list the products of the category: it has more than 1000, the most an unpaged list " +
      "answers; page through them with productsConnection(filter: { categoryId })",
  );
  const several = translateGrpcError(
    listTooLong({ entity: "products", limit: 1000, categoryCount: 12 }),
    "query",
  );
  assert.ok(several instanceof GraphQLError);
  assert.equal(
    several.message,
    "Cannot list the products of 12 categories at once: together they have more than 1000, the " +
      "most an unpaged list answers; page through each category's products with " +
      "productsConnection(filter: { categoryId })",
  );
  assert.deepEqual(several.extensions, {
    code: "LIST_TOO_LONG",
    limit: 1000,
    connection: "productsConnection",
  });
});

Deno.test("translateGrpcError() leaves a FAILED_PRECONDITION to be masked unless the query service explains it", () => {
  const cases = [
    serviceError(grpc.status.FAILED_PRECONDITION, "something else", {
      [statusOriginMetadataKey]: "catalog.v1.QueryService",
    }),
    listTooLong({ entity: "products", limit: 1000 }, false),
    listTooLong({ entity: "orders", limit: 1000 }),
    listTooLong({ entity: "products", limit: -1 }),
    listTooLong({ entity: "products", limit: 10, categoryCount: "two" }),
    serviceError(grpc.status.FAILED_PRECONDITION, "x", {
      [statusOriginMetadataKey]: "catalog.v1.QueryService",
      [listTooLongMetadataKey]: "{oops",
    }),
  ];
  for (const error of cases) assert.equal(translateGrpcError(error, "query"), error);
});

Deno.test("translateGrpcError() passes on a read the query service stopped at its statement timeout", () => {
  const details = "Cannot answer ListProducts: the read took longer than 4000 ms and was stopped";
  const error = translateGrpcError(
    serviceError(grpc.status.DEADLINE_EXCEEDED, details, {
      [statusOriginMetadataKey]: "catalog.v1.QueryService",
    }),
    "query",
  );
  assert.ok(error instanceof GraphQLError);
  assert.equal(error.message, details);
  assert.deepEqual(error.extensions, { code: "SERVICE_UNAVAILABLE" });
});
