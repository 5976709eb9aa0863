/**
 * Every service's /metrics, scraped before and after known work: the
 * counters and histograms move by exactly what was done, on the service that
 * did it.
 */
import assert from "node:assert/strict";
import { eventually, graphql, type Scrape, scrapeMetrics, withSystem } from "@catalog/testkit";
import type { ProcessName, Stack } from "@catalog/dev";

const CREATES = 10;

function metricsUrl(stack: Stack, process: ProcessName): string {
  return `${stack.healthUrl(process)}/metrics`;
}

/** Each process's scrape, taken together. */
async function scrapeAll(
  stack: Stack,
): Promise<Record<"gateway" | "command" | "query" | "worker", Scrape>> {
  const [gateway, command, query, worker] = await Promise.all(
    (["gateway", "command", "query", "worker"] as const).map((process) =>
      scrapeMetrics(metricsUrl(stack, process))
    ),
  );
  return { gateway: gateway!, command: command!, query: query!, worker: worker! };
}

Deno.test("each service's /metrics counts the commands, reads and calls it handled", async () => {
  await withSystem(async ({ stack, data, gql }) => {
    // Nothing runs before the first scrape but the services' own start.
    const before = await scrapeAll(stack);

    const prefix = crypto.randomUUID().slice(0, 8);
    for (let i = 0; i < CREATES; i++) {
      await data(
        `mutation Create($name: String!) { createCategory(input: { name: $name }) { id } }`,
        { name: `${prefix}-${i}` },
      );
    }
    const taken = await gql(
      `mutation Create($name: String!) { createCategory(input: { name: $name }) { id } }`,
      { name: `${prefix}-0` },
    );
    assert.equal(taken.errors?.[0]?.extensions?.code, "CATEGORY_NAME_TAKEN");
    const listed = await graphql(stack.graphqlUrl, `query Everything { categories { id } }`);
    assert.equal((listed.data?.categories as unknown[]).length, CREATES);

    // The worker counts a command once it is acknowledged, just after its
    // outcome is readable.
    let after = await scrapeAll(stack);
    await eventually("the worker counted every outcome", async () => {
      after = await scrapeAll(stack);
      return after.worker.value("catalog_commands_outcomes_total") -
          before.worker.value("catalog_commands_outcomes_total") === CREATES + 1;
    });
    const moved = (service: keyof typeof after, name: string, labels = {}) =>
      after[service].value(name, labels) - before[service].value(name, labels);

    // The command service: 11 accepted, each a CreateCategory call answered OK.
    const create = { type: "CreateCategory" };
    assert.equal(moved("command", "catalog_commands_accepted_total", create), CREATES + 1);
    assert.equal(
      moved("command", "catalog_grpc_server_handled_total", {
        grpc_method: "CreateCategory",
        grpc_code: "OK",
      }),
      CREATES + 1,
    );
    assert.equal(
      moved("command", "catalog_grpc_server_handling_seconds_count", {
        grpc_method: "CreateCategory",
      }),
      CREATES + 1,
    );
    assert.equal(
      moved("command", "catalog_rabbitmq_publish_confirm_seconds_count", { outcome: "confirmed" }),
      CREATES + 1,
    );
    assert.equal(after.command.value("catalog_rabbitmq_connected"), 1);
    assert.equal(after.command.value("catalog_rabbitmq_publishers_blocked"), 0);
    assert.equal(after.command.value("catalog_partitions_consumed"), 8);
    assert.equal(
      after.command.value("catalog_queue_messages", { queue: "catalog.commands.dead-letter" }),
      0,
    );
    assert.equal(after.command.matching("catalog_queue_messages").length, 10);

    // The worker: 10 applied, 1 rejected with its code; the projection took 10 events.
    const applied = { ...create, outcome: "applied" };
    assert.equal(moved("worker", "catalog_commands_outcomes_total", applied), CREATES);
    assert.equal(
      moved("worker", "catalog_commands_outcomes_total", {
        ...create,
        outcome: "rejected",
        code: "CATEGORY_NAME_TAKEN",
      }),
      1,
    );
    assert.equal(
      moved("worker", "catalog_command_accepted_to_applied_seconds_count", create),
      CREATES,
    );
    assert.equal(moved("worker", "catalog_projection_events_total"), CREATES);
    assert.ok(moved("worker", "catalog_projection_batch_seconds_count") >= 1);
    assert.ok(
      moved("worker", "catalog_db_work_seconds_count", {
        database: "write",
        work: "handle_commands",
      }) >= 1,
    );
    assert.equal(after.worker.value("catalog_partitions_owned"), 8);
    assert.equal(after.worker.value("catalog_dead_letter_oldest_age_seconds"), 0);
    await eventually("nothing in flight and no lag", async () => {
      const now = await scrapeMetrics(metricsUrl(stack, "worker"));
      return now.value("catalog_commands_in_flight") === 0 &&
        now.value("catalog_projection_lag_events") === 0 &&
        now.value("catalog_projection_lag_seconds") === 0;
    });

    // The query service: the one list read.
    assert.equal(
      moved("query", "catalog_grpc_server_handled_total", {
        grpc_method: "ListCategories",
        grpc_code: "OK",
      }),
      1,
    );
    assert.equal(
      moved("query", "catalog_db_work_seconds_count", { database: "read", work: "ListCategories" }),
      1,
    );

    // The gateway: 11 mutations (one with an error) and one query.
    assert.equal(
      moved("gateway", "catalog_graphql_operations_total", {
        operation_name: "Create",
        operation_type: "mutation",
        outcome: "ok",
      }),
      CREATES,
    );
    assert.equal(
      moved("gateway", "catalog_graphql_operations_total", {
        operation_name: "Create",
        operation_type: "mutation",
        outcome: "error",
      }),
      1,
    );
    assert.equal(
      moved("gateway", "catalog_graphql_operations_total", {
        operation_name: "Everything",
        operation_type: "query",
        outcome: "ok",
      }),
      1,
    );
    assert.equal(
      moved("gateway", "catalog_graphql_operation_duration_seconds_count", {
        operation_type: "mutation",
      }),
      CREATES + 1,
    );
    assert.equal(
      moved("gateway", "catalog_grpc_client_handled_total", {
        grpc_method: "CreateCategory",
        grpc_code: "OK",
      }),
      CREATES + 1,
    );

    // Every process reports itself, labelled with its service.
    for (const [service, scrape] of Object.entries(after)) {
      const [rss] = scrape.matching("catalog_process_resident_memory_bytes");
      assert.ok(rss && rss.value > 0, `${service} reports its RSS`);
      assert.equal(rss.labels.service, service);
      assert.ok(scrape.has("catalog_nodejs_eventloop_lag_p99_seconds"), service);
      assert.equal(scrape.value("catalog_service_restarts"), 0, service);
    }
  });
});

Deno.test("a restarted service reports how many times it was restarted", async () => {
  await withSystem(async ({ stack }) => {
    await stack.restart("query");
    const scrape = await scrapeMetrics(metricsUrl(stack, "query"));
    assert.equal(scrape.value("catalog_service_restarts"), 1);
  });
});
