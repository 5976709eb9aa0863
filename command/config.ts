import {
  amqpUrlVar,
  type AuthConfig,
  catalogEnvOf,
  hostVar,
  integerVar,
  parseAuthConfig,
  parseEnv,
  portVar,
  refuseDevelopmentDefaults,
} from "@catalog/runtime";

export { ConfigError } from "@catalog/runtime";

/**
 * The command service's settings. Every variable it reads:
 *
 * | Variable             | Default                             | Meaning                                      |
 * | -------------------- | ----------------------------------- | -------------------------------------------- |
 * | `COMMAND_GRPC_HOST`  | `0.0.0.0`                           | Address the gRPC server listens on           |
 * | `COMMAND_GRPC_PORT`  | `50051`                             | Port of the gRPC server (0 picks a free one) |
 * | `COMMAND_HTTP_HOST`  | `0.0.0.0`                           | Address of the HTTP `/health` and `/ready` port |
 * | `COMMAND_HTTP_PORT`  | `9101`                              | Port of `/health` and `/ready` (0 picks a free one) |
 * | `AMQP_URL`           | `amqp://guest:guest@localhost:5672` | RabbitMQ to publish commands to (amqp: or amqps:, vhost in the path) |
 * | `PUBLISH_TIMEOUT_MS` | `3000`                              | How long to wait for the broker's confirm before answering that the command's outcome is unknown (UNKNOWN, with its id) |
 * | `COMMAND_BACKLOG_LIMIT` | `10000`                          | Commands waiting in the partition queues past which new ones are refused with RESOURCE_EXHAUSTED (gateway: `OVERLOADED`); 0: no limit |
 * | `CATALOG_ENV`        | `development`                       | `production` refuses default credentials and turns reflection off |
 *
 * and the tokens' `AUTH_*` variables (runtime/auth.ts): every call needs a
 * token with the catalog:write role. An empty variable counts as unset.
 */
export interface CommandConfig {
  grpcHost: string;
  grpcPort: number;
  httpHost: string;
  httpPort: number;
  amqpUrl: string;
  publishTimeoutMs: number;
  /** Commands waiting for the workers past which new ones are refused; 0: no limit. */
  backlogLimit: number;
  auth: AuthConfig;
  /** CATALOG_ENV=production. */
  production: boolean;
}

const variables = {
  COMMAND_GRPC_HOST: hostVar(),
  COMMAND_GRPC_PORT: portVar(50051),
  COMMAND_HTTP_HOST: hostVar(),
  COMMAND_HTTP_PORT: portVar(9101),
  AMQP_URL: amqpUrlVar(),
  PUBLISH_TIMEOUT_MS: integerVar(3000, { min: 1, max: 60_000 }),
  COMMAND_BACKLOG_LIMIT: integerVar(10_000, { min: 0, max: 100_000_000 }),
};

/**
 * Reads the command service's settings from an environment such as `Deno.env.toObject()`.
 *
 * @throws {ConfigError} naming every variable that is set to an unusable value.
 */
export function parseCommandConfig(env: Record<string, string | undefined>): CommandConfig {
  const data = parseEnv("command service", variables, env);
  const auth = parseAuthConfig("command service", env);
  refuseDevelopmentDefaults("command service", env, [
    { kind: "amqp", variable: "AMQP_URL", url: data.AMQP_URL },
    { kind: "jwt", secret: auth.jwtSecret, jwksUrl: auth.jwksUrl },
  ]);
  return {
    grpcHost: data.COMMAND_GRPC_HOST,
    grpcPort: data.COMMAND_GRPC_PORT,
    httpHost: data.COMMAND_HTTP_HOST,
    httpPort: data.COMMAND_HTTP_PORT,
    amqpUrl: data.AMQP_URL,
    publishTimeoutMs: data.PUBLISH_TIMEOUT_MS,
    backlogLimit: data.COMMAND_BACKLOG_LIMIT,
    auth,
    production: catalogEnvOf(env) === "production",
  };
}
