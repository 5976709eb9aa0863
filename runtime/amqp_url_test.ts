import assert from "node:assert/strict";
import { withHeartbeat } from "./amqp_url.ts";

Deno.test("withHeartbeat() asks for heartbeats unless the URL chooses its own", () => {
  assert.equal(
    withHeartbeat("amqp://guest:guest@localhost:5672", 5),
    "amqp://guest:guest@localhost:5672?heartbeat=5",
  );
  assert.equal(
    withHeartbeat("amqp://guest:guest@localhost:5672/catalog?heartbeat=30", 5),
    "amqp://guest:guest@localhost:5672/catalog?heartbeat=30",
  );
  assert.equal(
    withHeartbeat("amqp://guest:guest@localhost:5672/%2F", 10),
    "amqp://guest:guest@localhost:5672/%2F?heartbeat=10",
  );
});
