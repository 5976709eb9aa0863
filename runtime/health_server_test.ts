import assert from "node:assert/strict";
import { type ReadinessCheck, readinessResponse, serveHealth } from "./health_server.ts";

const now = () => new Date("2026-12-03T08:00:00.000Z");
const identity = { service: "query", version: "0.1.0", now };

Deno.test("readinessResponse() answers 200 with every check when all are ready", async () => {
  const response = readinessResponse(identity, {
    readDatabase: { ready: true, status: "up", label: "the read database" },
  });
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), {
    status: "ready",
    service: "query",
    version: "0.1.0",
    timestamp: "2026-12-03T08:00:00.000Z",
    checks: { readDatabase: { status: "up" } },
  });
});

Deno.test("readinessResponse() answers 503 naming each check that is not ready and why", async () => {
  const response = readinessResponse(identity, {
    rabbitmq: { ready: false, status: "blocked", detail: "low on memory", label: "RabbitMQ" },
    readDatabase: { ready: true, status: "up", label: "the read database" },
    partitions: { ready: false, status: "0 of 8", label: "the partitions held" },
  });
  assert.equal(response.status, 503);
  const body = await response.json();
  assert.equal(body.status, "not_ready");
  assert.deepEqual(body.notReady, ["rabbitmq", "partitions"]);
  assert.equal(
    body.message,
    "Not ready: RabbitMQ is blocked (low on memory), the partitions held is 0 of 8",
  );
  assert.deepEqual(body.checks.rabbitmq, { status: "blocked", detail: "low on memory" });
});

Deno.test("serveHealth() serves /health and /ready over HTTP, asking the checks each time", async () => {
  let check: ReadinessCheck = { ready: true, status: "up", label: "the read database" };
  const server = serveHealth({
    ...identity,
    host: "127.0.0.1",
    port: 0,
    checks: () => ({ readDatabase: check }),
  });
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const health = await fetch(`${base}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), {
      status: "healthy",
      service: "query",
      version: "0.1.0",
      timestamp: "2026-12-03T08:00:00.000Z",
    });
    const ready = await fetch(`${base}/ready`);
    assert.equal(ready.status, 200);
    await ready.body?.cancel();
    check = { ready: false, status: "down", label: "the read database" };
    const notReady = await fetch(`${base}/ready`);
    assert.equal(notReady.status, 503);
    assert.equal((await notReady.json()).message, "Not ready: the read database is down");
    const missing = await fetch(`${base}/metrics`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    const posted = await fetch(`${base}/ready`, { method: "POST" });
    assert.equal(posted.status, 405);
    await posted.body?.cancel();
  } finally {
    await server.close();
  }
});

Deno.test("serveHealth() names the address and the variable when the port is taken", async () => {
  const first = serveHealth({ ...identity, host: "127.0.0.1", port: 0, checks: () => ({}) });
  try {
    assert.throws(
      () =>
        serveHealth({
          ...identity,
          host: "127.0.0.1",
          port: first.port,
          portVariable: "QUERY_HTTP_PORT",
          checks: () => ({}),
        }),
      new RegExp(
        `^Error: Cannot serve health on 127\\.0\\.0\\.1:${first.port}: the address is already in use \\(QUERY_HTTP_PORT picks another port\\)$`,
      ),
    );
  } finally {
    await first.close();
  }
});
