import {
  type AuthConfig,
  catalogEnvOf,
  hostVar,
  integerVar,
  parseAuthConfig,
  parseEnv,
  portVar,
  postgresUrlVar,
  refuseDevelopmentDefaults,
  sharedDefaults,
} from "@catalog/runtime";

export { ConfigError } from "@catalog/runtime";

/**
 * The query service's settings. Every variable it reads:
 *
 * | Variable                     | Default                                           | Meaning                                      |
 * | ---------------------------- | ------------------------------------------------- | -------------------------------------------- |
 * | `QUERY_GRPC_HOST`            | `0.0.0.0`                                         | Address the gRPC server listens on           |
 * | `QUERY_GRPC_PORT`            | `50052`                                           | Port of the gRPC server (0 picks a free one) |
 * | `QUERY_HTTP_HOST`            | `0.0.0.0`                                         | Address of the HTTP `/health` and `/ready` port |
 * | `QUERY_HTTP_PORT`            | `9102`                                            | Port of `/health` and `/ready` (0 picks a free one) |
 * | `READ_DATABASE_URL`          | `postgres://postgres@localhost:5432/catalog_read` | The read database (postgres: or postgresql:) |
 * | `MAX_LIST_ITEMS`             | `1000`                                            | Most rows an unpaged list answers (1 to 10000); a longer one is refused with FAILED_PRECONDITION |
 * | `QUERY_STATEMENT_TIMEOUT_MS` | `4000`                                            | PostgreSQL's statement_timeout of every read (1 to 60000); keep it below the callers' deadline (the gateway's GRPC_DEADLINE_MS, 5000) |
 * | `CATALOG_ENV`                | `development`                                     | `production` refuses default credentials and serves reflection only to catalog:admin |
 *
 * and the tokens' `AUTH_*` variables (runtime/auth.ts): with
 * `AUTH_PUBLIC_READS=false` every call needs a catalog:read token. An empty
 * variable counts as unset.
 */
export interface QueryConfig {
  grpcHost: string;
  grpcPort: number;
  httpHost: string;
  httpPort: number;
  readDatabaseUrl: string;
  /** Most rows an unpaged list (ListProducts, ListCategories without a page) answers. */
  maxListItems: number;
  /** How long one SQL statement may run before PostgreSQL cancels it, in ms. */
  statementTimeoutMs: number;
  auth: AuthConfig;
  /** CATALOG_ENV=production. */
  production: boolean;
}

/** Defaults of the limits, for callers that start the service without a parsed configuration. */
export const queryLimitDefaults = {
  maxListItems: 1000,
  // Below the gateway's default deadline (GRPC_DEADLINE_MS, 5000 ms), so that a
  // statement nobody waits for any more has already been stopped.
  statementTimeoutMs: 4000,
} as const;

const variables = {
  QUERY_GRPC_HOST: hostVar(),
  QUERY_GRPC_PORT: portVar(50052),
  QUERY_HTTP_HOST: hostVar(),
  QUERY_HTTP_PORT: portVar(9102),
  READ_DATABASE_URL: postgresUrlVar(sharedDefaults.readDatabaseUrl),
  // 10,000 products of long names are already several MB, gRPC's default
  // largest message (4 MB): past that the caller could not receive the list.
  MAX_LIST_ITEMS: integerVar(queryLimitDefaults.maxListItems, { min: 1, max: 10_000 }),
  QUERY_STATEMENT_TIMEOUT_MS: integerVar(queryLimitDefaults.statementTimeoutMs, {
    min: 1,
    max: 60_000,
  }),
};

/**
 * Reads the query service's settings from an environment such as `Deno.env.toObject()`.
 *
 * @throws {ConfigError} naming every variable that is set to an unusable value.
 */
export function parseQueryConfig(env: Record<string, string | undefined>): QueryConfig {
  const data = parseEnv("query service", variables, env);
  const auth = parseAuthConfig("query service", env);
  refuseDevelopmentDefaults("query service", env, [
    { kind: "postgres", variable: "READ_DATABASE_URL", url: data.READ_DATABASE_URL },
    { kind: "jwt", secret: auth.jwtSecret, jwksUrl: auth.jwksUrl },
  ]);
  return {
    grpcHost: data.QUERY_GRPC_HOST,
    grpcPort: data.QUERY_GRPC_PORT,
    httpHost: data.QUERY_HTTP_HOST,
    httpPort: data.QUERY_HTTP_PORT,
    readDatabaseUrl: data.READ_DATABASE_URL,
    maxListItems: data.MAX_LIST_ITEMS,
    statementTimeoutMs: data.QUERY_STATEMENT_TIMEOUT_MS,
    auth,
    production: catalogEnvOf(env) === "production",
  };
}
