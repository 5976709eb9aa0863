import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Channel, ConfirmChannel, Message, MessageProperties, Options } from "amqplib";
import { type CommandEnvelope, encodeCommandMessage, headers, topology } from "@catalog/proto";
import { commandEnvelope } from "../_testing.ts";
import { noConsumerMetrics } from "../metrics.ts";
import { deadLetter, type DeadLetterOptions, failedStatusMessage } from "./dead_letter.ts";

const reference = /\(reference ([0-9a-f-]{36})\)$/;

/** What deadLetter() did with stand-ins for its channels and recorders. */
function standIns() {
  const published: { exchange: string; properties: Options.Publish }[] = [];
  const acked: Message[] = [];
  const failed: { commandId: string; message: string }[] = [];
  const refused: { commandId: string; message: string }[] = [];
  const lines: string[] = [];
  const counted: { type: string | undefined; refused: boolean }[] = [];
  const publishOn = {
    publish(
      exchange: string,
      _routingKey: string,
      _content: Buffer,
      properties: Options.Publish,
      confirm: (error: unknown) => void,
    ) {
      published.push({ exchange, properties });
      confirm(null);
      return true;
    },
  } as unknown as ConfirmChannel;
  const deliveredOn = { ack: (message: Message) => acked.push(message) } as unknown as Channel;
  const options = (reason: string, more: Partial<DeadLetterOptions> = {}): DeadLetterOptions => ({
    reason,
    publishOn,
    deliveredOn,
    abandon: new AbortController().signal,
    context: {
      clock: () => new Date("2025-06-01T10:00:00.000Z"),
      log: (line) => lines.push(line),
      recordFailed(envelope: CommandEnvelope, message: string) {
        failed.push({ commandId: envelope.commandId, message });
        return Promise.resolve();
      },
      recordRefused(envelope: CommandEnvelope, message: string) {
        refused.push({ commandId: envelope.commandId, message });
        return Promise.resolve();
      },
      metrics: {
        ...noConsumerMetrics,
        deadLettered: (type, refused) => counted.push({ type, refused }),
      },
    },
    ...more,
  });
  return { published, acked, failed, refused, lines, counted, options };
}

function delivered(envelope: CommandEnvelope, userId: string): Message {
  const { body, properties } = encodeCommandMessage(envelope, "catalog-command");
  return {
    content: Buffer.from(body),
    fields: {
      deliveryTag: 3,
      redelivered: false,
      exchange: topology.commandsExchange,
      routingKey: envelope.type,
    },
    properties: { ...properties, userId } as unknown as MessageProperties,
  };
}

const toys = () => commandEnvelope("CreateCategory", crypto.randomUUID(), { name: "Toys" });

Deno.test("failedStatusMessage() says only that the command failed or was refused, and the reference", () => {
  const id = "5b0e8d1c-6a57-4a1e-9d55-0e7f3a9b2c41";
  assert.equal(
    failedStatusMessage(id, { refused: false }),
    `Cannot apply the command: it failed in the worker (reference ${id})`,
  );
  assert.equal(
    failedStatusMessage(id, { refused: true }),
    `Cannot apply the command: the worker refused it (reference ${id})`,
  );
});

Deno.test("deadLetter() records a client-safe FAILED message and keeps the reason for the dead letter and the log", async () => {
  const { published, acked, failed, refused, lines, counted, options } = standIns();
  const envelope = toys();
  const message = delivered(envelope, "catalog-command");
  const reason = `Cannot handle CreateCategory ${envelope.commandId}: ` +
    'invalid byte sequence for encoding "UTF8": 0x00 at 10.0.3.7:5432';
  await deadLetter(message, options(reason, { envelope }));

  assert.equal(published.length, 1);
  assert.equal(published[0]!.exchange, topology.deadLetterExchange);
  const sent = published[0]!.properties.headers ?? {};
  assert.equal(sent[headers.deadLetterReason], reason);
  assert.equal(sent[headers.originalUserId], "catalog-command");

  assert.equal(refused.length, 0);
  assert.equal(failed.length, 1);
  assert.equal(failed[0]!.commandId, envelope.commandId);
  const shown = failed[0]!.message;
  assert.match(shown, /^Cannot apply the command: it failed in the worker \(reference /);
  assert.ok(!/UTF8|0x00|10\.0\.3\.7|5432/.test(shown), shown);
  const id = reference.exec(shown)?.[1];
  assert.equal(sent[headers.deadLetterReference], id);
  assert.deepEqual(lines, [`dead-lettered ${envelope.commandId} (reference ${id}): ${reason}`]);
  assert.deepEqual(acked, [message]);
  assert.deepEqual(counted, [{ type: "CreateCategory", refused: false }]);
});

Deno.test("deadLetter() records a refused command with recordRefused, under a reference of its own", async () => {
  const { failed, refused, published, counted, options } = standIns();
  const envelope = toys();
  const reason =
    'Refused: published by RabbitMQ user "mallory", not by the command service\'s user "catalog-command"';
  await deadLetter(delivered(envelope, "mallory"), options(reason, { envelope, refused: true }));
  await deadLetter(delivered(envelope, "mallory"), options(reason, { envelope, refused: true }));

  assert.equal(failed.length, 0);
  assert.equal(refused.length, 2);
  assert.match(
    refused[0]!.message,
    /^Cannot apply the command: the worker refused it \(reference /,
  );
  assert.ok(!refused[0]!.message.includes("mallory"));
  const [first, second] = refused.map(({ message }) => reference.exec(message)?.[1]);
  assert.notEqual(first, second, "every dead letter has its own reference");
  assert.equal(published[0]!.properties.headers?.[headers.originalUserId], "mallory");
  assert.deepEqual(counted, [
    { type: "CreateCategory", refused: true },
    { type: "CreateCategory", refused: true },
  ]);
});

Deno.test("deadLetter() records nothing for a message that is no command", async () => {
  const { failed, refused, acked, lines, counted, options } = standIns();
  const message = delivered(toys(), "catalog-command");
  assert.equal(await deadLetter(message, options("Cannot read command: body is not JSON")), true);
  assert.deepEqual([failed.length, refused.length, acked.length], [0, 0, 1]);
  assert.deepEqual(counted, [{ type: undefined, refused: false }]);
  assert.match(lines[0]!, /: Cannot read command: body is not JSON$/);
});
