/**
 * One mutation, traced: with OTEL_DENO=true every service exports its spans
 * over OTLP to a receiver the test runs, and the mutation's trace crosses the
 * gateway, the command service, the worker and the query service, through
 * RabbitMQ (a producer span and the consumer span it parents) and down to
 * the SQL statements, and on to the subscriber its change reaches. The worker's JSON log line of the command carries the
 * same trace id.
 */
import assert from "node:assert/strict";
import {
  eventually,
  otlpEnv,
  type ReceivedSpan,
  startOtlpReceiver,
  subscribeSse,
  withSystem,
} from "@catalog/testkit";

const SPAN_KIND = { server: 2, client: 3, producer: 4, consumer: 5 };

Deno.test("one mutation is one trace across every service, through RabbitMQ to SQL, and its log lines name it", async () => {
  await using receiver = startOtlpReceiver();
  const lines: string[] = [];
  let commandId = "";
  let trace: ReceivedSpan[] = [];
  await withSystem(
    async ({ data, stack }) => {
      const subscriber = await subscribeSse<{ categoryCreated: { name: string } }>(
        stack.graphqlUrl,
        `subscription { categoryCreated { name } }`,
      );
      await data(
        `mutation Create($name: String!) { createCategory(input: { name: $name }) { id } }`,
        { name: "Traced" },
      );
      assert.equal((await subscriber.nextData()).data?.categoryCreated.name, "Traced");
      await subscriber.close();
      await eventually("the mutation's trace, worker and query included", async () => {
        await Promise.resolve();
        const publish = receiver.spans.find((span) =>
          span.name === "publish catalog.commands" &&
          span.attributes["catalog.command.type"] === "CreateCategory"
        );
        if (!publish) return false;
        commandId = String(publish.attributes["messaging.message.id"]);
        trace = receiver.spans.filter((span) => span.traceId === publish.traceId);
        const services = new Set(trace.map((span) => span.service));
        return ["gateway", "command", "worker", "query"].every((name) =>
          services.has(`catalog-${name}`)
        ) && trace.some((span) => span.name === "postgresql project") &&
          trace.some((span) => span.name === "deliver change") &&
          trace.some((span) => !span.parentSpanId) &&
          trace.some((span) => span.name === "postgresql GetCategories");
      }, 20_000);
    },
    { ...otlpEnv(receiver), OTEL_BSP_SCHEDULE_DELAY: "200", LOG_FORMAT: "json" },
    { onLog: (entry) => lines.push(entry) },
  );

  const byId = new Map(trace.map((span) => [span.spanId, span]));
  const parentOf = (span: ReceivedSpan) =>
    span.parentSpanId ? byId.get(span.parentSpanId) : undefined;

  // The root: the gateway's HTTP request.
  const roots = trace.filter((span) => !span.parentSpanId);
  assert.equal(roots.length, 1, JSON.stringify(roots.map((span) => span.name)));
  assert.equal(roots[0]!.service, "catalog-gateway");
  assert.equal(roots[0]!.attributes["url.path"], "/graphql");

  // The gRPC call to the command service, and the publish under it.
  const publish = trace.find((span) => span.name === "publish catalog.commands")!;
  assert.equal(publish.service, "catalog-command");
  assert.equal(publish.kind, SPAN_KIND.producer);
  assert.equal(publish.attributes["messaging.system"], "rabbitmq");
  const call = parentOf(publish)!;
  assert.equal(call.service, "catalog-gateway");
  assert.equal(call.kind, SPAN_KIND.client);
  assert.equal(call.attributes["url.path"], "/catalog.v1.CommandService/CreateCategory");

  // The RabbitMQ hop: the worker's consumer span is the publish's child.
  const processed = trace.find((span) => span.name === "process CreateCategory")!;
  assert.equal(processed.service, "catalog-worker");
  assert.equal(processed.kind, SPAN_KIND.consumer);
  assert.equal(processed.parentSpanId, publish.spanId);
  assert.equal(processed.attributes["messaging.message.id"], commandId);

  // The SQL under it: the command's transaction and the projection, with statements.
  const handled = trace.find((span) => span.name === "postgresql handle_commands")!;
  assert.equal(handled.parentSpanId, processed.spanId);
  assert.equal(handled.attributes["db.system.name"], "postgresql");
  const statements = handled.events.filter((event) => event.name === "statement");
  assert.ok(statements.length > 0, "the statements are events of the database work");
  const texts = statements.map((event) => String(event.attributes["db.query.text"]).trim());
  assert.equal(texts[0], "begin");
  assert.ok(texts.some((text) => /^insert into commands/.test(text)), JSON.stringify(texts));
  assert.ok(trace.some((span) => span.name === "postgresql project"));

  // The query service answered the gateway's reads in the same trace.
  const read = trace.find((span) => span.name === "postgresql GetCategories")!;
  assert.equal(read.service, "catalog-query");

  // The change reached the subscriber in the same trace, from the event's
  // stored trace context.
  const delivered = trace.find((span) => span.name === "deliver change")!;
  assert.equal(delivered.service, "catalog-gateway");
  assert.equal(delivered.parentSpanId, publish.spanId);
  assert.equal(delivered.attributes["catalog.change.entity_type"], "CATEGORY");

  // The worker's log line of the command, as JSON, names it and its trace.
  const logged = lines
    .filter((entry) => entry.startsWith("worker "))
    .map((entry) => entry.slice(entry.indexOf("| ") + 2))
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, string>)
    .find((record) => record.command_id === commandId);
  assert.ok(logged, "a JSON log line names the command");
  assert.equal(logged.service, "worker");
  assert.equal(logged.level, "info");
  assert.match(String(logged.message), /^applied CreateCategory /);
  assert.equal(logged.trace_id, publish.traceId);
  assert.ok(!Number.isNaN(Date.parse(String(logged.time))));
});
