import { hostVar, parseEnv, portVar, postgresUrlVar, sharedDefaults } from "@catalog/runtime";

export { ConfigError } from "@catalog/runtime";

/**
 * The query service's settings. Every variable it reads:
 *
 * | Variable            | Default                                          | Meaning                                      |
 * | ------------------- | ------------------------------------------------ | -------------------------------------------- |
 * | `QUERY_GRPC_HOST`   | `0.0.0.0`                                        | Address the gRPC server listens on           |
 * | `QUERY_GRPC_PORT`   | `50052`                                          | Port of the gRPC server (0 picks a free one) |
 * | `QUERY_HTTP_HOST`   | `0.0.0.0`                                        | Address of the HTTP `/health` and `/ready` port |
 * | `QUERY_HTTP_PORT`   | `9102`                                           | Port of `/health` and `/ready` (0 picks a free one) |
 * | `READ_DATABASE_URL` | `postgres://postgres@localhost:5432/catalog_read` | The read database (postgres: or postgresql:) |
 *
 * An empty variable counts as unset.
 */
export interface QueryConfig {
  grpcHost: string;
  grpcPort: number;
  httpHost: string;
  httpPort: number;
  readDatabaseUrl: string;
}

const variables = {
  QUERY_GRPC_HOST: hostVar(),
  QUERY_GRPC_PORT: portVar(50052),
  QUERY_HTTP_HOST: hostVar(),
  QUERY_HTTP_PORT: portVar(9102),
  READ_DATABASE_URL: postgresUrlVar(sharedDefaults.readDatabaseUrl),
};

/**
 * Reads the query service's settings from an environment such as `Deno.env.toObject()`.
 *
 * @throws {ConfigError} naming every variable that is set to an unusable value.
 */
export function parseQueryConfig(env: Record<string, string | undefined>): QueryConfig {
  const data = parseEnv("query service", variables, env);
  return {
    grpcHost: data.QUERY_GRPC_HOST,
    grpcPort: data.QUERY_GRPC_PORT,
    httpHost: data.QUERY_HTTP_HOST,
    httpPort: data.QUERY_HTTP_PORT,
    readDatabaseUrl: data.READ_DATABASE_URL,
  };
}
