import assert from "node:assert/strict";
import { ConfigError, parseWorkerConfig } from "./config.ts";

Deno.test("parseWorkerConfig() falls back to the developer defaults", () => {
  assert.deepEqual(parseWorkerConfig({}), {
    writeDatabaseUrl: "postgres://postgres@localhost:5432/catalog_write",
    readDatabaseUrl: "postgres://postgres@localhost:5432/catalog_read",
    amqpUrl: "amqp://guest:guest@localhost:5672",
    commandPublisherUser: "guest",
    prefetch: 32,
    concurrency: 4,
    httpHost: "0.0.0.0",
    httpPort: 9103,
    retention: {
      idempotencyKeysMs: 24 * 3_600_000,
      commandsMs: 168 * 3_600_000,
      changeFeedMs: 3_600_000,
      pruneIntervalMs: 60_000,
    },
  });
});

Deno.test("parseWorkerConfig() reads every variable", () => {
  assert.deepEqual(
    parseWorkerConfig({
      WRITE_DATABASE_URL: "postgresql://app:pw@db1:5433/w",
      READ_DATABASE_URL: "postgres://app:pw@db2/r",
      AMQP_URL: "amqps://user:pw@rabbit:5671/catalog",
      COMMAND_PUBLISHER_USER: "catalog-command",
      WORKER_PREFETCH: "4",
      WORKER_CONCURRENCY: "8",
      WORKER_HTTP_HOST: "127.0.0.2",
      WORKER_HTTP_PORT: "9203",
      IDEMPOTENCY_KEY_RETENTION_HOURS: "48",
      COMMAND_RETENTION_HOURS: "72",
      CHANGE_FEED_RETENTION_MINUTES: "15",
      PRUNE_INTERVAL_SECONDS: "5",
    }),
    {
      writeDatabaseUrl: "postgresql://app:pw@db1:5433/w",
      readDatabaseUrl: "postgres://app:pw@db2/r",
      amqpUrl: "amqps://user:pw@rabbit:5671/catalog",
      commandPublisherUser: "catalog-command",
      prefetch: 4,
      concurrency: 8,
      httpHost: "127.0.0.2",
      httpPort: 9203,
      retention: {
        idempotencyKeysMs: 48 * 3_600_000,
        commandsMs: 72 * 3_600_000,
        changeFeedMs: 15 * 60_000,
        pruneIntervalMs: 5000,
      },
    },
  );
});

Deno.test("parseWorkerConfig() refuses to forget commands before their idempotency keys", () => {
  assert.throws(
    () =>
      parseWorkerConfig({ IDEMPOTENCY_KEY_RETENTION_HOURS: "48", COMMAND_RETENTION_HOURS: "24" }),
    (error) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(
        error.message,
        'Cannot configure the worker: COMMAND_RETENTION_HOURS="24": Must be at least ' +
          "IDEMPOTENCY_KEY_RETENTION_HOURS (48)",
      );
      return true;
    },
  );
});

Deno.test("parseWorkerConfig() treats an empty variable as unset", () => {
  const config = parseWorkerConfig({ WORKER_PREFETCH: "", AMQP_URL: "" });
  assert.equal(config.prefetch, 32);
  assert.equal(config.amqpUrl, "amqp://guest:guest@localhost:5672");
});

Deno.test("parseWorkerConfig() names each bad variable", () => {
  assert.throws(
    () =>
      parseWorkerConfig({
        WRITE_DATABASE_URL: "mysql://localhost/catalog",
        READ_DATABASE_URL: "postgres://localhost",
        AMQP_URL: "http://localhost",
        WORKER_PREFETCH: "lots",
      }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /^Cannot configure the worker: /);
      assert.match(error.message, /WRITE_DATABASE_URL="mysql:\/\/localhost\/catalog": Must be a/);
      assert.match(
        error.message,
        /READ_DATABASE_URL="postgres:\/\/localhost": Must name a database/,
      );
      assert.match(error.message, /AMQP_URL="http:\/\/localhost": Must be an amqp/);
      assert.match(error.message, /WORKER_PREFETCH="lots": Must be a number/);
      return true;
    },
  );
});

Deno.test("parseWorkerConfig() refuses a database URL that is not a URL", () => {
  assert.throws(
    () => parseWorkerConfig({ WRITE_DATABASE_URL: "catalog_write" }),
    /WRITE_DATABASE_URL="catalog_write": Must be a postgres:\/\/ or postgresql:\/\/ URL/,
  );
});

Deno.test("parseWorkerConfig() refuses a prefetch of 0, above 32 or a fraction", () => {
  assert.throws(() => parseWorkerConfig({ WORKER_PREFETCH: "0" }), /Must be from 1 to 32/);
  assert.throws(() => parseWorkerConfig({ WORKER_PREFETCH: "33" }), /Must be from 1 to 32/);
  assert.throws(() => parseWorkerConfig({ WORKER_PREFETCH: "2.5" }), /Must be a whole number/);
});

Deno.test("parseWorkerConfig() expects commands from the user of its own AMQP_URL unless told", () => {
  assert.equal(
    parseWorkerConfig({ AMQP_URL: "amqp://catalog-dev:pw@rabbit/catalog" }).commandPublisherUser,
    "catalog-dev",
  );
  assert.equal(
    parseWorkerConfig({ AMQP_URL: "amqp://rabbit/catalog" }).commandPublisherUser,
    "guest",
  );
  assert.equal(
    parseWorkerConfig({
      AMQP_URL: "amqp://catalog-worker:pw@rabbit/catalog",
      COMMAND_PUBLISHER_USER: " catalog-command ",
    }).commandPublisherUser,
    "catalog-command",
  );
  assert.equal(parseWorkerConfig({ COMMAND_PUBLISHER_USER: "" }).commandPublisherUser, "guest");
});

Deno.test("parseWorkerConfig() refuses a COMMAND_PUBLISHER_USER with control characters", () => {
  assert.throws(
    () => parseWorkerConfig({ COMMAND_PUBLISHER_USER: "catalog\u0000command" }),
    {
      name: "ConfigError",
      message: 'Cannot configure the worker: COMMAND_PUBLISHER_USER="catalog\\u0000command": ' +
        "Must be a RabbitMQ user name, without control characters",
    },
  );
});

Deno.test("parseWorkerConfig() in production needs COMMAND_PUBLISHER_USER, its own user being another", () => {
  const production = {
    CATALOG_ENV: "production",
    AMQP_URL: "amqps://catalog-worker:s3cret@rabbit:5671/catalog",
    WRITE_DATABASE_URL: "postgres://catalog_worker:pw@db:5432/catalog_write",
    READ_DATABASE_URL: "postgres://catalog_worker:pw@db:5432/catalog_read",
  };
  assert.throws(() => parseWorkerConfig(production), {
    name: "ConfigError",
    message: "Cannot start the worker in production mode (CATALOG_ENV=production): " +
      "COMMAND_PUBLISHER_USER is unset: it must name the command service's RabbitMQ user, " +
      "the only one whose commands the worker applies",
  });
  assert.equal(
    parseWorkerConfig({ ...production, COMMAND_PUBLISHER_USER: "catalog-command" })
      .commandPublisherUser,
    "catalog-command",
  );
});

Deno.test("parseWorkerConfig() in production refuses guest and trust-authenticated databases, naming each", () => {
  assert.throws(() => parseWorkerConfig({ CATALOG_ENV: "production" }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /AMQP_URL connects as RabbitMQ's default user "guest"/);
    assert.match(error.message, /WRITE_DATABASE_URL has no password/);
    assert.match(error.message, /READ_DATABASE_URL has no password/);
    assert.match(error.message, /COMMAND_PUBLISHER_USER is unset/);
    return true;
  });
  assert.throws(
    () =>
      parseWorkerConfig({
        CATALOG_ENV: "production",
        AMQP_URL: "amqps://catalog-worker:s3cret@rabbit:5671/catalog",
        COMMAND_PUBLISHER_USER: "catalog-command",
        WRITE_DATABASE_URL: "postgres://postgres:pw@db:5432/catalog_write",
        READ_DATABASE_URL: "postgres://catalog_worker:pw@db:5432/catalog_read",
      }),
    /WRITE_DATABASE_URL connects as the superuser "postgres"/,
  );
});
