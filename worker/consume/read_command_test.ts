import assert from "node:assert/strict";
import type { Message, MessageProperties } from "amqplib";
import { Buffer } from "node:buffer";
import { type CommandEnvelope, encodeCommandMessage, headers } from "@catalog/proto";
import { commandEnvelope } from "../_testing.ts";
import { acceptedCommandOf, readCommand, readCommands } from "./read_command.ts";

/** A delivered message as amqplib hands it over. */
function delivered(content: Uint8Array, properties: Partial<MessageProperties> = {}): Message {
  return {
    content: Buffer.from(content),
    fields: { deliveryTag: 1, redelivered: false, exchange: "catalog.commands", routingKey: "" },
    properties: {
      contentType: undefined,
      contentEncoding: undefined,
      headers: undefined,
      deliveryMode: undefined,
      priority: undefined,
      correlationId: undefined,
      replyTo: undefined,
      expiration: undefined,
      messageId: undefined,
      timestamp: undefined,
      type: undefined,
      userId: undefined,
      appId: undefined,
      clusterId: undefined,
      ...properties,
    },
  };
}

/** The message the command service publishes for an envelope, with changes. */
function published(
  envelope: CommandEnvelope,
  change: (properties: MessageProperties) => Partial<MessageProperties> = () => ({}),
): Message {
  const { body, properties } = encodeCommandMessage(envelope, "catalog-command");
  const message = delivered(body, properties);
  return { ...message, properties: { ...message.properties, ...change(message.properties) } };
}

function reasonOf(message: Message): string {
  const reading = readCommand(message);
  assert.equal(reading.kind, "unreadable");
  return reading.kind === "unreadable" ? reading.reason : "";
}

const toys = () => commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Toys" });

Deno.test("readCommand() reads a message as the command service publishes it", () => {
  const envelope = toys();
  assert.deepEqual(readCommand(published(envelope)), { kind: "command", envelope });
});

Deno.test("readCommand() reads a message without message_id by its body", () => {
  const envelope = toys();
  const reading = readCommand(published(envelope, () => ({ messageId: undefined })));
  assert.deepEqual(reading, { kind: "command", envelope });
});

Deno.test("readCommand() gives the contract's reason for a body that is no envelope", () => {
  assert.equal(
    reasonOf(delivered(new TextEncoder().encode("not json"))),
    "Cannot read command: body is not JSON",
  );
  assert.match(
    reasonOf(delivered(new TextEncoder().encode('{"type":"DropTables"}'))),
    /^Cannot read command: /,
  );
});

Deno.test("readCommand() refuses a message_id that differs from the command id", () => {
  const envelope = toys();
  assert.equal(
    reasonOf(published(envelope, () => ({ messageId: "not-the-command-id" }))),
    `Cannot read command: message_id "not-the-command-id" differs from commandId "${envelope.commandId}"`,
  );
});

Deno.test("readCommand() refuses a message whose x-aggregate-id header is missing or names another aggregate", () => {
  const envelope = toys();
  const { [headers.aggregateId]: _, ...others } = encodeCommandMessage(envelope, "test").properties
    .headers;
  assert.equal(
    reasonOf(published(envelope, () => ({ headers: others }))),
    "Cannot read CreateCategory: the message has no x-aggregate-id header",
  );
  const other = crypto.randomUUID();
  assert.equal(
    reasonOf(published(envelope, () => ({ headers: { ...others, [headers.aggregateId]: other } }))),
    `Cannot read CreateCategory: x-aggregate-id "${other}" differs from aggregateId "${envelope.aggregateId}"`,
  );
});

Deno.test("readCommand() refuses a payload id that differs from the aggregate id", () => {
  const aggregateId = crypto.randomUUID();
  const payloadId = crypto.randomUUID();
  const envelope = commandEnvelope("UpdateCategory", aggregateId, { id: aggregateId, name: "A" });
  const message = published({ ...envelope, payload: { id: payloadId, name: "A" } });
  assert.equal(
    reasonOf(message),
    `Cannot read UpdateCategory: payload id "${payloadId}" differs from aggregateId "${aggregateId}"`,
  );
});

Deno.test("readCommands() parts messages into commands and unreadable ones, each in order", () => {
  const [first, second] = [toys(), toys()];
  const bad = delivered(new TextEncoder().encode("not json"));
  const messages = [published(first!), bad, published(second!)];
  const readings = readCommands(messages);
  assert.deepEqual(readings.commands.map(({ envelope }) => envelope), [first, second]);
  assert.deepEqual(readings.commands.map(({ message }) => message), [messages[0], messages[2]]);
  assert.deepEqual(readings.unreadable, [
    { message: bad, reason: "Cannot read command: body is not JSON" },
  ]);
});

Deno.test("acceptedCommandOf() names the command of an accepted copy, and nothing for an unreadable one", () => {
  const envelope = toys();
  assert.deepEqual(acceptedCommandOf(published(envelope)), {
    commandId: envelope.commandId,
    type: "CreateCategory",
    aggregateId: envelope.aggregateId,
    acceptedAt: envelope.issuedAt,
  });
  assert.equal(acceptedCommandOf(delivered(new TextEncoder().encode("{}"))), undefined);
});
