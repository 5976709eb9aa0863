import { z } from "zod";

/**
 * The command service's settings. Every variable it reads:
 *
 * | Variable             | Default                             | Meaning                                      |
 * | -------------------- | ----------------------------------- | -------------------------------------------- |
 * | `COMMAND_GRPC_HOST`  | `0.0.0.0`                           | Address the gRPC server listens on           |
 * | `COMMAND_GRPC_PORT`  | `50051`                             | Port of the gRPC server (0 picks a free one) |
 * | `AMQP_URL`           | `amqp://guest:guest@localhost:5672` | RabbitMQ to publish commands to (amqp: or amqps:, vhost in the path) |
 * | `PUBLISH_TIMEOUT_MS` | `3000`                              | How long to wait for the broker's confirm before answering UNAVAILABLE |
 *
 * An empty variable counts as unset.
 */
export interface CommandConfig {
  grpcHost: string;
  grpcPort: number;
  amqpUrl: string;
  publishTimeoutMs: number;
}

/** A configuration variable that cannot be used. */
export class ConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
  }
}

const unsetIfEmpty = (value: unknown) => value === "" ? undefined : value;

const port = z.coerce.number({ error: "Must be a number" })
  .int({ error: "Must be a whole number" })
  .min(0, { error: "Must be from 0 to 65535" })
  .max(65535, { error: "Must be from 0 to 65535" });

const schema = z.object({
  COMMAND_GRPC_HOST: z.preprocess(
    unsetIfEmpty,
    z.string().trim().min(1).default("0.0.0.0"),
  ),
  COMMAND_GRPC_PORT: z.preprocess(unsetIfEmpty, port.default(50051)),
  AMQP_URL: z.preprocess(
    unsetIfEmpty,
    z.url({
      protocol: /^amqps?$/,
      error: "Must be an amqp:// or amqps:// URL",
    }).default("amqp://guest:guest@localhost:5672"),
  ),
  PUBLISH_TIMEOUT_MS: z.preprocess(
    unsetIfEmpty,
    z.coerce.number({ error: "Must be a number" })
      .int({ error: "Must be a whole number" })
      .min(1, { error: "Must be at least 1" })
      .max(60_000, { error: "Must be at most 60000" })
      .default(3000),
  ),
});

/** Reads the command service's settings from an environment such as `Deno.env.toObject()`. */
export function parseCommandConfig(env: Record<string, string | undefined>): CommandConfig {
  const result = schema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      return `${name}=${JSON.stringify(env[name] ?? "")}: ${issue.message}`;
    });
    throw new ConfigError(`Cannot configure the command service: ${problems.join("; ")}`);
  }
  const data = result.data;
  return {
    grpcHost: data.COMMAND_GRPC_HOST,
    grpcPort: data.COMMAND_GRPC_PORT,
    amqpUrl: data.AMQP_URL,
    publishTimeoutMs: data.PUBLISH_TIMEOUT_MS,
  };
}
