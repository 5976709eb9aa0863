import assert from "node:assert/strict";
import { developmentAuth } from "@catalog/runtime/auth";
import { ConfigError, parseCommandConfig } from "./config.ts";

Deno.test("parseCommandConfig() falls back to the developer defaults", () => {
  assert.deepEqual(parseCommandConfig({}), {
    grpcHost: "0.0.0.0",
    grpcPort: 50051,
    httpHost: "0.0.0.0",
    httpPort: 9101,
    amqpUrl: "amqp://guest:guest@localhost:5672",
    publishTimeoutMs: 3000,
    backlogLimit: 10_000,
    auth: developmentAuth,
    production: false,
  });
});

Deno.test("parseCommandConfig() reads every variable", () => {
  assert.deepEqual(
    parseCommandConfig({
      COMMAND_GRPC_HOST: "127.0.0.1",
      COMMAND_GRPC_PORT: "0",
      COMMAND_HTTP_HOST: "127.0.0.2",
      COMMAND_HTTP_PORT: "9201",
      AMQP_URL: "amqps://user:pw@rabbit:5671/catalog",
      PUBLISH_TIMEOUT_MS: "500",
      COMMAND_BACKLOG_LIMIT: "0",
      AUTH_JWT_SECRET: "a secret of at least thirty-two characters",
      AUTH_PUBLIC_READS: "false",
    }),
    {
      grpcHost: "127.0.0.1",
      grpcPort: 0,
      httpHost: "127.0.0.2",
      httpPort: 9201,
      amqpUrl: "amqps://user:pw@rabbit:5671/catalog",
      publishTimeoutMs: 500,
      backlogLimit: 0,
      auth: {
        jwtSecret: "a secret of at least thirty-two characters",
        rolesClaim: "roles",
        publicReads: false,
      },
      production: false,
    },
  );
});

Deno.test("parseCommandConfig() treats an empty variable as unset", () => {
  assert.equal(parseCommandConfig({ COMMAND_GRPC_PORT: "" }).grpcPort, 50051);
});

Deno.test("parseCommandConfig() names each bad variable", () => {
  assert.throws(
    () =>
      parseCommandConfig({
        COMMAND_GRPC_PORT: "70000",
        AMQP_URL: "http://localhost",
        PUBLISH_TIMEOUT_MS: "soon",
      }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /^Cannot configure the command service: /);
      assert.match(error.message, /COMMAND_GRPC_PORT="70000": Must be from 0 to 65535/);
      assert.match(error.message, /AMQP_URL="http:\/\/localhost": Must be an amqp/);
      assert.match(error.message, /PUBLISH_TIMEOUT_MS="soon": Must be a number/);
      return true;
    },
  );
});

Deno.test("parseCommandConfig() in production refuses guest and the development secret, naming each", () => {
  assert.throws(
    () => parseCommandConfig({ CATALOG_ENV: "production" }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /^Cannot start the command service in production mode/);
      assert.match(error.message, /AMQP_URL connects as RabbitMQ's default user "guest"/);
      assert.match(error.message, /AUTH_JWT_SECRET is unset/);
      return true;
    },
  );
  assert.throws(
    () =>
      parseCommandConfig({
        CATALOG_ENV: "production",
        AMQP_URL: "amqps://catalog-command@rabbit:5671/catalog",
        AUTH_JWT_SECRET: "a secret of at least thirty-two characters",
      }),
    /AMQP_URL has no password/,
  );
  const config = parseCommandConfig({
    CATALOG_ENV: "production",
    AMQP_URL: "amqps://catalog-command:s3cret@rabbit:5671/catalog",
    AUTH_JWT_SECRET: "a secret of at least thirty-two characters",
  });
  assert.equal(config.production, true);
});
