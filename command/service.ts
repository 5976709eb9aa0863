import {
  type CommandReceipt,
  commandServiceDefinition,
  type CommandType,
  commandTypes,
  grpc,
  invalidArgumentStatus,
  serviceNames,
  startGrpcServer,
  unaryMethod,
} from "@catalog/proto";
import { AmqpPublisher } from "./amqp_publisher.ts";
import { createCommandHandlers, type RequestContext } from "./command_handlers.ts";
import type { CommandConfig } from "./config.ts";
import { BrokerUnavailableError, InvalidCommandError } from "./errors.ts";

/** Options of startCommandService(), mostly for tests. */
export interface CommandServiceOptions {
  /** Stamps each command. Default `() => new Date()`. */
  clock?: () => Date;
  /** Where to log. Default console.log. */
  log?: (line: string) => void;
  /** First and longest wait between reconnections to RabbitMQ. Default 250 and 10000 ms. */
  reconnectDelayMs?: { min: number; max: number };
  /** How long stop() lets running calls finish. Default 4000 ms. */
  shutdownGraceMs?: number;
}

/** A running command service. */
export interface CommandService {
  /** The port it listens on (useful when configured with port 0). */
  port: number;
  /** Reports NOT_SERVING, lets running calls finish, and closes the RabbitMQ connection. */
  stop(): Promise<void>;
}

function firstValue(metadata: grpc.Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  if (value === undefined) return undefined;
  const text = (typeof value === "string" ? value : new TextDecoder().decode(value)).trim();
  return text === "" ? undefined : text;
}

function contextOf(metadata: grpc.Metadata): RequestContext {
  return {
    actor: firstValue(metadata, "x-actor"),
    correlationId: firstValue(metadata, "x-correlation-id"),
    traceparent: firstValue(metadata, "traceparent"),
  };
}

/** The one place where errors become gRPC statuses. */
function toGrpcError(
  type: CommandType,
  error: unknown,
  log: (line: string) => void,
): Partial<grpc.StatusObject> {
  if (error instanceof InvalidCommandError) {
    return invalidArgumentStatus(error.message, error.fieldErrors);
  }
  if (error instanceof BrokerUnavailableError) {
    log(`${type} not accepted: ${error.message}`);
    return { code: grpc.status.UNAVAILABLE, details: error.message };
  }
  log(`${type} failed: ${error instanceof Error ? error.stack : String(error)}`);
  return { code: grpc.status.INTERNAL, details: `Cannot accept ${type}: internal error` };
}

/**
 * Starts the command service: a gRPC server for catalog.v1.CommandService
 * (with health and reflection) that publishes accepted commands to RabbitMQ.
 * It starts even when RabbitMQ is down, reporting NOT_SERVING until it has a
 * connection, and reconnects by itself.
 */
export async function startCommandService(
  config: CommandConfig,
  options: CommandServiceOptions = {},
): Promise<CommandService> {
  const log = options.log ?? console.log;
  // Health follows the broker connection once the server exists.
  let reportServing = (_serving: boolean) => {};
  const publisher = new AmqpPublisher(config.amqpUrl, {
    connectionName: "catalog-command",
    confirmTimeoutMs: config.publishTimeoutMs,
    minReconnectDelayMs: options.reconnectDelayMs?.min,
    maxReconnectDelayMs: options.reconnectDelayMs?.max,
    log,
    onConnectionChange: (connected) => reportServing(connected),
  });
  const handlers = createCommandHandlers({
    publisher,
    clock: options.clock ?? (() => new Date()),
  });

  const implementation: grpc.UntypedServiceImplementation = {};
  for (const type of commandTypes) {
    const handle = handlers[type] as (
      request: unknown,
      context: RequestContext,
    ) => Promise<CommandReceipt>;
    implementation[type] = unaryMethod(
      (request, call) => handle(request, contextOf(call.metadata)),
      (error) => toGrpcError(type, error, log),
    );
  }

  const server = await startGrpcServer({
    host: config.grpcHost,
    port: config.grpcPort,
    serviceName: serviceNames.command,
    definition: commandServiceDefinition(),
    implementation,
  });
  reportServing = (serving) => server.setServing(serving);
  reportServing(publisher.connected);
  await publisher.start();
  log(`Command service ready on :${server.port}`);

  let stopping: Promise<void> | undefined;
  return {
    port: server.port,
    stop() {
      stopping ??= (async () => {
        server.setServing(false);
        await server.shutdown(options.shutdownGraceMs ?? 4000);
        await publisher.close();
      })();
      return stopping;
    },
  };
}
