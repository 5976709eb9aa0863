import assert from "node:assert/strict";
import { logRecord, parseLogConfig, withLogFields } from "./log.ts";

Deno.test("parseLogConfig() defaults to info, as text in development and as JSON in production", () => {
  assert.deepEqual(parseLogConfig({}), { level: "info", format: "text" });
  assert.deepEqual(parseLogConfig({ CATALOG_ENV: "production" }), {
    level: "info",
    format: "json",
  });
  assert.deepEqual(parseLogConfig({ LOG_LEVEL: "WARN", LOG_FORMAT: "json" }), {
    level: "warn",
    format: "json",
  });
  assert.deepEqual(parseLogConfig({ LOG_LEVEL: " ", LOG_FORMAT: "" }), {
    level: "info",
    format: "text",
  });
});

Deno.test("parseLogConfig() names each bad variable", () => {
  assert.throws(
    () => parseLogConfig({ LOG_LEVEL: "loud", LOG_FORMAT: "xml" }),
    {
      name: "ConfigError",
      message: "Cannot configure logging: LOG_LEVEL must be one of debug, info, warn, error, not " +
        '"loud"; LOG_FORMAT must be text or json, not "xml"',
    },
  );
});

Deno.test("logRecord() stamps the line, raises a Cannot line to a warning, and names the command in hand", () => {
  const at = new Date("2026-12-03T10:00:00.000Z");
  assert.deepEqual(logRecord("worker", "info", "applied CreateCategory 1f…", at), {
    time: "2026-12-03T10:00:00.000Z",
    level: "info",
    service: "worker",
    message: "applied CreateCategory 1f…",
  });
  assert.equal(logRecord("worker", "info", "cannot project after 2 commands", at).level, "warn");
  assert.equal(logRecord("worker", "error", "Cannot start the worker", at).level, "error");
  const id = "0b6f5c6e-3f1a-4d7e-9a51-2c0d3e4f5a6b";
  const about = withLogFields({ commandId: id }, () => logRecord("worker", "info", "x", at));
  assert.equal(about.command_id, id);
  assert.equal(logRecord("worker", "info", "x", at).command_id, undefined);
});
