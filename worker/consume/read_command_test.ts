import assert from "node:assert/strict";
import type { Message, MessageProperties } from "amqplib";
import { Buffer } from "node:buffer";
import { type CommandEnvelope, encodeCommandMessage, headers } from "@catalog/proto";
import { commandEnvelope } from "../_testing.ts";
import {
  acceptedCommandOf,
  type CommandTrust,
  readCommand,
  readCommands,
  refusalOf,
} from "./read_command.ts";

const trust: CommandTrust = { publisherUser: "catalog-command" };

/** A delivered message as amqplib hands it over, published by the command service's user. */
function delivered(
  content: Uint8Array,
  properties: Partial<MessageProperties> = {},
  fields: { exchange: string; routingKey: string } = {
    exchange: "catalog.commands",
    routingKey: "CreateCategory",
  },
): Message {
  return {
    content: Buffer.from(content),
    fields: { deliveryTag: 1, redelivered: false, ...fields },
    properties: {
      contentType: undefined,
      contentEncoding: undefined,
      headers: undefined,
      deliveryMode: undefined,
      priority: undefined,
      correlationId: undefined,
      replyTo: undefined,
      expiration: undefined,
      messageId: "m-1",
      timestamp: undefined,
      type: undefined,
      userId: "catalog-command",
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
  const message = delivered(body, { ...properties, userId: "catalog-command" });
  return { ...message, properties: { ...message.properties, ...change(message.properties) } };
}

function reasonOf(message: Message): string {
  const reading = readCommand(message, trust);
  assert.equal(reading.kind, "unreadable");
  return reading.kind === "unreadable" ? reading.reason : "";
}

const toys = () => commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Toys" });

Deno.test("readCommand() reads a message as the command service publishes it", () => {
  const envelope = toys();
  assert.deepEqual(readCommand(published(envelope), trust), { kind: "command", envelope });
  assert.equal(refusalOf(published(envelope), trust), undefined);
});

Deno.test("readCommand() refuses a command published by another RabbitMQ user, or by none", () => {
  const envelope = toys();
  assert.deepEqual(readCommand(published(envelope, () => ({ userId: "mallory" })), trust), {
    kind: "refused",
    reason:
      'Refused: published by RabbitMQ user "mallory", not by the command service\'s user "catalog-command"',
    envelope,
  });
  for (const userId of [undefined, ""]) {
    assert.equal(
      refusalOf(published(envelope, () => ({ userId })), trust),
      'Refused: published without a RabbitMQ user_id, not by the command service\'s user "catalog-command"',
    );
  }
});

Deno.test("readCommand() refuses a message without message_id, though its body names a command", () => {
  const envelope = toys();
  assert.deepEqual(readCommand(published(envelope, () => ({ messageId: undefined })), trust), {
    kind: "refused",
    reason: "Refused: the message has no message_id, and the command service publishes every " +
      "command with its command id as message_id",
    envelope,
  });
});

Deno.test("readCommand() refuses a command that did not come through the commands exchange", () => {
  const envelope = toys();
  const { body, properties } = encodeCommandMessage(envelope, "catalog-command");
  const straight = delivered(body, { ...properties, userId: "catalog-command" }, {
    exchange: "",
    routingKey: "catalog.commands.3",
  });
  assert.deepEqual(readCommand(straight, trust), {
    kind: "refused",
    reason: 'Refused: it came from the default exchange (routing key "catalog.commands.3"), ' +
      "not through catalog.commands, so it may sit in another partition than its aggregate's " +
      "other commands",
    envelope,
  });
  const bound = delivered(body, { ...properties, userId: "catalog-command" }, {
    exchange: "amq.direct",
    routingKey: "p3",
  });
  assert.match(refusalOf(bound, trust) ?? "", /^Refused: it came from exchange "amq\.direct"/);
});

Deno.test("readCommand() refuses before it reads: a refused body need not be an envelope", () => {
  assert.deepEqual(
    readCommand(delivered(new TextEncoder().encode("not json"), { userId: "mallory" }), trust),
    {
      kind: "refused",
      reason:
        'Refused: published by RabbitMQ user "mallory", not by the command service\'s user "catalog-command"',
    },
  );
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

Deno.test("readCommands() parts messages into commands, unreadable and refused ones, each in order", () => {
  const [first, second, forged] = [toys(), toys(), toys()];
  const bad = delivered(new TextEncoder().encode("not json"));
  const mallory = published(forged!, () => ({ userId: "mallory" }));
  const messages = [published(first!), bad, mallory, published(second!)];
  const readings = readCommands(messages, trust);
  assert.deepEqual(readings.commands.map(({ envelope }) => envelope), [first, second]);
  assert.deepEqual(readings.commands.map(({ message }) => message), [messages[0], messages[3]]);
  assert.deepEqual(readings.unreadable, [
    { message: bad, reason: "Cannot read command: body is not JSON" },
  ]);
  assert.deepEqual(readings.refused.map(({ message, envelope }) => ({ message, envelope })), [
    { message: mallory, envelope: forged },
  ]);
});

Deno.test("acceptedCommandOf() names the command of an accepted copy, and nothing for an unreadable or refused one", () => {
  const envelope = toys();
  assert.deepEqual(acceptedCommandOf(published(envelope), trust), {
    commandId: envelope.commandId,
    type: "CreateCategory",
    aggregateId: envelope.aggregateId,
    acceptedAt: envelope.issuedAt,
  });
  assert.equal(acceptedCommandOf(delivered(new TextEncoder().encode("{}")), trust), undefined);
  assert.equal(
    acceptedCommandOf(published(envelope, () => ({ userId: "mallory" })), trust),
    undefined,
  );
  assert.equal(
    acceptedCommandOf(published(envelope, () => ({ messageId: undefined })), trust),
    undefined,
  );
});
