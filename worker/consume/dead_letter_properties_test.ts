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
const reference = "5b0e8d1c-6a57-4a1e-9d55-0e7f3a9b2c41";

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
  assert.deepEqual(
    deadLetterProperties(message, { reason: "Cannot read command", at, reference }),
    {
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
        [headers.deadLetterReference]: reference,
        [headers.originalRoutingKey]: "CreateCategory",
        [headers.originalUserId]: "catalog-command",
      },
    },
  );
});

Deno.test("deadLetterProperties() leaves out what the original message did not have", () => {
  assert.deepEqual(deadLetterProperties(delivered({}, ""), { reason: "No body", at, reference }), {
    persistent: true,
    headers: {
      [headers.deadLetterReason]: "No body",
      [headers.deadLetteredAt]: "2025-06-01T10:00:00.000Z",
      [headers.deadLetterReference]: reference,
      [headers.originalRoutingKey]: "",
    },
  });
});

Deno.test("deadLetterProperties() names the publisher only from user_id, never from a header the message brought", () => {
  const forged = delivered({ headers: { [headers.originalUserId]: "catalog-command" } });
  const properties = deadLetterProperties(forged, { reason: "Refused", at, reference });
  assert.equal(properties.headers?.[headers.originalUserId], undefined);
  const mallory = delivered({
    userId: "mallory",
    headers: { [headers.originalUserId]: "catalog-command" },
  });
  assert.equal(
    deadLetterProperties(mallory, { reason: "Refused", at, reference }).headers?.[
      headers.originalUserId
    ],
    "mallory",
  );
});

Deno.test("deadLetterProperties() replaces the dead-letter headers of a message dead-lettered before", () => {
  const message = delivered({
    headers: { [headers.deadLetterReason]: "old", [headers.originalRoutingKey]: "Old" },
  }, "UpdateProduct");
  const properties = deadLetterProperties(message, { reason: "new", at, reference });
  assert.equal(properties.headers[headers.deadLetterReason], "new");
  assert.equal(properties.headers[headers.originalRoutingKey], "UpdateProduct");
});
