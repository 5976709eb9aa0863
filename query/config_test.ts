import assert from "node:assert/strict";
import { developmentAuth } from "@catalog/runtime/auth";
import { ConfigError, parseQueryConfig } from "./config.ts";

Deno.test("parseQueryConfig() falls back to the developer defaults", () => {
  assert.deepEqual(parseQueryConfig({}), {
    grpcHost: "0.0.0.0",
    grpcPort: 50052,
    httpHost: "0.0.0.0",
    httpPort: 9102,
    readDatabaseUrl: "postgres://postgres@localhost:5432/catalog_read",
    maxListItems: 1000,
    statementTimeoutMs: 4000,
    auth: developmentAuth,
    production: false,
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
      MAX_LIST_ITEMS: "250",
      QUERY_STATEMENT_TIMEOUT_MS: "1500",
      AUTH_PUBLIC_READS: "false",
    }),
    {
      grpcHost: "127.0.0.1",
      grpcPort: 0,
      httpHost: "127.0.0.2",
      httpPort: 9202,
      readDatabaseUrl: "postgresql://reader:pw@db:5433/read",
      maxListItems: 250,
      statementTimeoutMs: 1500,
      auth: { ...developmentAuth, publicReads: false },
      production: false,
    },
  );
  assert.equal(parseQueryConfig({ QUERY_GRPC_PORT: "" }).grpcPort, 50052);
  const blank = parseQueryConfig({ MAX_LIST_ITEMS: "", QUERY_STATEMENT_TIMEOUT_MS: "" });
  assert.equal(blank.maxListItems, 1000);
  assert.equal(blank.statementTimeoutMs, 4000);
});

Deno.test("parseQueryConfig() takes the limits at their bounds", () => {
  const low = parseQueryConfig({ MAX_LIST_ITEMS: "1", QUERY_STATEMENT_TIMEOUT_MS: "1" });
  assert.equal(low.maxListItems, 1);
  assert.equal(low.statementTimeoutMs, 1);
  const high = parseQueryConfig({ MAX_LIST_ITEMS: "10000", QUERY_STATEMENT_TIMEOUT_MS: "60000" });
  assert.equal(high.maxListItems, 10_000);
  assert.equal(high.statementTimeoutMs, 60_000);
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

Deno.test("parseQueryConfig() refuses limits that are off, out of range or not whole", () => {
  const cases = [
    [{ MAX_LIST_ITEMS: "0" }, /MAX_LIST_ITEMS="0": Must be from 1 to 10000/],
    [{ MAX_LIST_ITEMS: "10001" }, /MAX_LIST_ITEMS="10001": Must be from 1 to 10000/],
    [{ MAX_LIST_ITEMS: "many" }, /MAX_LIST_ITEMS="many": Must be a number/],
    [
      { QUERY_STATEMENT_TIMEOUT_MS: "0" },
      /QUERY_STATEMENT_TIMEOUT_MS="0": Must be from 1 to 60000/,
    ],
    [
      { QUERY_STATEMENT_TIMEOUT_MS: "60001" },
      /QUERY_STATEMENT_TIMEOUT_MS="60001": Must be from 1 to 60000/,
    ],
    [
      { QUERY_STATEMENT_TIMEOUT_MS: "2.5" },
      /QUERY_STATEMENT_TIMEOUT_MS="2.5": Must be a whole number/,
    ],
  ] as const;
  for (const [env, problem] of cases) {
    assert.throws(
      () => parseQueryConfig(env),
      (error: unknown) => error instanceof ConfigError && problem.test(error.message),
      JSON.stringify(env),
    );
  }
});

Deno.test("parseQueryConfig() in production refuses a trust-authenticated database and the development secret", () => {
  assert.throws(() => parseQueryConfig({ CATALOG_ENV: "production" }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /^Cannot start the query service in production mode/);
    assert.match(error.message, /READ_DATABASE_URL has no password/);
    assert.match(error.message, /AUTH_JWT_SECRET is unset/);
    return true;
  });
});
