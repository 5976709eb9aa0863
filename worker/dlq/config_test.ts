import assert from "node:assert/strict";
import { parseDeadLetterConfig } from "./config.ts";

Deno.test("parseDeadLetterConfig() reads AMQP_URL as the worker does", () => {
  assert.deepEqual(parseDeadLetterConfig({}), {
    amqpUrl: "amqp://guest:guest@localhost:5672",
    commandPublisherUser: "guest",
  });
  assert.deepEqual(parseDeadLetterConfig({ AMQP_URL: "amqps://u:p@rabbit:5671/catalog" }), {
    amqpUrl: "amqps://u:p@rabbit:5671/catalog",
    commandPublisherUser: "u",
  });
  assert.throws(
    () => parseDeadLetterConfig({ AMQP_URL: "http://rabbit" }),
    {
      name: "ConfigError",
      message: 'Cannot configure the dead-letter tools: AMQP_URL="http://rabbit": ' +
        "Must be an amqp:// or amqps:// URL",
    },
  );
});

Deno.test("parseDeadLetterConfig() reads COMMAND_PUBLISHER_USER as the worker does", () => {
  assert.deepEqual(
    parseDeadLetterConfig({
      AMQP_URL: "amqps://catalog-dlq:pw@rabbit:5671/catalog",
      COMMAND_PUBLISHER_USER: "catalog-command",
    }),
    {
      amqpUrl: "amqps://catalog-dlq:pw@rabbit:5671/catalog",
      commandPublisherUser: "catalog-command",
    },
  );
  assert.throws(
    () => parseDeadLetterConfig({ COMMAND_PUBLISHER_USER: "a\u0007b" }),
    /COMMAND_PUBLISHER_USER=.*: Must be a RabbitMQ user name, without control characters/,
  );
});
