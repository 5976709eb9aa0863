import assert from "node:assert/strict";
import { ConfigError, parseQueryConfig } from "./config.ts";

Deno.test("parseQueryConfig() falls back to the developer defaults", () => {
  assert.deepEqual(parseQueryConfig({}), {
    grpcHost: "0.0.0.0",
    grpcPort: 50052,
    httpHost: "0.0.0.0",
    httpPort: 9102,
    readDatabaseUrl: "postgres://postgres@localhost:5432/catalog_read",
  });
});

Deno.test("parseQueryConfig() reads every variable and treats empty ones as unset", () => {
  assert.deepEqual(
    parseQueryConfig({
      QUERY_GRPC_HOST: "127.0.0.1",
      QUERY_GRPC_PORT: "0",
      QUERY_HTTP_HOST: "127.0.0.2",
      QUERY_HTTP_PORT: "9202",
      READ_DATABASE_URL: "postgresql://reader:pw@db:5433/read",
    }),
    {
      grpcHost: "127.0.0.1",
      grpcPort: 0,
      httpHost: "127.0.0.2",
      httpPort: 9202,
      readDatabaseUrl: "postgresql://reader:pw@db:5433/read",
    },
  );
  assert.equal(parseQueryConfig({ QUERY_GRPC_PORT: "" }).grpcPort, 50052);
});

Deno.test("parseQueryConfig() names each bad variable", () => {
  assert.throws(
    () => parseQueryConfig({ QUERY_GRPC_PORT: "-1", READ_DATABASE_URL: "mysql://db/read" }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /^Cannot configure the query service: /);
      assert.match(error.message, /QUERY_GRPC_PORT="-1": Must be from 0 to 65535/);
      assert.match(error.message, /READ_DATABASE_URL="mysql:\/\/db\/read": Must be a postgres/);
      return true;
    },
  );
});
