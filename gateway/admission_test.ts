import assert from "node:assert/strict";
import { grpc, statusOriginMetadataKey } from "@catalog/proto";
import { serviceError, testConfig, testGateway, writerToken } from "./_testing.ts";

const limits = { mutations: 2, reads: 3, retryAfterSeconds: 2 };

async function post(
  gateway: { fetch(request: Request): Promise<Response> },
  query: string,
): Promise<Response> {
  return await gateway.fetch(
    new Request("http://localhost/graphql", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${await writerToken}`,
      },
      body: JSON.stringify({ query }),
    }),
  );
}

Deno.test("admission refuses a mutation past the limit at once with 503, Retry-After and OVERLOADED, and sends nothing on", async () => {
  const { gateway, backends } = testGateway({ config: { ...testConfig, admission: limits } });
  const release = backends.hold("WaitForCommand");
  const held = [0, 1].map((i) =>
    post(gateway, `mutation { createCategory(input: { name: "held ${i}" }) { id } }`)
  );
  // Both took their slot once both were sent.
  while (backends.callsOf("WaitForCommand").length < 2) await new Promise((r) => setTimeout(r, 1));
  const refused = await post(
    gateway,
    'mutation { createCategory(input: { name: "third" }) { id } }',
  );
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get("retry-after"), "2");
  const body = await refused.json();
  assert.deepEqual(body.errors.map((e: { extensions: { code: string } }) => e.extensions.code), [
    "OVERLOADED",
  ]);
  assert.equal(
    body.errors[0].message,
    "Cannot run the mutation: the gateway is at its limit of 2 mutations in progress; " +
      "nothing was done, try again in 2 s",
  );
  // The refused one reached no backend: two creates sent, not three.
  assert.equal(backends.callsOf("CreateCategory").length, 2);
  // Reads have their own bound: a query still runs while mutations are at theirs.
  const read = await post(gateway, "{ categories { id } }");
  assert.equal(read.status, 200);
  await read.body?.cancel();
  release();
  for (const response of await Promise.all(held)) {
    assert.equal(response.status, 200);
    assert.equal((await response.json()).errors, undefined);
  }
  // The slots are free again.
  const after = await post(gateway, 'mutation { createCategory(input: { name: "after" }) { id } }');
  assert.equal(after.status, 200);
  assert.equal((await after.json()).errors, undefined);
});

Deno.test("admission counts queries apart and frees a slot when an operation fails", async () => {
  const { gateway, backends } = testGateway({ config: { ...testConfig, admission: limits } });
  const release = backends.hold("ListCategories");
  const held = [0, 1, 2].map(() => post(gateway, "{ categories { id } }"));
  while (backends.callsOf("ListCategories").length < 3) await new Promise((r) => setTimeout(r, 1));
  const refused = await post(gateway, "{ categories { id } }");
  assert.equal(refused.status, 503);
  assert.equal((await refused.json()).errors[0].extensions.code, "OVERLOADED");
  backends.failures.set("ListCategories", new Error("boom"));
  release();
  await Promise.all((await Promise.all(held)).map((response) => response.body?.cancel()));
  backends.failures.delete("ListCategories");
  const again = await Promise.all([0, 1, 2].map(() => post(gateway, "{ categories { id } }")));
  assert.deepEqual(again.map((response) => response.status), [200, 200, 200]);
  await Promise.all(again.map((response) => response.body?.cancel()));
});

Deno.test("a command refused for a full backlog answers OVERLOADED with 503 and Retry-After", async () => {
  const { gateway, backends } = testGateway();
  const details = "Cannot accept CreateCategory: 10000 commands wait for the workers, at most " +
    "10000; nothing was queued, try again later";
  backends.failures.set(
    "CreateCategory",
    serviceError(grpc.status.RESOURCE_EXHAUSTED, details, {
      [statusOriginMetadataKey]: "catalog.v1.CommandService",
    }),
  );
  const response = await post(
    gateway,
    'mutation { createCategory(input: { name: "Toys" }) { id } }',
  );
  assert.equal(response.status, 503);
  assert.equal(response.headers.get("retry-after"), "1");
  const body = await response.json();
  assert.deepEqual(
    body.errors.map((e: { message: string; extensions: { code: string } }) => [
      e.extensions.code,
      e.message,
    ]),
    [["OVERLOADED", details]],
  );
  assert.equal(backends.callsOf("WaitForCommand").length, 0);
});
