import assert from "node:assert/strict";
import { GraphQLError } from "graphql";
import {
  commandIdMetadataKey,
  fieldErrorsMetadataKey,
  grpc,
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
