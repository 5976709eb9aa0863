import assert from "node:assert/strict";
import { grpc } from "@catalog/proto";
import { serviceError, testGateway } from "./_testing.ts";
import { createBreakers } from "./breakers.ts";

async function circuitState(gateway: { fetch(request: Request): Promise<Response> }) {
  const text = await (await gateway.fetch(new Request("http://localhost/metrics"))).text();
  return text.split("\n").filter((line) =>
    line.startsWith('catalog_gateway_circuit_state{backend="query"') && line.endsWith(" 1")
  );
}

Deno.test("a backend that fails five times in a row has its calls refused at once, until a probe succeeds", async () => {
  const { gateway, gql, backends } = testGateway({
    token: null,
    breakers: createBreakers({ failures: 5, halfOpenAfterMs: 50 }),
  });
  backends.addCategory("Desks");
  backends.failures.set(
    "ListCategories",
    serviceError(grpc.status.UNAVAILABLE, "connect ECONNREFUSED 127.0.0.1:50052"),
  );
  for (let i = 0; i < 5; i++) {
    const failed = await gql("{ categories { id } }");
    assert.equal(
      failed.errors?.[0]?.message,
      "Cannot reach the query service: it is not answering",
    );
  }
  assert.equal(backends.callsOf("ListCategories").length, 5);
  assert.deepEqual(await circuitState(gateway), [
    'catalog_gateway_circuit_state{backend="query",state="open",service="gateway"} 1',
  ]);
  // Open: refused without a call, at once.
  const started = performance.now();
  const refused = await gql("{ categories { id } }");
  const tookMs = performance.now() - started;
  assert.deepEqual(refused.errors?.map((error) => [error.extensions?.code, error.message]), [[
    "SERVICE_UNAVAILABLE",
    "Cannot reach the query service: it has failed repeatedly; calls resume once a probe succeeds",
  ]]);
  assert.equal(backends.callsOf("ListCategories").length, 5);
  assert.ok(tookMs < 50, `an open circuit's refusal took ${tookMs} ms`);
  // The backend is back; after halfOpenAfterMs one call probes it and closes the circuit.
  backends.failures.delete("ListCategories");
  await new Promise((resolve) => setTimeout(resolve, 60));
  const probe = await gql<{ categories: unknown[] }>("{ categories { id } }");
  assert.equal(probe.errors, undefined);
  assert.equal(probe.data?.categories.length, 1);
  assert.deepEqual(await circuitState(gateway), [
    'catalog_gateway_circuit_state{backend="query",state="closed",service="gateway"} 1',
  ]);
});

Deno.test("answers that are the request's fault never open a circuit", async () => {
  const { gql, backends } = testGateway({ breakers: createBreakers({ failures: 2 }) });
  backends.failures.set(
    "CreateCategory",
    serviceError(grpc.status.INVALID_ARGUMENT, "Cannot create category: name: Must not be empty"),
  );
  for (let i = 0; i < 4; i++) {
    const result = await gql('mutation { createCategory(input: { name: "" }) { id } }');
    assert.equal(result.errors?.[0]?.extensions?.code, "INVALID_ARGUMENT");
  }
  assert.equal(backends.callsOf("CreateCategory").length, 4);
});
