import assert from "node:assert/strict";
import { ConfigError, defaultConfig, parseConfig } from "./config.ts";

Deno.test("parseConfig() takes the defaults when nothing is set", () => {
  assert.deepEqual(parseConfig({}), {
    port: 4000,
    host: "0.0.0.0",
    commandServiceAddress: "localhost:50051",
    queryServiceAddress: "localhost:50052",
    grpcDeadlineMs: 5000,
    grpcConnectWaitMs: 2000,
    commandWaitTimeoutMs: 5000,
  });
  assert.deepEqual(parseConfig({}), defaultConfig);
});

Deno.test("parseConfig() reads every variable and ignores unrelated ones", () => {
  assert.deepEqual(
    parseConfig({
      GATEWAY_PORT: "8080",
      GATEWAY_HOST: "127.0.0.1",
      COMMAND_SERVICE_ADDRESS: "command:6000",
      QUERY_SERVICE_ADDRESS: "[::1]:6001",
      GRPC_DEADLINE_MS: "250",
      GRPC_CONNECT_WAIT_MS: "0",
      COMMAND_WAIT_TIMEOUT_MS: "0",
      PATH: "/usr/bin",
    }),
    {
      port: 8080,
      host: "127.0.0.1",
      commandServiceAddress: "command:6000",
      queryServiceAddress: "[::1]:6001",
      grpcDeadlineMs: 250,
      grpcConnectWaitMs: 0,
      commandWaitTimeoutMs: 0,
    },
  );
});

Deno.test("parseConfig() counts an empty variable as unset", () => {
  assert.equal(parseConfig({ GATEWAY_PORT: "", GRPC_DEADLINE_MS: "  " }).port, 4000);
});

Deno.test("parseConfig() names every variable with an unusable value", () => {
  assert.throws(
    () =>
      parseConfig({
        GATEWAY_PORT: "http",
        GRPC_DEADLINE_MS: "0",
        QUERY_SERVICE_ADDRESS: "localhost",
      }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /^Cannot configure the gateway: /);
      assert.match(error.message, /GATEWAY_PORT="http": Must be a number/);
      assert.match(error.message, /GRPC_DEADLINE_MS="0": Must be from 1 to 600000/);
      assert.match(error.message, /QUERY_SERVICE_ADDRESS="localhost": Must be host:port/);
      return true;
    },
  );
});
