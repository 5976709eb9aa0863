import assert from "node:assert/strict";
import { grpc } from "@catalog/proto";
import { serviceError, testGateway } from "./_testing.ts";

const COMMAND = "id type aggregateId status code message currentVersion acceptedAt handledAt";

Deno.test("command(id) follows a pending command until it is handled", async () => {
  const { backends, gql, gqlData } = testGateway();
  backends.outcome = { status: "ACCEPTED" };
  const pending = await gql('mutation { createCategory(input: { name: "Toys" }) { id } }');
  const commandId = String(pending.errors?.[0]?.extensions?.commandId);
  const before = await gqlData<{ command: Record<string, unknown> }>(
    `query ($id: ID!) { command(id: $id) { ${COMMAND} } }`,
    { id: commandId },
  );
  assert.deepEqual(before.command, {
    id: commandId,
    type: "CreateCategory",
    aggregateId: before.command.aggregateId,
    status: "ACCEPTED",
    code: null,
    message: null,
    currentVersion: null,
    acceptedAt: "2026-01-02T03:04:05.000Z",
    handledAt: null,
  });

  const status = backends.statuses.get(commandId)!;
  backends.statuses.set(commandId, {
    ...status,
    status: "REJECTED",
    code: "CATEGORY_NAME_TAKEN",
    message: "Taken",
    handledAt: "2026-01-02T03:04:06.000Z",
  });
  const after = await gqlData<{ command: Record<string, unknown> }>(
    `query ($id: ID!) { command(id: $id) { status code message handledAt } }`,
    { id: commandId },
  );
  assert.deepEqual(after.command, {
    status: "REJECTED",
    code: "CATEGORY_NAME_TAKEN",
    message: "Taken",
    handledAt: "2026-01-02T03:04:06.000Z",
  });
});

Deno.test("command(id) answers null for an unknown or malformed id", async () => {
  const { backends, gqlData } = testGateway();
  const data = await gqlData(
    `{ a: command(id: "00000000-0000-4000-8000-000000000000") { id } b: command(id: "x") { id } }`,
  );
  assert.deepEqual(data, { a: null, b: null });
  assert.equal(backends.callsOf("GetCommand").length, 1);
});

Deno.test("a mutation whose outcome cannot be read still names its command", async () => {
  const { backends, gql } = testGateway();
  backends.failures.set(
    "WaitForCommand",
    serviceError(grpc.status.UNAVAILABLE, "No connection established"),
  );
  const result = await gql('mutation { createCategory(input: { name: "Toys" }) { id } }');
  const error = result.errors?.[0];
  const [commandId] = [...backends.statuses.keys()];
  assert.equal(error?.extensions?.code, "SERVICE_UNAVAILABLE");
  assert.equal(error?.extensions?.commandId, commandId);
  assert.match(
    error?.message ?? "",
    /Cannot read the outcome of command .*: Cannot reach the query service/,
  );
});

Deno.test("a mutation whose command the read side has not heard of is COMMAND_PENDING", async () => {
  const { backends, gql } = testGateway();
  backends.failures.set("WaitForCommand", serviceError(grpc.status.NOT_FOUND, "Unknown command"));
  const result = await gql('mutation { createCategory(input: { name: "Toys" }) { id } }');
  assert.equal(result.errors?.[0]?.extensions?.code, "COMMAND_PENDING");
  assert.equal(result.errors?.[0]?.extensions?.commandId, [...backends.statuses.keys()][0]);
});

Deno.test("a mutation applied then removed before it is read is NOT_FOUND", async () => {
  const { backends, gql } = testGateway();
  const toys = backends.addCategory("Toys");
  const read = backends.queries.GetCategories;
  let reads = 0;
  backends.queries.GetCategories = (request, options) => {
    reads++;
    backends.categories.delete(toys.id);
    return read(request, options);
  };
  const result = await gql(
    'mutation ($id: ID!) { updateCategory(input: { id: $id, name: "Games" }) { id } }',
    { id: toys.id },
  );
  assert.equal(reads, 1);
  assert.equal(result.errors?.[0]?.extensions?.code, "NOT_FOUND");
  assert.ok(result.errors?.[0]?.extensions?.commandId);
});

Deno.test("command(id) shows a version conflict with the current version", async () => {
  const { backends, gql, gqlData } = testGateway();
  const toys = backends.addCategory("Toys");
  toys.version = 4;
  const refused = await gql(
    'mutation ($id: ID!) { updateCategory(input: { id: $id, name: "Games", expectedVersion: 2 }) { id } }',
    { id: toys.id },
  );
  const commandId = String(refused.errors?.[0]?.extensions?.commandId);
  const data = await gqlData<{ command: Record<string, unknown> }>(
    `query ($id: ID!) { command(id: $id) { ${COMMAND} } }`,
    { id: commandId },
  );
  assert.deepEqual(data.command, {
    id: commandId,
    type: "UpdateCategory",
    aggregateId: toys.id,
    status: "REJECTED",
    code: "VERSION_CONFLICT",
    message:
      `Cannot apply UpdateCategory to "${toys.id}": expected version 2, but it is at version 4`,
    currentVersion: 4,
    acceptedAt: "2026-01-02T03:04:05.000Z",
    handledAt: "2026-01-02T03:04:05.000Z",
  });
});

Deno.test("command(id) shows a FAILED command with its reason", async () => {
  const { backends, gql, gqlData } = testGateway();
  backends.outcome = { status: "FAILED", message: "Cannot read command: body is not JSON" };
  const failed = await gql('mutation { createCategory(input: { name: "Toys" }) { id } }');
  const commandId = String(failed.errors?.[0]?.extensions?.commandId);
  const data = await gqlData<{ command: Record<string, unknown> }>(
    "query ($id: ID!) { command(id: $id) { status code message currentVersion handledAt } }",
    { id: commandId },
  );
  assert.deepEqual(data.command, {
    status: "FAILED",
    code: "DEAD_LETTERED",
    message: "Cannot read command: body is not JSON",
    currentVersion: null,
    handledAt: "2026-01-02T03:04:05.000Z",
  });
});

Deno.test("a waiting mutation whose command FAILED is COMMAND_FAILED with the reason", async () => {
  const { backends, gql } = testGateway();
  backends.outcome = { status: "FAILED", message: "Cannot read command: body is not JSON" };
  const result = await gql('mutation { createCategory(input: { name: "Toys" }) { id } }');
  const [commandId] = [...backends.statuses.keys()];
  assert.equal(result.data, null);
  assert.deepEqual(result.errors?.[0]?.extensions, {
    code: "COMMAND_FAILED",
    commandId,
    reason: "Cannot read command: body is not JSON",
  });
  assert.equal(
    result.errors?.[0]?.message,
    `Cannot apply command ${commandId}: it could not be processed: ` +
      "Cannot read command: body is not JSON",
  );
});

Deno.test("a submit mutation's receipt leads to command(id)", async () => {
  const { backends, gqlData } = testGateway();
  backends.outcome = { status: "ACCEPTED" };
  const { submitCreateCategory: receipt } = await gqlData<
    { submitCreateCategory: { commandId: string; status: string } }
  >('mutation { submitCreateCategory(input: { name: "Toys" }) { commandId status } }');
  assert.equal(receipt.status, "ACCEPTED");
  const query = "query ($id: ID!) { command(id: $id) { id status handledAt } }";
  const queued = await gqlData(query, { id: receipt.commandId });
  assert.deepEqual(queued, {
    command: { id: receipt.commandId, status: "ACCEPTED", handledAt: null },
  });

  const status = backends.statuses.get(receipt.commandId)!;
  backends.statuses.set(receipt.commandId, {
    ...status,
    status: "APPLIED",
    handledAt: "2026-01-02T03:04:06.000Z",
  });
  const applied = await gqlData(query, { id: receipt.commandId.toUpperCase() });
  assert.deepEqual(applied, {
    command: { id: receipt.commandId, status: "APPLIED", handledAt: "2026-01-02T03:04:06.000Z" },
  });
});
