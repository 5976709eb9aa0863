import assert from "node:assert/strict";
import { grpc } from "@catalog/proto";
import { serviceError, testGateway, writerToken } from "./_testing.ts";

const fixedClock = () => new Date("2026-05-06T07:08:09.000Z");

Deno.test("createGateway() answers GET /health with the seed's shape", async () => {
  const { gateway } = testGateway({ now: fixedClock });
  const response = await gateway.fetch(new Request("http://localhost/health"));
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
  assert.deepEqual(await response.json(), {
    status: "healthy",
    service: "gateway",
    version: "0.1.0",
    timestamp: "2026-05-06T07:08:09.000Z",
  });
});

Deno.test("createGateway() answers GET /ready with 200 when both backends serve and workers consume", async () => {
  const asked: string[] = [];
  const { gateway } = testGateway({
    now: fixedClock,
    checkBackend: (target) => {
      asked.push(target);
      return Promise.resolve("SERVING");
    },
  });
  const response = await gateway.fetch(new Request("http://localhost/ready"));
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), {
    status: "ready",
    service: "gateway",
    version: "0.1.0",
    timestamp: "2026-05-06T07:08:09.000Z",
    checks: {
      command: { status: "SERVING" },
      query: { status: "SERVING" },
      workers: { status: "present" },
    },
  });
  assert.deepEqual(asked.sort(), ["command", "query", "workers"]);
});

Deno.test("createGateway() answers GET /ready with 503 naming the backend not ready", async () => {
  const { gateway } = testGateway({
    checkBackend: (target) => Promise.resolve(target === "query" ? "NOT_SERVING" : "SERVING"),
  });
  const response = await gateway.fetch(new Request("http://localhost/ready"));
  assert.equal(response.status, 503);
  const body = await response.json();
  assert.equal(body.status, "not_ready");
  assert.deepEqual(body.notReady, ["query"]);
  assert.equal(body.message, "Not ready: the query service is NOT_SERVING");
});

Deno.test("createGateway() answers GET /ready with 503 while no worker consumes commands", async () => {
  const { gateway } = testGateway({
    checkBackend: (target) => Promise.resolve(target === "workers" ? "NOT_SERVING" : "SERVING"),
  });
  const response = await gateway.fetch(new Request("http://localhost/ready"));
  assert.equal(response.status, 503);
  const body = await response.json();
  assert.deepEqual(body.notReady, ["workers"]);
  assert.deepEqual(body.checks.workers, {
    status: "missing",
    detail: "commands are accepted but not applied",
  });
  assert.equal(
    body.message,
    "Not ready: a worker on every partition is missing (commands are accepted but not applied)",
  );
});

Deno.test("createGateway() reports an unreachable backend on /ready without its address", async () => {
  const { gateway } = testGateway({
    checkBackend: (target) =>
      target === "query" ? Promise.resolve("SERVING") : Promise.reject(
        serviceError(grpc.status.UNAVAILABLE, "connect ECONNREFUSED 127.0.0.1:50051"),
      ),
  });
  const response = await gateway.fetch(new Request("http://localhost/ready"));
  assert.equal(response.status, 503);
  const body = await response.json();
  assert.deepEqual(body.notReady, ["command", "workers"]);
  assert.deepEqual(body.checks.command, { status: "UNREACHABLE", detail: "it does not answer" });
  assert.doesNotMatch(JSON.stringify(body), /127\.0\.0\.1|ECONNREFUSED/);
});

Deno.test("createGateway() serves GraphiQL to a browser with no external URL", async () => {
  const { gateway } = testGateway();
  const response = await gateway.fetch(
    new Request("http://localhost/graphql", { headers: { accept: "text/html" } }),
  );
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/html/);
  const html = await response.text();
  assert.match(html, /<title>Catalog GraphiQL<\/title>/);
  assert.match(html, /renderYogaGraphiQL/);
  assert.doesNotMatch(html, /unpkg\.com|jsdelivr|cdnjs/);
  // No script, stylesheet, icon or CSS import is fetched from elsewhere.
  assert.doesNotMatch(html, /<(script|link|img)\b[^>]*\b(src|href)\s*=\s*["']?(https?:)?\/\//i);
  assert.doesNotMatch(html, /@import\s+(url\()?["']?(https?:)?\/\//i);
  assert.doesNotMatch(html, /url\(\s*["']?https?:\/\//i);
});

Deno.test("createGateway() sends GET / to /graphql", async () => {
  const { gateway } = testGateway();
  const response = await gateway.fetch(new Request("http://localhost/"));
  assert.equal(response.status, 302);
  assert.equal(response.headers.get("location"), "/graphql");
});

Deno.test("createGateway() answers the seed's requests, prices as Floats", async () => {
  const { backends, gqlData } = testGateway();
  const books = backends.addCategory("Books");
  const toys = backends.addCategory("Toys");
  const kite = backends.addProduct("Kite", "19.90", toys.id);
  const novel = backends.addProduct("Novel", "12.00", books.id);

  const categories = await gqlData("{ categories { id name } }");
  assert.deepEqual(categories, {
    categories: [{ id: books.id, name: "Books" }, { id: toys.id, name: "Toys" }],
  });

  const products = await gqlData("{ products { id name price category { id name } } }");
  assert.deepEqual(products, {
    products: [
      { id: kite.id, name: "Kite", price: 19.9, category: { id: toys.id, name: "Toys" } },
      { id: novel.id, name: "Novel", price: 12, category: { id: books.id, name: "Books" } },
    ],
  });

  const both = await gqlData(
    "{ categories { id name } products { id name price category { id name } } }",
  );
  assert.deepEqual(both, { ...categories, ...products });
});

Deno.test("createGateway() fetches the categories of a product list in one call", async () => {
  const { backends, gqlData } = testGateway();
  const categories = ["A", "B", "C"].map((name) => backends.addCategory(name));
  for (const [i, category] of categories.entries()) {
    backends.addProduct(`P${i}`, "1.00", category.id);
    backends.addProduct(`Q${i}`, "2.00", category.id);
  }
  // A category's id and name come with its products' rows: no call for them.
  await gqlData("{ categories { id name } products { id name price category { id name } } }");
  assert.equal(backends.callsOf("ListProducts").length, 1);
  assert.equal(backends.callsOf("GetCategories").length, 0);
  await gqlData("{ products { id name price category { id name version } } }");
  assert.equal(backends.callsOf("ListProducts").length, 2);
  const lookups = backends.callsOf("GetCategories");
  assert.equal(lookups.length, 1);
  assert.deepEqual(
    (lookups[0]!.request as { ids: string[] }).ids.sort(),
    categories.map((category) => category.id).sort(),
  );
});

Deno.test("createGateway() fetches the products of a category list in one call", async () => {
  const { backends, gqlData } = testGateway();
  const books = backends.addCategory("Books");
  const toys = backends.addCategory("Toys");
  backends.addCategory("Empty");
  backends.addProduct("Kite", "19.90", toys.id);
  backends.addProduct("Novel", "12.00", books.id);
  const data = await gqlData<{ categories: { name: string; products: unknown[] }[] }>(
    "{ categories { name products { name category { name } } } }",
  );
  assert.deepEqual(data.categories, [
    { name: "Books", products: [{ name: "Novel", category: { name: "Books" } }] },
    { name: "Empty", products: [] },
    { name: "Toys", products: [{ name: "Kite", category: { name: "Toys" } }] },
  ]);
  assert.equal(backends.callsOf("ListProducts").length, 1);
  // The products' category names come with their rows.
  assert.equal(backends.callsOf("GetCategories").length, 0);
});

Deno.test("createGateway() passes correlation id, token and traceparent to gRPC, never x-actor", async () => {
  const { gateway, backends } = testGateway();
  const token = await writerToken;
  const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const response = await gateway.fetch(
    new Request("http://localhost/graphql", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-correlation-id": "req-42",
        "x-actor": "alice",
        authorization: `Bearer ${token}`,
        traceparent,
      },
      body: JSON.stringify({ query: "{ categories { id } }" }),
    }),
  );
  assert.equal(response.headers.get("x-correlation-id"), "req-42");
  await response.body?.cancel();
  const [call] = backends.callsOf("ListCategories");
  assert.deepEqual(call!.options, {
    timeoutMs: 5000,
    metadata: { "x-correlation-id": "req-42", authorization: `Bearer ${token}`, traceparent },
  });
});

Deno.test("createGateway() makes up a correlation id and forwards no token for an anonymous read", async () => {
  const { gateway, backends } = testGateway();
  const response = await gateway.fetch(
    new Request("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ categories { id } }" }),
    }),
  );
  const correlationId = response.headers.get("x-correlation-id");
  assert.match(correlationId ?? "", /^[0-9a-f-]{36}$/);
  await response.body?.cancel();
  const [call] = backends.callsOf("ListCategories");
  assert.deepEqual(call!.options?.metadata, {
    "x-correlation-id": correlationId,
  });
});

Deno.test("createGateway() masks an unexpected error and logs it", async () => {
  const { backends, logger, gql } = testGateway();
  backends.failures.set("ListCategories", new Error("connection pool exhausted at 10.0.0.7"));
  const result = await gql("{ categories { id } }");
  assert.equal(result.data, null);
  const reference = result.errors?.[0]?.extensions?.reference;
  assert.match(String(reference), /^[0-9a-f-]{36}$/);
  assert.equal(result.errors?.[0]?.message, `Unexpected error (reference ${reference})`);
  assert.equal(result.errors?.[0]?.extensions?.code, "INTERNAL_SERVER_ERROR");
  assert.doesNotMatch(JSON.stringify(result), /10\.0\.0\.7/);
  // The log line carries the same reference and the whole story.
  assert.ok(
    logger.errors.some((error) =>
      String(error).includes(String(reference)) &&
      String(error).includes("connection pool exhausted")
    ),
  );
});

Deno.test("createGateway() masks an unexpected gRPC status", async () => {
  const { backends, gql } = testGateway();
  backends.failures.set("ListProducts", serviceError(grpc.status.INTERNAL, "relation missing"));
  const result = await gql("{ products { id } }");
  assert.match(result.errors?.[0]?.message ?? "", /^Unexpected error \(reference [0-9a-f-]{36}\)$/);
  assert.doesNotMatch(JSON.stringify(result), /relation missing/);
});

Deno.test("createGateway() reports an unreachable query service", async () => {
  const { backends, gql } = testGateway();
  backends.failures.set(
    "ListCategories",
    serviceError(grpc.status.UNAVAILABLE, "No connection established. Last error: 127.0.0.1:50052"),
  );
  const result = await gql("{ categories { id } }");
  assert.equal(result.errors?.[0]?.message, "Cannot reach the query service: it is not answering");
  assert.equal(result.errors?.[0]?.extensions?.code, "SERVICE_UNAVAILABLE");
});

Deno.test("createGateway() declares the seed's subscriptions and commandUpdated", async () => {
  const { gqlData } = testGateway();
  const data = await gqlData<{
    __schema: {
      subscriptionType: { fields: { name: string; type: { ofType: { name: string } } }[] };
    };
  }>("{ __schema { subscriptionType { fields { name type { ofType { name } } } } } }");
  assert.deepEqual(
    data.__schema.subscriptionType.fields.map((field) => [field.name, field.type.ofType.name]),
    [
      ["categoryCreated", "Category"],
      ["categoryUpdated", "Category"],
      ["categoryDeleted", "Category"],
      ["productCreated", "Product"],
      ["productUpdated", "Product"],
      ["productDeleted", "Product"],
      ["commandUpdated", "Command"],
    ],
  );
});

Deno.test("createGateway() without a change feed refuses subscriptions with SERVICE_UNAVAILABLE", async () => {
  const { gateway } = testGateway();
  const response = await gateway.fetch(
    new Request("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ query: "subscription { categoryCreated { id } }" }),
    }),
  );
  assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
  const body = await response.text();
  assert.match(body, /"code":"SERVICE_UNAVAILABLE"/);
  assert.match(body, /event: complete/);
});
