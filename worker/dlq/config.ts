import { amqpUrlVar, amqpUserOf, parseEnv, rabbitmqUserVar } from "@catalog/runtime";

/** The dead-letter tools' settings. */
export interface DeadLetterConfig {
  /** `AMQP_URL`, default `amqp://guest:guest@localhost:5672`: RabbitMQ, the vhost in its path. */
  amqpUrl: string;
  /**
   * `COMMAND_PUBLISHER_USER`, default the user of `AMQP_URL`: the command
   * service's RabbitMQ user. A replay sends only the dead letters that user
   * published, and sends them as that user (their user_id), as the worker
   * wants them.
   */
  commandPublisherUser: string;
}

/**
 * Reads the dead-letter tools' settings from an environment such as
 * `Deno.env.toObject()`: `AMQP_URL` and `COMMAND_PUBLISHER_USER`, read as the
 * worker reads them.
 *
 * @throws {ConfigError} naming each variable that is set to an unusable value.
 */
export function parseDeadLetterConfig(env: Record<string, string | undefined>): DeadLetterConfig {
  const data = parseEnv("dead-letter tools", {
    AMQP_URL: amqpUrlVar(),
    COMMAND_PUBLISHER_USER: rabbitmqUserVar(),
  }, env);
  return {
    amqpUrl: data.AMQP_URL,
    commandPublisherUser: data.COMMAND_PUBLISHER_USER ?? amqpUserOf(data.AMQP_URL),
  };
}
