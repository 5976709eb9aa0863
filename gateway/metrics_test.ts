import assert from "node:assert/strict";
import { grpc } from "@catalog/proto";
import { createServiceRegistry, grpcClientMetrics } from "@catalog/runtime";
import { prom } from "@catalog/runtime";
import { eventually, parseMetrics, type Scrape, subscribeSse } from "@catalog/testkit";
import type { ChangeListener, ChangeSource } from "./change_feed.ts";
import type { Gateway } from "./gateway.ts";
import { serviceError, testConfig, testGateway } from "./_testing.ts";
import { OperationNames } from "./metrics.ts";

const operations = "catalog_graphql_operations_total";
const durations = "catalog_graphql_operation_duration_seconds_count";

async function scrape(gateway: Gateway, headers: Record<string, string> = {}): Promise<Scrape> {
  const response = await gateway.fetch(new Request("http://localhost/metrics", { headers }));
  const text = await response.text();
  assert.equal(response.status, 200, text);
  assert.equal(
    response.headers.get("content-type"),
    "text/plain; version=0.0.4; charset=utf-8",
  );
  return parseMetrics(text);
}

Deno.test("createGateway() counts and times operations on GET /metrics by name, type and outcome", async () => {
  const { gateway, backends, gql, gqlData } = testGateway();
  backends.addCategory("Books");
  const before = await scrape(gateway);
  const moved = (after: Scrape, name: string, labels: Record<string, string>) =>
    after.value(name, labels) - before.value(name, labels);

  for (let i = 0; i < 3; i++) await gqlData("query Shelf { categories { id name } }");
  backends.failures.set("ListCategories", serviceError(grpc.status.UNAVAILABLE, "No connection"));
  const unavailable = await gql("query Shelf { categories { id name } }");
  assert.equal(unavailable.errors?.[0]?.extensions?.code, "SERVICE_UNAVAILABLE");
  backends.failures.clear();
  backends.outcome = {
    status: "REJECTED",
    code: "CATEGORY_NAME_TAKEN",
    message: 'Cannot create category "Books": the name is taken',
  };
  const taken = await gql(
    'mutation CreateShelf { createCategory(input: { name: "Books" }) { id } }',
  );
  assert.equal(taken.errors?.[0]?.extensions?.code, "CATEGORY_NAME_TAKEN");
  await gqlData("{ categories { id } }");

  const after = await scrape(gateway);
  const shelf = { operation_name: "Shelf", operation_type: "query" };
  const create = { operation_name: "CreateShelf", operation_type: "mutation" };
  const anonymous = { operation_name: "anonymous", operation_type: "query" };
  assert.equal(moved(after, operations, { ...shelf, outcome: "ok" }), 3);
  assert.equal(moved(after, operations, { ...shelf, outcome: "error" }), 1);
  assert.equal(moved(after, operations, { ...create, outcome: "error" }), 1);
  assert.equal(moved(after, operations, { ...create, outcome: "ok" }), 0);
  assert.equal(moved(after, operations, { ...anonymous, outcome: "ok" }), 1);
  assert.equal(moved(after, operations, {}), 6);
  assert.equal(moved(after, durations, shelf), 4);
  assert.equal(moved(after, durations, create), 1);
  assert.equal(moved(after, durations, anonymous), 1);
  assert.equal(moved(after, durations, {}), 6);
  const [bucket] = after.matching("catalog_graphql_operation_duration_seconds_bucket", {
    ...shelf,
    le: "0.001",
  });
  assert.ok(bucket, "the histogram has the runtime's buckets");
  // The scrapes themselves are no GraphQL operation.
  assert.ok(!after.text.includes('operation_name="metrics"'));
  const [label] = after.matching(operations, { ...shelf, outcome: "ok" });
  assert.equal(label?.labels.service, "gateway");
  assert.equal(after.value("catalog_graphql_subscriptions_open"), 0);
  assert.ok(!after.text.includes("graphql_envelop_"), "the plugin's own metrics are off");
  assert.ok(!after.text.includes("graphql_yoga_"), "the plugin's own metrics are off");
});

Deno.test("createGateway() labels an unusual or unknown operation name as other on /metrics", async () => {
  const { gateway, gqlData } = testGateway();
  const long = `Q${"x".repeat(64)}`;
  await gqlData(`query ${long} { categories { id } }`);
  // The client names an operation the document does not have: graphql-js refuses it.
  const response = await gateway.fetch(
    new Request("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "query Shelf { categories { id } }", operationName: "id-42" }),
    }),
  );
  assert.ok((await response.json()).errors?.length);

  const after = await scrape(gateway);
  assert.equal(
    after.value(operations, { operation_name: "other", operation_type: "query", outcome: "ok" }),
    1,
  );
  assert.equal(
    after.value(operations, {
      operation_name: "other",
      operation_type: "unknown",
      outcome: "error",
    }),
    1,
  );
  assert.equal(after.value(durations, { operation_name: "other" }), 2);
  assert.ok(!after.text.includes(long) && !after.text.includes("id-42"));
});

Deno.test("createGateway() counts an operation refused before it runs as an error", async () => {
  const { gateway, gql } = testGateway();
  // Validation: a field the schema does not have.
  const typo = await gql("query Typo { categroies { id } }");
  assert.ok(typo.errors?.length);
  // Yoga's own check: no mutation over GET.
  const query = encodeURIComponent(
    'mutation ByGet { createCategory(input: { name: "A" }) { id } }',
  );
  const byGet = await gateway.fetch(new Request(`http://localhost/graphql?query=${query}`));
  assert.equal(byGet.status, 405);
  await byGet.body?.cancel();
  // A subscription refused at once: this gateway has no change feed.
  const response = await gateway.fetch(
    new Request("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ query: "subscription Watch { categoryCreated { id } }" }),
    }),
  );
  assert.match(await response.text(), /SERVICE_UNAVAILABLE/);

  const after = await scrape(gateway);
  const refused = [
    { operation_name: "Typo", operation_type: "query" },
    { operation_name: "ByGet", operation_type: "mutation" },
    { operation_name: "Watch", operation_type: "subscription" },
  ];
  for (const labels of refused) {
    assert.equal(
      after.value(operations, { ...labels, outcome: "error" }),
      1,
      labels.operation_name,
    );
    assert.equal(after.value(durations, labels), 1, labels.operation_name);
  }
  assert.equal(after.value(operations, { outcome: "ok" }), 0);
  assert.equal(after.value("catalog_graphql_subscriptions_open"), 0);
});

Deno.test("createGateway() serves GET and HEAD /metrics with no token, rate limit or GraphQL", async () => {
  const { gateway, gql } = testGateway({
    config: {
      ...testConfig,
      auth: { ...testConfig.auth, publicReads: false },
      rateLimitPerMinute: 1,
    },
    token: null,
  });
  const refused = await gql("query Shelf { categories { id } }");
  assert.equal(refused.errors?.[0]?.extensions?.code, "UNAUTHENTICATED");
  // Past the rate limit of one request a minute, and with a content type the door refuses.
  for (let i = 0; i < 3; i++) {
    const scraped = await scrape(gateway, { "content-type": "text/plain" });
    assert.equal(
      scraped.value(operations, {
        operation_name: "Shelf",
        operation_type: "query",
        outcome: "error",
      }),
      1,
    );
    assert.equal(scraped.value(operations), 1);
  }
  const head = await gateway.fetch(new Request("http://localhost/metrics", { method: "HEAD" }));
  assert.equal(head.status, 200);
  assert.match(head.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  assert.equal(await head.text(), "");
  const limited = await gql("{ categories { id } }");
  assert.equal(limited.errors?.[0]?.extensions?.code, "RATE_LIMITED");
});

Deno.test("createGateway() counts open SSE subscriptions on /metrics, and each once it ends", async () => {
  const listeners = new Set<ChangeListener>();
  const changes: ChangeSource = {
    ready: () => Promise.resolve(),
    listen(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  const { gateway } = testGateway({ changes });
  const subscription = await subscribeSse(
    "http://localhost/graphql",
    "subscription Watch { categoryCreated { id } }",
    undefined,
    { fetch: (request) => gateway.fetch(request) },
  );
  try {
    assert.equal((await scrape(gateway)).value("catalog_graphql_subscriptions_open"), 1);
  } finally {
    await subscription.close();
  }
  const watch = { operation_name: "Watch", operation_type: "subscription" };
  await eventually("the subscription is counted once it ended", async () => {
    const after = await scrape(gateway);
    return after.value("catalog_graphql_subscriptions_open") === 0 &&
      after.value(operations, { ...watch, outcome: "ok" }) === 1;
  });
  const after = await scrape(gateway);
  assert.equal(after.value(operations), 1);
  assert.equal(after.value(durations, watch), 1);
});

Deno.test("createGateway() serves the process's metrics on /metrics before its own", async () => {
  const processMetrics = new prom.Registry();
  new prom.Gauge({ name: "catalog_test_process_up", help: "Test.", registers: [processMetrics] })
    .set(1);
  const { gateway, gqlData } = testGateway({ processMetrics });
  await gqlData("query Shelf { categories { id } }");
  const scraped = await scrape(gateway);
  assert.equal(scraped.value("catalog_test_process_up"), 1);
  assert.equal(scraped.value(operations, { operation_name: "Shelf" }), 1);
  assert.ok(scraped.text.indexOf("catalog_test_process_up") < scraped.text.indexOf(operations));
});

Deno.test("createGateway() serves its gRPC clients' metrics from the registry it is given", async () => {
  // As main.ts does: one registry for the gateway's metrics and its clients'.
  const metrics = createServiceRegistry("gateway");
  const calls = grpcClientMetrics(metrics);
  const { gateway } = testGateway({ metrics });
  calls.start("catalog.v1.QueryService", "GetCategories")(grpc.status.OK);
  calls.start("catalog.v1.CommandService", "CreateCategory")(grpc.status.UNAVAILABLE);
  const scraped = await scrape(gateway);
  const handled = "catalog_grpc_client_handled_total";
  assert.equal(
    scraped.value(handled, {
      service: "gateway",
      grpc_service: "catalog.v1.QueryService",
      grpc_method: "GetCategories",
      grpc_code: "OK",
    }),
    1,
  );
  assert.equal(
    scraped.value(handled, { grpc_method: "CreateCategory", grpc_code: "UNAVAILABLE" }),
    1,
  );
  assert.equal(scraped.value("catalog_grpc_client_handling_seconds_count"), 2);
  assert.ok(scraped.has("catalog_graphql_subscriptions_open"));
});

Deno.test("OperationNames keeps names it has seen and labels new ones other past its limit", () => {
  const names = new OperationNames(2);
  assert.equal(names.label(undefined), "anonymous");
  assert.equal(names.label("A"), "A");
  assert.equal(names.label("has-dash"), "other");
  assert.equal(names.label("B"), "B");
  assert.equal(names.label("C"), "other");
  assert.equal(names.label("A"), "A");
  assert.equal(names.label(`_${"a".repeat(63)}`), "other");
  assert.equal(new OperationNames().label(`_${"a".repeat(63)}`), `_${"a".repeat(63)}`);
});
