import { addressVar, hostVar, integerVar, parseEnv, portVar } from "@catalog/runtime";

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
 */
export interface GatewayConfig {
  port: number;
  host: string;
  commandServiceAddress: string;
  queryServiceAddress: string;
  grpcDeadlineMs: number;
  grpcConnectWaitMs: number;
  commandWaitTimeoutMs: number;
}

/** The configuration with every variable unset. */
export const defaultConfig: Readonly<GatewayConfig> = Object.freeze({
  port: 4000,
  host: "0.0.0.0",
  commandServiceAddress: "localhost:50051",
  queryServiceAddress: "localhost:50052",
  grpcDeadlineMs: 5000,
  grpcConnectWaitMs: 2000,
  commandWaitTimeoutMs: 5000,
});

const variables = {
  GATEWAY_PORT: portVar(defaultConfig.port),
  GATEWAY_HOST: hostVar(defaultConfig.host),
  COMMAND_SERVICE_ADDRESS: addressVar(defaultConfig.commandServiceAddress),
  QUERY_SERVICE_ADDRESS: addressVar(defaultConfig.queryServiceAddress),
  GRPC_DEADLINE_MS: integerVar(defaultConfig.grpcDeadlineMs, { min: 1, max: 600_000 }),
  GRPC_CONNECT_WAIT_MS: integerVar(defaultConfig.grpcConnectWaitMs, { min: 0, max: 600_000 }),
  COMMAND_WAIT_TIMEOUT_MS: integerVar(defaultConfig.commandWaitTimeoutMs, { min: 0, max: 600_000 }),
};

/**
 * Reads the gateway's configuration from an environment record such as
 * `Deno.env.toObject()`; unset variables take their defaults and unrelated
 * ones are ignored. An empty variable counts as unset.
 *
 * @throws {ConfigError} naming every variable that is set to an unusable value.
 */
export function parseConfig(env: Record<string, string | undefined>): GatewayConfig {
  const parsed = parseEnv("gateway", variables, env);
  return {
    port: parsed.GATEWAY_PORT,
    host: parsed.GATEWAY_HOST,
    commandServiceAddress: parsed.COMMAND_SERVICE_ADDRESS,
    queryServiceAddress: parsed.QUERY_SERVICE_ADDRESS,
    grpcDeadlineMs: parsed.GRPC_DEADLINE_MS,
    grpcConnectWaitMs: parsed.GRPC_CONNECT_WAIT_MS,
    commandWaitTimeoutMs: parsed.COMMAND_WAIT_TIMEOUT_MS,
  };
}
