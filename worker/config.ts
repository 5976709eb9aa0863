import { z } from "zod";

/**
 * The worker's settings. Every variable it reads:
 *
 * | Variable             | Default                                             | Meaning                                        |
 * | -------------------- | --------------------------------------------------- | ---------------------------------------------- |
 * | `WRITE_DATABASE_URL` | `postgres://postgres@localhost:5432/catalog_write`  | Write database (entities, event and command logs); created if absent |
 * | `READ_DATABASE_URL`  | `postgres://postgres@localhost:5432/catalog_read`   | Read database (views the query service serves); created if absent |
 * | `AMQP_URL`           | `amqp://guest:guest@localhost:5672`                 | RabbitMQ to consume commands from (amqp: or amqps:, vhost in the path) |
 * | `WORKER_PREFETCH`    | `32`                                                | Commands RabbitMQ may hand the worker before it acks them |
 *
 * An empty variable counts as unset.
 */
export interface WorkerConfig {
  writeDatabaseUrl: string;
  readDatabaseUrl: string;
  amqpUrl: string;
  prefetch: number;
}

/** A configuration variable that cannot be used. */
export class ConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
  }
}

const unsetIfEmpty = (value: unknown) => value === "" ? undefined : value;

const postgresUrl = (fallback: string) =>
  z.preprocess(
    unsetIfEmpty,
    z.url({
      protocol: /^postgres(ql)?$/,
      error: "Must be a postgres:// or postgresql:// URL",
    }).refine((url) => !URL.canParse(url) || new URL(url).pathname.length > 1, {
      error: "Must name a database in its path",
    }).default(fallback),
  );

const schema = z.object({
  WRITE_DATABASE_URL: postgresUrl("postgres://postgres@localhost:5432/catalog_write"),
  READ_DATABASE_URL: postgresUrl("postgres://postgres@localhost:5432/catalog_read"),
  AMQP_URL: z.preprocess(
    unsetIfEmpty,
    z.url({
      protocol: /^amqps?$/,
      error: "Must be an amqp:// or amqps:// URL",
    }).default("amqp://guest:guest@localhost:5672"),
  ),
  WORKER_PREFETCH: z.preprocess(
    unsetIfEmpty,
    z.coerce.number({ error: "Must be a number" })
      .int({ error: "Must be a whole number" })
      .min(1, { error: "Must be from 1 to 65535" })
      .max(65535, { error: "Must be from 1 to 65535" })
      .default(32),
  ),
});

/** Reads the worker's settings from an environment such as `Deno.env.toObject()`. */
export function parseWorkerConfig(env: Record<string, string | undefined>): WorkerConfig {
  const result = schema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      return `${name}=${JSON.stringify(env[name] ?? "")}: ${issue.message}`;
    });
    throw new ConfigError(`Cannot configure the worker: ${problems.join("; ")}`);
  }
  const data = result.data;
  return {
    writeDatabaseUrl: data.WRITE_DATABASE_URL,
    readDatabaseUrl: data.READ_DATABASE_URL,
    amqpUrl: data.AMQP_URL,
    prefetch: data.WORKER_PREFETCH,
  };
}
