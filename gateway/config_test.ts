import assert from "node:assert/strict";
import { DEVELOPMENT_JWT_SECRET } from "@catalog/runtime/auth";
import { ConfigError, defaultConfig, parseConfig } from "./config.ts";

const development = {
  production: false,
  auth: {
    jwtSecret: DEVELOPMENT_JWT_SECRET,
    rolesClaim: "roles",
    publicReads: true,
  },
  corsOrigins: [],
  maxBodyBytes: 65536,
  limits: {
    maxDepth: 8,
    maxAliases: 30,
    maxTokens: 2000,
    maxDirectives: 20,
    maxCost: 5000,
    fieldSuggestions: true,
  },
  admission: { mutations: 24, reads: 128, retryAfterSeconds: 1 },
  documentCacheSize: 1024,
  graphiql: true,
  introspection: true,
  rateLimitPerMinute: 1200,
  subscriptionsPerClient: 20,
  subscriptionsMax: 2000,
  persistedOperationsRequired: false,
};

Deno.test("parseConfig() takes the defaults when nothing is set", () => {
  assert.deepEqual(parseConfig({}), {
    port: 4000,
    host: "0.0.0.0",
    commandServiceAddress: "localhost:50051",
    queryServiceAddress: "localhost:50052",
    grpcDeadlineMs: 5000,
    grpcConnectWaitMs: 2000,
    commandWaitTimeoutMs: 5000,
    ...development,
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
      ...development,
    },
  );
});

Deno.test("parseConfig() reads the edge's limits, origins, rate limit and persisted operations", () => {
  const config = parseConfig({
    CORS_ORIGINS: "https://app.example.com, http://localhost:5173",
    GRAPHQL_MAX_BODY_BYTES: "4096",
    GRAPHQL_MAX_DEPTH: "5",
    GRAPHQL_MAX_ALIASES: "3",
    GRAPHQL_MAX_TOKENS: "100",
    GRAPHQL_MAX_DIRECTIVES: "2",
    GRAPHQL_MAX_COST: "50",
    GRAPHQL_FIELD_SUGGESTIONS: "false",
    GRAPHQL_DOCUMENT_CACHE_SIZE: "16",
    GRAPHIQL: "false",
    RATE_LIMIT_PER_MINUTE: "0",
    PERSISTED_OPERATIONS_FILE: "ops.json",
    PERSISTED_OPERATIONS_REQUIRED: "true",
    AUTH_PUBLIC_READS: "false",
  });
  assert.deepEqual(config.corsOrigins, ["https://app.example.com", "http://localhost:5173"]);
  assert.equal(config.maxBodyBytes, 4096);
  assert.deepEqual(config.limits, {
    maxDepth: 5,
    maxAliases: 3,
    maxTokens: 100,
    maxDirectives: 2,
    maxCost: 50,
    fieldSuggestions: false,
  });
  assert.equal(config.documentCacheSize, 16);
  assert.equal(config.graphiql, false);
  assert.equal(config.introspection, true);
  assert.equal(config.rateLimitPerMinute, 0);
  assert.equal(config.persistedOperationsFile, "ops.json");
  assert.equal(config.persistedOperationsRequired, true);
  assert.equal(config.auth.publicReads, false);
});

Deno.test("parseConfig() refuses an origin with a path and required operations without a file", () => {
  assert.throws(
    () => parseConfig({ CORS_ORIGINS: "https://app.example.com/graphql" }),
    /CORS_ORIGINS="https:\/\/app.example.com\/graphql": Must be origins like/,
  );
  assert.throws(
    () => parseConfig({ PERSISTED_OPERATIONS_REQUIRED: "true" }),
    /PERSISTED_OPERATIONS_FILE="": Must name the operations file/,
  );
});

Deno.test("parseConfig() in production refuses the development secret and an unset CORS list, naming each", () => {
  assert.throws(
    () => parseConfig({ CATALOG_ENV: "production" }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /^Cannot start the gateway in production mode/);
      assert.match(error.message, /AUTH_JWT_SECRET is unset/);
      assert.match(error.message, /CORS_ORIGINS is unset/);
      return true;
    },
  );
  const config = parseConfig({
    CATALOG_ENV: "production",
    AUTH_JWKS_URL: "https://id.example.com/.well-known/jwks.json",
    AUTH_ISSUER: "https://id.example.com/",
    AUTH_AUDIENCE: "catalog",
    CORS_ORIGINS: "https://app.example.com",
  });
  // Production turns the development conveniences off unless asked for.
  assert.equal(config.production, true);
  assert.equal(config.graphiql, false);
  assert.equal(config.introspection, false);
  assert.equal(config.limits.fieldSuggestions, false);
  assert.equal(config.auth.jwksUrl, "https://id.example.com/.well-known/jwks.json");
  assert.throws(
    () => parseConfig({ AUTH_JWKS_URL: "https://id.example.com/jwks.json" }),
    /AUTH_ISSUER="": Must be set with AUTH_JWKS_URL; AUTH_AUDIENCE="": Must be set with AUTH_JWKS_URL/,
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
