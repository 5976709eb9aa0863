import { z } from "zod";

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
 * | `COMMAND_WAIT_TIMEOUT_MS` | `5000` | How long a mutation waits for its command's effects to become readable (read-your-writes) before answering `COMMAND_PENDING` |
 */
export interface GatewayConfig {
  port: number;
  host: string;
  commandServiceAddress: string;
  queryServiceAddress: string;
  grpcDeadlineMs: number;
  commandWaitTimeoutMs: number;
}

/** The configuration with every variable unset. */
export const defaultConfig: Readonly<GatewayConfig> = Object.freeze({
  port: 4000,
  host: "0.0.0.0",
  commandServiceAddress: "localhost:50051",
  queryServiceAddress: "localhost:50052",
  grpcDeadlineMs: 5000,
  commandWaitTimeoutMs: 5000,
});

function integer(name: string, fallback: number, min: number, max: number) {
  return z.string()
    .trim()
    .default(String(fallback))
    .transform((text, ctx) => {
      const value = Number(text);
      if (text === "" || !Number.isInteger(value) || value < min || value > max) {
        ctx.addIssue({
          code: "custom",
          message: `${name} must be an integer from ${min} to ${max}, got "${text}"`,
        });
        return z.NEVER;
      }
      return value;
    });
}

const HOST_PORT = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):\d{1,5}$/;

function address(name: string, fallback: string) {
  return z.string()
    .trim()
    .default(fallback)
    .refine((text) => HOST_PORT.test(text), {
      error: (issue) => `${name} must be host:port, like ${fallback}, got "${issue.input}"`,
    });
}

const environment = z.object({
  GATEWAY_PORT: integer("GATEWAY_PORT", defaultConfig.port, 0, 65535),
  GATEWAY_HOST: z.string().trim().min(1, { error: "GATEWAY_HOST must not be empty" })
    .default(defaultConfig.host),
  COMMAND_SERVICE_ADDRESS: address("COMMAND_SERVICE_ADDRESS", defaultConfig.commandServiceAddress),
  QUERY_SERVICE_ADDRESS: address("QUERY_SERVICE_ADDRESS", defaultConfig.queryServiceAddress),
  GRPC_DEADLINE_MS: integer("GRPC_DEADLINE_MS", defaultConfig.grpcDeadlineMs, 1, 600_000),
  COMMAND_WAIT_TIMEOUT_MS: integer(
    "COMMAND_WAIT_TIMEOUT_MS",
    defaultConfig.commandWaitTimeoutMs,
    0,
    600_000,
  ),
});

/**
 * Reads the gateway's configuration from an environment record such as
 * `Deno.env.toObject()`; unset variables take their defaults and unrelated
 * ones are ignored. An empty variable counts as unset.
 *
 * @throws {TypeError} naming every variable that is set to an unusable value.
 */
export function parseConfig(env: Record<string, string | undefined>): GatewayConfig {
  // An empty variable counts as unset, as compose files and shells often leave them.
  const set = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value.trim() !== ""),
  );
  const result = environment.safeParse(set);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => issue.message).join("; ");
    throw new TypeError(`Cannot read the gateway configuration: ${problems}`);
  }
  const parsed = result.data;
  return {
    port: parsed.GATEWAY_PORT,
    host: parsed.GATEWAY_HOST,
    commandServiceAddress: parsed.COMMAND_SERVICE_ADDRESS,
    queryServiceAddress: parsed.QUERY_SERVICE_ADDRESS,
    grpcDeadlineMs: parsed.GRPC_DEADLINE_MS,
    commandWaitTimeoutMs: parsed.COMMAND_WAIT_TIMEOUT_MS,
  };
}
