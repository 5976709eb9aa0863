import { amqpUrlVar, integerVar, parseEnv, postgresUrlVar, sharedDefaults } from "@catalog/proto";

export { ConfigError } from "@catalog/proto";

/**
 * The worker's settings. Every variable it reads:
 *
 * | Variable             | Default                                             | Meaning                                        |
 * | -------------------- | --------------------------------------------------- | ---------------------------------------------- |
 * | `WRITE_DATABASE_URL` | `postgres://postgres@localhost:5432/catalog_write`  | Write database (entities, event and command logs); created if absent |
 * | `READ_DATABASE_URL`  | `postgres://postgres@localhost:5432/catalog_read`   | Read database (views the query service serves); created if absent |
 * | `AMQP_URL`           | `amqp://guest:guest@localhost:5672`                 | RabbitMQ to consume commands from (amqp: or amqps:, vhost in the path) |
 * | `WORKER_PREFETCH`    | `32`                                                | Commands RabbitMQ may hand the worker per partition before it acks them (1 to 32) |
 * | `WORKER_CONCURRENCY` | `4`                                                 | Partitions whose commands the worker handles at the same time |
 *
 * An empty variable counts as unset.
 */
export interface WorkerConfig {
  writeDatabaseUrl: string;
  readDatabaseUrl: string;
  amqpUrl: string;
  prefetch: number;
  concurrency: number;
}

// The worker creates both databases, so their URLs must name them.
const variables = {
  WRITE_DATABASE_URL: postgresUrlVar(sharedDefaults.writeDatabaseUrl, { requireDatabase: true }),
  READ_DATABASE_URL: postgresUrlVar(sharedDefaults.readDatabaseUrl, { requireDatabase: true }),
  AMQP_URL: amqpUrlVar(),
  // When a worker dies, RabbitMQ 3.10 hands its unacknowledged commands back
  // to the partition in order only up to 32 of them (seen here: beyond that,
  // a closed channel's messages came back shuffled), and order within a
  // partition is what keeps one entity's commands in acceptance order.
  WORKER_PREFETCH: integerVar(32, { min: 1, max: 32 }),
  WORKER_CONCURRENCY: integerVar(4, { min: 1, max: 64 }),
};

/**
 * Reads the worker's settings from an environment such as `Deno.env.toObject()`.
 *
 * @throws {ConfigError} naming every variable that is set to an unusable value.
 */
export function parseWorkerConfig(env: Record<string, string | undefined>): WorkerConfig {
  const data = parseEnv("worker", variables, env);
  return {
    writeDatabaseUrl: data.WRITE_DATABASE_URL,
    readDatabaseUrl: data.READ_DATABASE_URL,
    amqpUrl: data.AMQP_URL,
    prefetch: data.WORKER_PREFETCH,
    concurrency: data.WORKER_CONCURRENCY,
  };
}
