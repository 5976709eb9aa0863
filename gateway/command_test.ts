import assert from "node:assert/strict";
import { grpc } from "@catalog/proto";
import { serviceError, testGateway } from "./_testing.ts";

const COMMAND = "id type aggregateId status code message acceptedAt handledAt";

Deno.test("command(id) follows a pending command until it is applied", async () => {
  const { backends, gql, gqlData } = testGateway();
  backends.outcome = { status: "PENDING" };
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
    status: "PENDING",
    code: null,
    message: null,
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
