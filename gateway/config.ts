import {
  addressVar,
  type AuthConfig,
  booleanVar,
  catalogEnvOf,
  hostVar,
  integerVar,
  optionalBooleanVar,
  optionalTextVar,
  parseAuthConfig,
  parseEnv,
  portVar,
  refuseDevelopmentDefaults,
  unsetIfEmpty,
} from "@catalog/runtime";
import { z } from "zod";
import type { AdmissionLimits } from "./admission.ts";
import type { OperationLimits } from "./limits.ts";

export { ConfigError } from "@catalog/runtime";

/**
 * The gateway's configuration, read from environment variables:
 *
 * | Variable | Default | Meaning |
 * | --- | --- | --- |
 * | `GATEWAY_PORT` | `4000` | HTTP port of `/graphql`, `/health` and `/ready` (0 picks a free one) |
 * | `GATEWAY_HOST` | `0.0.0.0` | Interface the HTTP server listens on |
 * | `COMMAND_SERVICE_ADDRESS` | `localhost:50051` | host:port of the command gRPC service |
 * | `QUERY_SERVICE_ADDRESS` | `localhost:50052` | host:port of the query gRPC service |
 * | `GRPC_DEADLINE_MS` | `5000` | Deadline of each gRPC call, in milliseconds |
 * | `GRPC_CONNECT_WAIT_MS` | `2000` | How long a call may wait, within its deadline, for a backend that is restarting (no connection, or a stopping one that refused it); 0 fails at once |
 * | `COMMAND_WAIT_TIMEOUT_MS` | `5000` | How long a mutation waits for its command's effects to become readable (read-your-writes) before answering `COMMAND_PENDING` |
 * | `CATALOG_ENV` | `development` | `production` refuses default credentials and turns GraphiQL, introspection and field suggestions off |
 * | `CORS_ORIGINS` | unset | Comma-separated origins other web pages may call from (`https://app.example.com`); unset: the gateway's own origin only |
 * | `GRAPHQL_MAX_BODY_BYTES` | `65536` | Largest request body |
 * | `GRAPHQL_MAX_DEPTH`, `_ALIASES`, `_TOKENS`, `_DIRECTIVES`, `_COST` | `8`, `30`, `2000`, `20`, `5000` | Operation limits (see docs/api.md) |
 * | `ADMISSION_MUTATIONS`, `ADMISSION_READS` | `24`, `128` | Mutations and queries that may be in progress at once; past that they are refused at once with `OVERLOADED` (HTTP 503) |
 * | `ADMISSION_RETRY_AFTER_S` | `1` | The `Retry-After` of that refusal, in seconds |
 * | `GRAPHQL_DOCUMENT_CACHE_SIZE` | `1024` | Documents kept parsed, validated and (from their second run) compiled, least recently used first out |
 * | `GRAPHIQL` | `true` (`false` in production) | Serve GraphiQL to browsers |
 * | `GRAPHQL_INTROSPECTION` | `true` (`false` in production) | Answer introspection queries |
 * | `GRAPHQL_FIELD_SUGGESTIONS` | `true` (`false` in production) | "Did you mean …?" in errors |
 * | `SUBSCRIPTIONS_PER_CLIENT` | `20` | Open subscriptions of one identity (or one IP address when anonymous) |
 * | `SUBSCRIPTIONS_MAX` | `2000` | Open subscriptions of the whole gateway |
 * | `RATE_LIMIT_PER_MINUTE` | `1200` | Requests per minute of one identity (or one IP address when anonymous); 0 turns the limit off |
 * | `GATEWAY_QUERY_TOKEN` | unset | With `AUTH_PUBLIC_READS=false`: the catalog:read token of the gateway's own change-feed stream (needed with a JWKS; with a secret the gateway signs its own) |
 * | `PERSISTED_OPERATIONS_FILE` | unset | JSON object of sha256 hash → operation, which clients may send by hash |
 * | `PERSISTED_OPERATIONS_REQUIRED` | `false` | Refuse every operation that is not sent by a known hash |
 *
 * and the tokens' `AUTH_*` variables (runtime/auth.ts).
 */
export interface GatewayConfig {
  port: number;
  host: string;
  commandServiceAddress: string;
  queryServiceAddress: string;
  grpcDeadlineMs: number;
  grpcConnectWaitMs: number;
  commandWaitTimeoutMs: number;
  production: boolean;
  auth: AuthConfig;
  corsOrigins: string[];
  maxBodyBytes: number;
  limits: OperationLimits;
  /** Operations in progress at once (see gateway/admission.ts). */
  admission: AdmissionLimits;
  /** Documents kept parsed, validated and compiled (see gateway/documents.ts). */
  documentCacheSize: number;
  graphiql: boolean;
  introspection: boolean;
  rateLimitPerMinute: number;
  subscriptionsPerClient: number;
  subscriptionsMax: number;
  /** The token of the gateway's own change-feed stream, when reads are not public. */
  queryServiceToken?: string;
  persistedOperationsFile?: string;
  persistedOperationsRequired: boolean;
}

const originsVar = z.preprocess(
  unsetIfEmpty,
  z.string().optional().transform((value, context) => {
    const origins = (value ?? "").split(",").map((origin) => origin.trim()).filter(Boolean);
    for (const origin of origins) {
      if (!URL.canParse(origin) || new URL(origin).origin !== origin) {
        context.addIssue({
          code: "custom",
          message:
            `Must be origins like https://app.example.com (scheme, host and port only), not ${
              JSON.stringify(origin)
            }`,
        });
      }
    }
    return origins;
  }),
);

/** The configuration with every variable unset. */
export const defaultConfig: Readonly<GatewayConfig> = Object.freeze({
  port: 4000,
  host: "0.0.0.0",
  commandServiceAddress: "localhost:50051",
  queryServiceAddress: "localhost:50052",
  grpcDeadlineMs: 5000,
  grpcConnectWaitMs: 2000,
  commandWaitTimeoutMs: 5000,
  production: false,
  auth: parseAuthConfig("gateway", {}),
  corsOrigins: [],
  maxBodyBytes: 65_536,
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
});

const { limits } = defaultConfig;
const variables = {
  GATEWAY_PORT: portVar(defaultConfig.port),
  GATEWAY_HOST: hostVar(defaultConfig.host),
  COMMAND_SERVICE_ADDRESS: addressVar(defaultConfig.commandServiceAddress),
  QUERY_SERVICE_ADDRESS: addressVar(defaultConfig.queryServiceAddress),
  GRPC_DEADLINE_MS: integerVar(defaultConfig.grpcDeadlineMs, { min: 1, max: 600_000 }),
  GRPC_CONNECT_WAIT_MS: integerVar(defaultConfig.grpcConnectWaitMs, { min: 0, max: 600_000 }),
  COMMAND_WAIT_TIMEOUT_MS: integerVar(defaultConfig.commandWaitTimeoutMs, { min: 0, max: 600_000 }),
  CORS_ORIGINS: originsVar,
  GRAPHQL_MAX_BODY_BYTES: integerVar(defaultConfig.maxBodyBytes, { min: 1024, max: 10_485_760 }),
  GRAPHQL_MAX_DEPTH: integerVar(limits.maxDepth, { min: 1, max: 100 }),
  GRAPHQL_MAX_ALIASES: integerVar(limits.maxAliases, { min: 0, max: 10_000 }),
  GRAPHQL_MAX_TOKENS: integerVar(limits.maxTokens, { min: 10, max: 1_000_000 }),
  GRAPHQL_MAX_DIRECTIVES: integerVar(limits.maxDirectives, { min: 0, max: 10_000 }),
  GRAPHQL_MAX_COST: integerVar(limits.maxCost, { min: 1, max: 100_000_000 }),
  ADMISSION_MUTATIONS: integerVar(defaultConfig.admission.mutations, { min: 1, max: 1_000_000 }),
  ADMISSION_READS: integerVar(defaultConfig.admission.reads, { min: 1, max: 1_000_000 }),
  ADMISSION_RETRY_AFTER_S: integerVar(defaultConfig.admission.retryAfterSeconds, {
    min: 1,
    max: 3600,
  }),
  GRAPHQL_DOCUMENT_CACHE_SIZE: integerVar(defaultConfig.documentCacheSize, {
    min: 1,
    max: 1_000_000,
  }),
  GRAPHIQL: optionalBooleanVar(),
  GRAPHQL_INTROSPECTION: optionalBooleanVar(),
  GRAPHQL_FIELD_SUGGESTIONS: optionalBooleanVar(),
  RATE_LIMIT_PER_MINUTE: integerVar(defaultConfig.rateLimitPerMinute, { min: 0, max: 10_000_000 }),
  SUBSCRIPTIONS_PER_CLIENT: integerVar(defaultConfig.subscriptionsPerClient, {
    min: 1,
    max: 1_000_000,
  }),
  SUBSCRIPTIONS_MAX: integerVar(defaultConfig.subscriptionsMax, { min: 1, max: 10_000_000 }),
  GATEWAY_QUERY_TOKEN: optionalTextVar(),
  PERSISTED_OPERATIONS_FILE: optionalTextVar(),
  PERSISTED_OPERATIONS_REQUIRED: booleanVar(false),
};

/**
 * Reads the gateway's configuration from an environment record such as
 * `Deno.env.toObject()`; unset variables take their defaults and unrelated
 * ones are ignored. An empty variable counts as unset.
 *
 * @throws {ConfigError} naming every variable that is set to an unusable
 *   value, and in production mode every default credential.
 */
export function parseConfig(env: Record<string, string | undefined>): GatewayConfig {
  const parsed = parseEnv("gateway", variables, env);
  const auth = parseAuthConfig("gateway", env);
  const production = catalogEnvOf(env) === "production";
  refuseDevelopmentDefaults("gateway", env, [
    { kind: "jwt", secret: auth.jwtSecret, jwksUrl: auth.jwksUrl },
    {
      kind: "set",
      variable: "CORS_ORIGINS",
      value: env.CORS_ORIGINS,
      why: "name the origins of the web applications that call the gateway",
    },
  ]);
  const persistedOperationsRequired = parsed.PERSISTED_OPERATIONS_REQUIRED;
  if (persistedOperationsRequired && !parsed.PERSISTED_OPERATIONS_FILE) {
    parseEnv("gateway", {
      PERSISTED_OPERATIONS_FILE: z.string({
        error: "Must name the operations file when PERSISTED_OPERATIONS_REQUIRED=true",
      }),
    }, env);
  }
  if (!auth.publicReads && auth.jwksUrl && !parsed.GATEWAY_QUERY_TOKEN) {
    parseEnv("gateway", {
      GATEWAY_QUERY_TOKEN: z.string({
        error:
          "Must be a catalog:read token of the identity provider when AUTH_PUBLIC_READS=false and AUTH_JWKS_URL is set (subscriptions read the change feed with it)",
      }),
    }, env);
  }
  const developmentOnly = (flag: boolean | undefined) => flag ?? !production;
  return {
    port: parsed.GATEWAY_PORT,
    host: parsed.GATEWAY_HOST,
    commandServiceAddress: parsed.COMMAND_SERVICE_ADDRESS,
    queryServiceAddress: parsed.QUERY_SERVICE_ADDRESS,
    grpcDeadlineMs: parsed.GRPC_DEADLINE_MS,
    grpcConnectWaitMs: parsed.GRPC_CONNECT_WAIT_MS,
    commandWaitTimeoutMs: parsed.COMMAND_WAIT_TIMEOUT_MS,
    production,
    auth,
    corsOrigins: parsed.CORS_ORIGINS,
    maxBodyBytes: parsed.GRAPHQL_MAX_BODY_BYTES,
    limits: {
      maxDepth: parsed.GRAPHQL_MAX_DEPTH,
      maxAliases: parsed.GRAPHQL_MAX_ALIASES,
      maxTokens: parsed.GRAPHQL_MAX_TOKENS,
      maxDirectives: parsed.GRAPHQL_MAX_DIRECTIVES,
      maxCost: parsed.GRAPHQL_MAX_COST,
      fieldSuggestions: developmentOnly(parsed.GRAPHQL_FIELD_SUGGESTIONS),
    },
    admission: {
      mutations: parsed.ADMISSION_MUTATIONS,
      reads: parsed.ADMISSION_READS,
      retryAfterSeconds: parsed.ADMISSION_RETRY_AFTER_S,
    },
    documentCacheSize: parsed.GRAPHQL_DOCUMENT_CACHE_SIZE,
    graphiql: developmentOnly(parsed.GRAPHIQL),
    introspection: developmentOnly(parsed.GRAPHQL_INTROSPECTION),
    rateLimitPerMinute: parsed.RATE_LIMIT_PER_MINUTE,
    subscriptionsPerClient: parsed.SUBSCRIPTIONS_PER_CLIENT,
    subscriptionsMax: parsed.SUBSCRIPTIONS_MAX,
    ...(parsed.GATEWAY_QUERY_TOKEN ? { queryServiceToken: parsed.GATEWAY_QUERY_TOKEN } : {}),
    ...(parsed.PERSISTED_OPERATIONS_FILE
      ? { persistedOperationsFile: parsed.PERSISTED_OPERATIONS_FILE }
      : {}),
    persistedOperationsRequired,
  };
}
