import assert from "node:assert/strict";
import { parseDeadLetterConfig } from "./config.ts";

Deno.test("parseDeadLetterConfig() reads AMQP_URL as the worker does", () => {
  assert.deepEqual(parseDeadLetterConfig({}), { amqpUrl: "amqp://guest:guest@localhost:5672" });
  assert.deepEqual(parseDeadLetterConfig({ AMQP_URL: "amqps://u:p@rabbit:5671/catalog" }), {
    amqpUrl: "amqps://u:p@rabbit:5671/catalog",
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
