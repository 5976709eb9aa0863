import assert from "node:assert/strict";
import { parseMetrics } from "@catalog/testkit";
import { databaseMetrics } from "./database_metrics.ts";
import { grpcCodeName, grpcServerMetrics } from "./grpc_metrics.ts";
import { createServiceRegistry, metricsText } from "./metrics.ts";

Deno.test("grpcServerMetrics() counts a call once, by its status code's name, and times it", async () => {
  const registry = createServiceRegistry("query");
  const metrics = grpcServerMetrics(registry);
  const done = metrics.start("catalog.v1.QueryService", "GetProducts");
  done(5);
  done(0); // a second end of the same call changes nothing
  metrics.start("catalog.v1.QueryService", "GetProducts")(undefined);
  const scrape = parseMetrics(await metricsText([registry]));
  const labels = { grpc_service: "catalog.v1.QueryService", grpc_method: "GetProducts" };
  assert.equal(
    scrape.value("catalog_grpc_server_handled_total", { ...labels, grpc_code: "NOT_FOUND" }),
    1,
  );
  assert.equal(
    scrape.value("catalog_grpc_server_handled_total", { ...labels, grpc_code: "OK" }),
    1,
  );
  assert.equal(scrape.value("catalog_grpc_server_handling_seconds_count", labels), 2);
  assert.equal(scrape.matching("catalog_grpc_server_handled_total")[0]?.labels.service, "query");
  assert.equal(grpcCodeName(14), "UNAVAILABLE");
  assert.equal(grpcCodeName(99), "UNKNOWN");
});

Deno.test("databaseMetrics() shows work beyond the pool's size as waiting, and times each kind", async () => {
  const registry = createServiceRegistry("worker");
  const pool = databaseMetrics(registry, "write", 2);
  const gates = Array.from({ length: 3 }, () => Promise.withResolvers<void>());
  const running = gates.map((gate) => pool.timed("handle_commands", () => gate.promise));
  let scrape = parseMetrics(await metricsText([registry]));
  assert.equal(scrape.value("catalog_db_pool_in_use", { database: "write" }), 2);
  assert.equal(scrape.value("catalog_db_pool_waiting", { database: "write" }), 1);
  for (const gate of gates) gate.resolve();
  await Promise.all(running);
  await assert.rejects(pool.timed("project", () => Promise.reject(new Error("gone"))), /gone/);
  scrape = parseMetrics(await metricsText([registry]));
  assert.equal(scrape.value("catalog_db_pool_in_use", { database: "write" }), 0);
  assert.equal(scrape.value("catalog_db_pool_waiting", { database: "write" }), 0);
  assert.equal(
    scrape.value("catalog_db_work_seconds_count", { database: "write", work: "handle_commands" }),
    3,
  );
  assert.equal(scrape.value("catalog_db_work_seconds_count", { work: "project" }), 1);
});
