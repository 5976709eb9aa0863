import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Message, MessageProperties } from "amqplib";
import { headers } from "@catalog/proto";
import { deadLetterProperties } from "./dead_letter_properties.ts";

/** A delivered message as amqplib hands it over; properties it lacks are undefined. */
function delivered(properties: Partial<MessageProperties>, routingKey = "CreateCategory"): Message {
  return {
    content: Buffer.from("{}"),
    fields: { deliveryTag: 7, redelivered: false, exchange: "catalog.commands", routingKey },
    properties: properties as MessageProperties,
  };
}

const at = new Date("2025-06-01T10:00:00.000Z");

Deno.test("deadLetterProperties() keeps the original properties and headers, and says why, when and where", () => {
  const message = delivered({
    messageId: "c-1",
    type: "CreateCategory",
    correlationId: "r-1",
    appId: "catalog-command",
    timestamp: 1_748_772_000,
    contentType: "application/json",
    contentEncoding: "utf-8",
    deliveryMode: 2,
    userId: "catalog-command",
    headers: { [headers.aggregateId]: "a-1", [headers.schemaVersion]: 1 },
  });
  assert.deepEqual(deadLetterProperties(message, { reason: "Cannot read command", at }), {
    persistent: true,
    messageId: "c-1",
    type: "CreateCategory",
    correlationId: "r-1",
    appId: "catalog-command",
    timestamp: 1_748_772_000,
    contentType: "application/json",
    contentEncoding: "utf-8",
    headers: {
      [headers.aggregateId]: "a-1",
      [headers.schemaVersion]: 1,
      [headers.deadLetterReason]: "Cannot read command",
      [headers.deadLetteredAt]: "2025-06-01T10:00:00.000Z",
      [headers.originalRoutingKey]: "CreateCategory",
    },
  });
});

Deno.test("deadLetterProperties() leaves out what the original message did not have", () => {
  assert.deepEqual(deadLetterProperties(delivered({}, ""), { reason: "No body", at }), {
    persistent: true,
    headers: {
      [headers.deadLetterReason]: "No body",
      [headers.deadLetteredAt]: "2025-06-01T10:00:00.000Z",
      [headers.originalRoutingKey]: "",
    },
  });
});

Deno.test("deadLetterProperties() replaces the dead-letter headers of a message dead-lettered before", () => {
  const message = delivered({
    headers: { [headers.deadLetterReason]: "old", [headers.originalRoutingKey]: "Old" },
  }, "UpdateProduct");
  const properties = deadLetterProperties(message, { reason: "new", at });
  assert.equal(properties.headers[headers.deadLetterReason], "new");
  assert.equal(properties.headers[headers.originalRoutingKey], "UpdateProduct");
});
