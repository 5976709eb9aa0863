import { z } from "zod";

/**
 * The query service's settings. Every variable it reads:
 *
 * | Variable            | Default                                          | Meaning                                      |
 * | ------------------- | ------------------------------------------------ | -------------------------------------------- |
 * | `QUERY_GRPC_HOST`   | `0.0.0.0`                                        | Address the gRPC server listens on           |
 * | `QUERY_GRPC_PORT`   | `50052`                                          | Port of the gRPC server (0 picks a free one) |
 * | `READ_DATABASE_URL` | `postgres://postgres@localhost:5432/catalog_read` | The read database (postgres: or postgresql:) |
 *
 * An empty variable counts as unset.
 */
export interface QueryConfig {
  grpcHost: string;
  grpcPort: number;
  readDatabaseUrl: string;
}

/** A configuration variable that cannot be used. */
export class ConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
  }
}

const unsetIfEmpty = (value: unknown) => value === "" ? undefined : value;

const schema = z.object({
  QUERY_GRPC_HOST: z.preprocess(unsetIfEmpty, z.string().trim().min(1).default("0.0.0.0")),
  QUERY_GRPC_PORT: z.preprocess(
    unsetIfEmpty,
    z.coerce.number({ error: "Must be a number" })
      .int({ error: "Must be a whole number" })
      .min(0, { error: "Must be from 0 to 65535" })
      .max(65535, { error: "Must be from 0 to 65535" })
      .default(50052),
  ),
  READ_DATABASE_URL: z.preprocess(
    unsetIfEmpty,
    z.url({
      protocol: /^postgres(ql)?$/,
      error: "Must be a postgres:// or postgresql:// URL",
    }).default("postgres://postgres@localhost:5432/catalog_read"),
  ),
});

/** Reads the query service's settings from an environment such as `Deno.env.toObject()`. */
export function parseQueryConfig(env: Record<string, string | undefined>): QueryConfig {
  const result = schema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      return `${name}=${JSON.stringify(env[name] ?? "")}: ${issue.message}`;
    });
    throw new ConfigError(`Cannot configure the query service: ${problems.join("; ")}`);
  }
  const data = result.data;
  return {
    grpcHost: data.QUERY_GRPC_HOST,
    grpcPort: data.QUERY_GRPC_PORT,
    readDatabaseUrl: data.READ_DATABASE_URL,
  };
}
