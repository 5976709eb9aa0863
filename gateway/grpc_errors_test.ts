import assert from "node:assert/strict";
import { GraphQLError } from "graphql";
import { fieldErrorsMetadataKey, grpc } from "@catalog/proto";
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

Deno.test("translateGrpcError() names the unreachable service", () => {
  for (const code of [grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]) {
    const error = translateGrpcError(serviceError(code, "No connection established"), "query");
    assert.ok(error instanceof GraphQLError);
    assert.equal(error.message, "Cannot reach the query service: No connection established");
    assert.deepEqual(error.extensions, { code: "SERVICE_UNAVAILABLE" });
  }
});

Deno.test("translateGrpcError() turns NOT_FOUND into NOT_FOUND", () => {
  const error = translateGrpcError(serviceError(grpc.status.NOT_FOUND, "No such command"), "query");
  assert.ok(error instanceof GraphQLError);
  assert.deepEqual(error.extensions, { code: "NOT_FOUND" });
});

Deno.test("translateGrpcError() leaves other errors to be masked", () => {
  const internal = serviceError(grpc.status.INTERNAL, "database exploded");
  assert.equal(translateGrpcError(internal, "query"), internal);
  const bug = new TypeError("x is undefined");
  assert.equal(translateGrpcError(bug, "query"), bug);
});
