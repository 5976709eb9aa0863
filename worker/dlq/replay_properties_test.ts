import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Message, MessageProperties } from "amqplib";
import { headers } from "@catalog/proto";
import { isDeadLetterHeader, publisherOf, replayProperties } from "./replay_properties.ts";

function taken(properties: Partial<Record<keyof MessageProperties, unknown>>): Message {
  return {
    content: Buffer.from("{}"),
    fields: { deliveryTag: 1, redelivered: true, exchange: "", routingKey: "CreateCategory" },
    properties: properties as unknown as MessageProperties,
  };
}

Deno.test("isDeadLetterHeader() names the headers of dead-lettering and deliveries, not the command's", () => {
  for (
    const name of [
      headers.deadLetterReason,
      headers.deadLetteredAt,
      headers.deadLetterReference,
      headers.originalRoutingKey,
      headers.originalUserId,
      "x-death",
      "x-delivery-count",
      "x-first-death-queue",
      "x-last-death-reason",
    ]
  ) {
    assert.equal(isDeadLetterHeader(name), true, name);
  }
  for (const name of [headers.aggregateId, headers.schemaVersion, headers.traceparent, "x-other"]) {
    assert.equal(isDeadLetterHeader(name), false, name);
  }
});

Deno.test("replayProperties() keeps the command's properties and headers, without the dead-letter ones", () => {
  const message = taken({
    contentType: "application/json",
    contentEncoding: "utf-8",
    correlationId: "r-1",
    replyTo: "nobody",
    expiration: "60000",
    messageId: "c-1",
    timestamp: 1_748_772_000,
    type: "CreateCategory",
    appId: "catalog-command",
    priority: 3,
    deliveryMode: 2,
    userId: "catalog-command",
    clusterId: "old",
    headers: {
      [headers.aggregateId]: "a-1",
      [headers.traceparent]: "00-abc-def-01",
      [headers.deadLetterReason]: "boom",
      [headers.deadLetteredAt]: "2025-06-01T10:00:00.000Z",
      [headers.deadLetterReference]: "5b0e8d1c-6a57-4a1e-9d55-0e7f3a9b2c41",
      [headers.originalRoutingKey]: "CreateCategory",
      [headers.originalUserId]: "catalog-command",
      "x-death": [{ reason: "delivery_limit" }],
      "x-delivery-count": 4,
      "x-first-death-queue": "q",
    },
  });
  assert.deepEqual(replayProperties(message, { userId: "catalog-command" }), {
    deliveryMode: 2,
    mandatory: true,
    userId: "catalog-command",
    contentType: "application/json",
    contentEncoding: "utf-8",
    correlationId: "r-1",
    replyTo: "nobody",
    expiration: "60000",
    messageId: "c-1",
    timestamp: 1_748_772_000,
    type: "CreateCategory",
    appId: "catalog-command",
    priority: 3,
    headers: { [headers.aggregateId]: "a-1", [headers.traceparent]: "00-abc-def-01" },
  });
});

Deno.test("replayProperties() replays a message that was not persistent as it was, and any other as persistent", () => {
  const as = { userId: "guest" };
  assert.equal(replayProperties(taken({ deliveryMode: 1 }), as).deliveryMode, 1);
  assert.equal(replayProperties(taken({}), as).deliveryMode, 2);
  assert.deepEqual(replayProperties(taken({}), as), {
    deliveryMode: 2,
    mandatory: true,
    headers: {},
    userId: "guest",
  });
});

Deno.test("replayProperties() publishes as the user it is given, whoever published the original", () => {
  const properties = replayProperties(taken({ userId: "catalog-command" }), { userId: "guest" });
  assert.equal(properties.userId, "guest");
});

Deno.test("publisherOf() reads the user_id RabbitMQ kept, else the worker's x-original-user-id", () => {
  assert.equal(publisherOf(taken({ userId: "catalog-command" })), "catalog-command");
  assert.equal(
    publisherOf(taken({ headers: { [headers.originalUserId]: "catalog-command" } })),
    "catalog-command",
  );
  assert.equal(
    publisherOf(taken({ headers: { [headers.originalUserId]: Buffer.from("mallory") } })),
    "mallory",
  );
  // What RabbitMQ vouches for wins over a header.
  assert.equal(
    publisherOf(
      taken({ userId: "mallory", headers: { [headers.originalUserId]: "catalog-command" } }),
    ),
    "mallory",
  );
  assert.equal(publisherOf(taken({})), undefined);
  assert.equal(publisherOf(taken({ userId: "", headers: {} })), undefined);
});
