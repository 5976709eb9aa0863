import { amqpUrlVar, parseEnv } from "@catalog/runtime";

/** The dead-letter tools' settings. */
export interface DeadLetterConfig {
  /** `AMQP_URL`, default `amqp://guest:guest@localhost:5672`: RabbitMQ, the vhost in its path. */
  amqpUrl: string;
}

/**
 * Reads the dead-letter tools' settings from an environment such as
 * `Deno.env.toObject()`: only `AMQP_URL`, read as the worker reads it.
 *
 * @throws {ConfigError} naming the variable if it is set to an unusable value.
 */
export function parseDeadLetterConfig(env: Record<string, string | undefined>): DeadLetterConfig {
  const data = parseEnv("dead-letter tools", { AMQP_URL: amqpUrlVar() }, env);
  return { amqpUrl: data.AMQP_URL };
}
