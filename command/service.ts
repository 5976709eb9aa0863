import {
  commandIdMetadataKey,
  type CommandReceipt,
  commandServiceDefinition,
  type CommandType,
  commandTypes,
  grpc,
  invalidArgumentStatus,
  partitionQueue,
  serviceNames,
  topology,
} from "@catalog/proto";
import {
  callerOf,
  createServiceRegistry,
  createVerifier,
  type GrpcServer,
  grpcServerMetrics,
  metadataValue,
  type ReadinessCheck,
  type Registry,
  startGrpcServer,
  type StopOptions,
  stoppingCheck,
  StopSteps,
  unaryMethod,
} from "@catalog/runtime";
import { commandServiceMetrics } from "./metrics.ts";
import { AmqpPublisher } from "./amqp_publisher.ts";
import { createCommandHandlers, type RequestContext } from "./command_handlers.ts";
import type { CommandConfig } from "./config.ts";
import {
  BacklogFullError,
  BrokerUnavailableError,
  CallerGoneError,
  CommandOutcomeUnknownError,
  InvalidCommandError,
} from "./errors.ts";

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
  /**
   * How often to count the consumers of the partition queues and the
   * commands waiting in them; a count not answered within it is unknown.
   * Default 1000 ms.
   */
  workersCheckMs?: number;
}

/** A running command service. */
export interface CommandService {
  /** The port it listens on (useful when configured with port 0). */
  port: number;
  /** Its metrics (commands accepted, confirms, gRPC calls), for /metrics. */
  metrics: Registry;
  /**
   * Reports NOT_SERVING, refuses new calls, lets running ones finish (for up
   * to shutdownGraceMs), closes the RabbitMQ connection, and then the gRPC
   * connections unless the process is exiting.
   */
  stop(options?: StopOptions): Promise<void>;
  /** What it needs to accept commands, as /ready reports it: RabbitMQ, and not stopping. */
  readiness(): Record<string, ReadinessCheck>;
  /** While stop() runs, the step it waits on. */
  readonly waitingFor: string | undefined;
}

function contextOf(call: grpc.ServerUnaryCall<unknown, unknown>): RequestContext {
  const metadata = call.metadata;
  return {
    // Who sent it is whom the verified token names, never a header.
    actor: callerOf(call)?.subject,
    correlationId: metadataValue(metadata, "x-correlation-id"),
    traceparent: metadataValue(metadata, "traceparent"),
    abandoned: () => call.cancelled,
    announce(commandId) {
      const headers = new grpc.Metadata();
      headers.set(commandIdMetadataKey, commandId);
      call.sendMetadata(headers);
    },
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
  if (error instanceof BacklogFullError) {
    return { code: grpc.status.RESOURCE_EXHAUSTED, details: error.message };
  }
  if (error instanceof CallerGoneError) {
    return { code: grpc.status.CANCELLED, details: error.message };
  }
  if (error instanceof CommandOutcomeUnknownError) {
    log(`${type} of unknown outcome: ${error.message}`);
    const metadata = new grpc.Metadata();
    metadata.set(commandIdMetadataKey, error.commandId);
    return { code: grpc.status.UNKNOWN, details: error.message, metadata };
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
  config: Omit<CommandConfig, "httpHost" | "httpPort">,
  options: CommandServiceOptions = {},
): Promise<CommandService> {
  const log = options.log ?? console.log;
  const registry = createServiceRegistry("command");
  let consumed = -1;
  /** Commands waiting in the partition queues at the last count; undefined while not known. */
  let waiting: number | undefined;
  // Health follows the broker connection once the server exists.
  let reportServing = (_serving: boolean) => {};
  const publisher = new AmqpPublisher(config.amqpUrl, {
    // Answers come only once publishing has begun, after the metrics exist.
    onAnswer: (seconds, outcome) => metrics.confirmed(seconds, outcome),
    connectionName: "catalog-command",
    confirmTimeoutMs: config.publishTimeoutMs,
    minReconnectDelayMs: options.reconnectDelayMs?.min,
    maxReconnectDelayMs: options.reconnectDelayMs?.max,
    log,
    onConnectionChange: (connected) => reportServing(connected),
  });
  const metrics = commandServiceMetrics(registry, {
    connected: () => publisher.connected,
    blocked: () => publisher.blocked !== undefined,
    partitionsConsumed: () => consumed < 0 ? undefined : consumed,
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
      async (request, call) => {
        // The backlog as last counted: a bound that may be passed by what
        // arrives within one count's interval, and that holds across every
        // copy of the command service, since each counts the same queues.
        if (config.backlogLimit > 0 && waiting !== undefined && waiting >= config.backlogLimit) {
          throw new BacklogFullError(type, waiting, config.backlogLimit);
        }
        const receipt = await handle(request, contextOf(call));
        metrics.accepted(type);
        return receipt;
      },
      (error) => toGrpcError(type, error, log),
    );
  }

  // Connect first (or fail the first attempt, and go on trying in the
  // background): a service that listens before it can publish refuses the
  // first calls a restart sends it.
  await publisher.start();
  let server: GrpcServer;
  try {
    server = await startGrpcServer({
      host: config.grpcHost,
      port: config.grpcPort,
      serviceName: serviceNames.command,
      label: "the command service",
      definition: commandServiceDefinition(),
      implementation,
      metrics: grpcServerMetrics(registry),
      healthServices: [serviceNames.workers],
      // Every command needs a writer's token: the port is no side door past the gateway.
      access: { verify: createVerifier(config.auth), needs: () => "catalog:write" },
      // Operators may list the methods; in production only with an admin's token.
      ...(config.production ? { reflectionRole: "catalog:admin" as const } : {}),
    });
  } catch (error) {
    await publisher.close();
    throw error;
  }
  reportServing = (serving) => server.setServing(serving);
  reportServing(publisher.ready);

  // Commands accepted while no worker consumes their partition are not
  // applied until one does: the gateway's /ready reports it from here.
  const partitions = Array.from({ length: topology.partitions }, (_, p) => partitionQueue(p));
  // The dead-letter and accepted-copies queues are counted too, for /metrics.
  const counted = [...partitions, topology.deadLetterQueue, topology.acceptedQueue];
  // A broker that stalls answers no count: one not answered within a check
  // interval is unknown, so /ready says so and stop() never waits on it for long.
  const countTimeoutMs = options.workersCheckMs ?? 1000;
  async function countConsumers(): Promise<void> {
    let now = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const counts = await Promise.race([
        publisher.queueCounts(counted),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("RabbitMQ did not answer")), countTimeoutMs);
        }),
      ]);
      metrics.queues(counts);
      now = partitions.filter((queue) => (counts.get(queue)?.consumers ?? 0) > 0).length;
      waiting = partitions.reduce((sum, queue) => sum + (counts.get(queue)?.messages ?? 0), 0);
    } catch {
      // Not connected, or no answer: nothing is known to consume, nor how much waits.
      metrics.queues(undefined);
      waiting = undefined;
    } finally {
      clearTimeout(timer);
    }
    if (now === consumed) return;
    if (consumed >= 0 || now < partitions.length) {
      log(`${now} of ${partitions.length} partitions have a worker consuming them`);
    }
    consumed = now;
    server.setHealth(serviceNames.workers, now === partitions.length);
  }
  // While a partition has no consumer, the count comes five times as often,
  // so that /ready turns as soon as a starting worker consumes.
  let workersTimer: ReturnType<typeof setTimeout> | undefined;
  const nextCount = () => {
    if (stopping) return;
    const wait = consumed === partitions.length ? countTimeoutMs : countTimeoutMs / 5;
    workersTimer = setTimeout(() => {
      counting = counting.then(countConsumers).then(nextCount);
    }, wait);
  };
  let counting = countConsumers().then(nextCount);
  log(`Command service ready on :${server.port}`);

  let stopping: Promise<void> | undefined;
  const steps = new StopSteps();
  return {
    port: server.port,
    metrics: registry,
    readiness() {
      const blocked = publisher.blocked;
      return {
        service: stoppingCheck(stopping !== undefined, "the command service"),
        rabbitmq: {
          ready: publisher.ready,
          status: !publisher.connected ? "disconnected" : blocked ? "blocked" : "connected",
          ...(blocked ? { detail: `it blocks publishers: ${blocked}` } : {}),
          label: "RabbitMQ",
        },
      };
    },
    get waitingFor() {
      return steps.waitingFor;
    },
    stop(stopOptions = {}) {
      stopping ??= (async () => {
        clearTimeout(workersTimer);
        await steps.step("the count of partition consumers", () => counting);
        await steps.step("the calls in hand", () => server.drain(options.shutdownGraceMs ?? 4000));
        await steps.step("the RabbitMQ connection to close", () => publisher.close());
        if (!stopOptions.exiting) await steps.step("the gRPC connections", () => server.close());
      })();
      return stopping;
    },
  };
}
