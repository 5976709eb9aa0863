import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Message, MessageFields, MessageProperties } from "amqplib";
import { headers, topology } from "@catalog/proto";
import { readDeadLetter } from "./read_dead_letter.ts";

/** A message taken from the dead-letter queue; properties it lacks are undefined. */
function taken(
  properties: Partial<Record<keyof MessageProperties, unknown>>,
  options: { body?: string; fields?: Partial<MessageFields> } = {},
): Message {
  return {
    content: Buffer.from(options.body ?? ""),
    fields: {
      deliveryTag: 1,
      redelivered: false,
      exchange: topology.deadLetterExchange,
      routingKey: "CreateCategory",
      ...options.fields,
    },
    properties: properties as unknown as MessageProperties,
  };
}

const body = JSON.stringify({ commandId: "c-body", type: "UpdateProduct", aggregateId: "a-body" });

Deno.test("readDeadLetter() reads what the worker dead-lettered: its reason, time and routing key", () => {
  const message = taken({
    messageId: "c-1",
    type: "CreateCategory",
    headers: {
      [headers.aggregateId]: "a-1",
      [headers.deadLetterReason]: "Cannot read command: body is not JSON",
      [headers.deadLetteredAt]: "2025-06-01T10:00:00.000Z",
      [headers.originalRoutingKey]: "CreateCategory.original",
    },
  }, { fields: { routingKey: "ignored" } });
  assert.deepEqual(readDeadLetter(message), {
    commandId: "c-1",
    type: "CreateCategory",
    aggregateId: "a-1",
    deadLetteredAt: new Date("2025-06-01T10:00:00.000Z"),
    reason: "Cannot read command: body is not JSON",
    deadLetteredBy: "worker",
    routingKey: "CreateCategory.original",
  });
});

Deno.test("readDeadLetter() falls back on the body for the ids and on the delivery for the routing key", () => {
  const message = taken({
    headers: { [headers.deadLetterReason]: "boom", [headers.deadLetteredAt]: "not a date" },
  }, { body, fields: { routingKey: "UpdateProduct" } });
  assert.deepEqual(readDeadLetter(message), {
    commandId: "c-body",
    type: "UpdateProduct",
    aggregateId: "a-body",
    deadLetteredAt: undefined,
    reason: "boom",
    deadLetteredBy: "worker",
    routingKey: "UpdateProduct",
  });
});

Deno.test("readDeadLetter() reads what RabbitMQ dead-lettered from its latest x-death", () => {
  const death = (reason: string, queue: string, key: string, seconds: number) => ({
    reason,
    queue,
    count: 1,
    exchange: "catalog.commands",
    "routing-keys": [key],
    time: { "!": "timestamp", value: seconds },
  });
  const message = taken({
    messageId: "c-2",
    headers: {
      "x-death": [
        death("delivery_limit", "catalog.commands.p3", "CreateProduct", 1_748_772_000),
        death("rejected", "older", "Older", 1_700_000_000),
      ],
    },
  });
  assert.deepEqual(readDeadLetter(message), {
    commandId: "c-2",
    type: undefined,
    aggregateId: undefined,
    deadLetteredAt: new Date(1_748_772_000_000),
    reason: "Exceeded the delivery limit of queue catalog.commands.p3",
    deadLetteredBy: "rabbitmq",
    routingKey: "CreateProduct",
  });
});

Deno.test("readDeadLetter() says each of RabbitMQ's reasons in words", () => {
  const reasonFor = (reason: unknown) =>
    readDeadLetter(taken({ headers: { "x-death": [{ reason, queue: Buffer.from("q") }] } })).reason;
  assert.equal(reasonFor("rejected"), "Rejected without requeueing by a consumer of queue q");
  assert.equal(reasonFor("expired"), "Expired in queue q");
  assert.equal(reasonFor("maxlen"), "Overflowed the length limit of queue q");
  assert.equal(reasonFor("odd"), "Dead-lettered by RabbitMQ from queue q (reason odd)");
  assert.equal(reasonFor(undefined), "Dead-lettered by RabbitMQ from queue q (reason not given)");
  assert.equal(
    readDeadLetter(taken({ headers: { "x-death": [{}] } })).reason,
    "Dead-lettered by RabbitMQ from queue (unknown queue) (reason not given)",
  );
});

Deno.test("readDeadLetter() tells a message no queue took from one without any reason", () => {
  const unroutable = readDeadLetter(
    taken({}, { body, fields: { exchange: "catalog.other", routingKey: "UpdateProduct" } }),
  );
  assert.equal(unroutable.reason, "Routed to no queue by exchange catalog.other");
  assert.equal(unroutable.deadLetteredBy, "rabbitmq");
  assert.equal(unroutable.routingKey, "UpdateProduct");

  for (const exchange of ["", topology.deadLetterExchange]) {
    const bare = readDeadLetter(
      taken({}, { body: "not json", fields: { exchange, routingKey: "" } }),
    );
    assert.deepEqual(bare, {
      commandId: undefined,
      type: undefined,
      aggregateId: undefined,
      deadLetteredAt: undefined,
      reason: "No reason recorded",
      deadLetteredBy: "unknown",
      routingKey: "",
    });
  }
});
