import {
  amqpUrlVar,
  amqpUserOf,
  ConfigError,
  hostVar,
  integerVar,
  parseEnv,
  portVar,
  postgresUrlVar,
  rabbitmqUserVar,
  refuseDevelopmentDefaults,
  sharedDefaults,
} from "@catalog/runtime";

export { ConfigError } from "@catalog/runtime";

/**
 * The worker's settings. Every variable it reads:
 *
 * | Variable             | Default                                             | Meaning                                        |
 * | -------------------- | --------------------------------------------------- | ---------------------------------------------- |
 * | `WRITE_DATABASE_URL` | `postgres://postgres@localhost:5432/catalog_write`  | Write database (entities, event and command logs); created if absent |
 * | `READ_DATABASE_URL`  | `postgres://postgres@localhost:5432/catalog_read`   | Read database (views the query service serves); created if absent |
 * | `AMQP_URL`           | `amqp://guest:guest@localhost:5672`                 | RabbitMQ to consume commands from (amqp: or amqps:, vhost in the path) |
 * | `COMMAND_PUBLISHER_USER` | the user of `AMQP_URL`                          | The command service's RabbitMQ user: a command whose user_id names anyone else is dead-lettered, never applied; required with `CATALOG_ENV=production` |
 * | `WORKER_PREFETCH`    | `32`                                                | Commands RabbitMQ may hand the worker per partition before it acks them (1 to 32) |
 * | `WORKER_CONCURRENCY` | `4`                                                 | Partitions whose commands the worker handles at the same time |
 * | `WORKER_HTTP_HOST`   | `0.0.0.0`                                           | Address of the HTTP `/health` and `/ready` port |
 * | `WORKER_HTTP_PORT`   | `9103`                                              | Port of `/health` and `/ready` (0 picks a free one) |
 * | `IDEMPOTENCY_KEY_RETENTION_HOURS` | `24`                                   | How long an idempotency key is remembered (1 to 8760): a retry with the key within it is the same command, and the key reused for another request is refused |
 * | `COMMAND_RETENTION_HOURS` | `168`                                          | How long a handled command stays in the command log and `command(id)` shows its outcome (1 to 8760, at least the key retention) |
 * | `CHANGE_FEED_RETENTION_MINUTES` | `60`                                     | How long the change feed keeps a change for gateways that reconnect (1 to 10080) |
 * | `PRUNE_INTERVAL_SECONDS` | `60`                                            | How often the worker prunes what is older than the retentions (1 to 86400) |
 *
 * An empty variable counts as unset.
 */
export interface WorkerConfig {
  writeDatabaseUrl: string;
  readDatabaseUrl: string;
  amqpUrl: string;
  /** The RabbitMQ user that every command must have been published by (its user_id). */
  commandPublisherUser: string;
  prefetch: number;
  concurrency: number;
  httpHost: string;
  httpPort: number;
  retention: RetentionConfig;
}

/** How long what the worker keeps is kept, in milliseconds, and how often it prunes. */
export interface RetentionConfig {
  idempotencyKeysMs: number;
  commandsMs: number;
  changeFeedMs: number;
  pruneIntervalMs: number;
}

// The worker creates both databases, so their URLs must name them.
const variables = {
  WRITE_DATABASE_URL: postgresUrlVar(sharedDefaults.writeDatabaseUrl, { requireDatabase: true }),
  READ_DATABASE_URL: postgresUrlVar(sharedDefaults.readDatabaseUrl, { requireDatabase: true }),
  AMQP_URL: amqpUrlVar(),
  COMMAND_PUBLISHER_USER: rabbitmqUserVar(),
  // When a worker dies, RabbitMQ 3.10 hands its unacknowledged commands back
  // to the partition in order only up to 32 of them (seen here: beyond that,
  // a closed channel's messages came back shuffled), and order within a
  // partition is what keeps one entity's commands in acceptance order.
  WORKER_PREFETCH: integerVar(32, { min: 1, max: 32 }),
  WORKER_CONCURRENCY: integerVar(4, { min: 1, max: 64 }),
  WORKER_HTTP_HOST: hostVar(),
  WORKER_HTTP_PORT: portVar(9103),
  IDEMPOTENCY_KEY_RETENTION_HOURS: integerVar(24, { min: 1, max: 8760 }),
  COMMAND_RETENTION_HOURS: integerVar(168, { min: 1, max: 8760 }),
  CHANGE_FEED_RETENTION_MINUTES: integerVar(60, { min: 1, max: 10_080 }),
  PRUNE_INTERVAL_SECONDS: integerVar(60, { min: 1, max: 86_400 }),
};

const HOUR_MS = 60 * 60 * 1000;

/** The retention with every variable unset. */
export const defaultRetention: Readonly<RetentionConfig> = Object.freeze({
  idempotencyKeysMs: 24 * HOUR_MS,
  commandsMs: 168 * HOUR_MS,
  changeFeedMs: 60 * 60_000,
  pruneIntervalMs: 60_000,
});

/**
 * Reads the worker's settings from an environment such as `Deno.env.toObject()`.
 *
 * @throws {ConfigError} naming every variable that is set to an unusable value.
 */
export function parseWorkerConfig(env: Record<string, string | undefined>): WorkerConfig {
  const data = parseEnv("worker", variables, env);
  // A retry within the key's retention must still find its command, or it
  // would be applied a second time.
  if (data.COMMAND_RETENTION_HOURS < data.IDEMPOTENCY_KEY_RETENTION_HOURS) {
    throw new ConfigError(
      `Cannot configure the worker: COMMAND_RETENTION_HOURS=${
        JSON.stringify(String(data.COMMAND_RETENTION_HOURS))
      }: Must be at least IDEMPOTENCY_KEY_RETENTION_HOURS (${data.IDEMPOTENCY_KEY_RETENTION_HOURS})`,
    );
  }
  // Every service connects as its own RabbitMQ user in production, so the
  // worker's own user is never the command service's there: falling back to
  // it would refuse every command.
  refuseDevelopmentDefaults("worker", env, [
    { kind: "amqp", variable: "AMQP_URL", url: data.AMQP_URL },
    { kind: "postgres", variable: "WRITE_DATABASE_URL", url: data.WRITE_DATABASE_URL },
    { kind: "postgres", variable: "READ_DATABASE_URL", url: data.READ_DATABASE_URL },
    {
      kind: "set",
      variable: "COMMAND_PUBLISHER_USER",
      value: data.COMMAND_PUBLISHER_USER,
      why: "it must name the command service's RabbitMQ user, the only one whose commands the " +
        "worker applies",
    },
  ]);
  return {
    writeDatabaseUrl: data.WRITE_DATABASE_URL,
    readDatabaseUrl: data.READ_DATABASE_URL,
    amqpUrl: data.AMQP_URL,
    commandPublisherUser: data.COMMAND_PUBLISHER_USER ?? amqpUserOf(data.AMQP_URL),
    prefetch: data.WORKER_PREFETCH,
    concurrency: data.WORKER_CONCURRENCY,
    httpHost: data.WORKER_HTTP_HOST,
    httpPort: data.WORKER_HTTP_PORT,
    retention: {
      idempotencyKeysMs: data.IDEMPOTENCY_KEY_RETENTION_HOURS * HOUR_MS,
      commandsMs: data.COMMAND_RETENTION_HOURS * HOUR_MS,
      changeFeedMs: data.CHANGE_FEED_RETENTION_MINUTES * 60_000,
      pruneIntervalMs: data.PRUNE_INTERVAL_SECONDS * 1000,
    },
  };
}
