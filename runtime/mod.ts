/**
 * How a catalog service runs: its composition root's lifecycle (start,
 * health and readiness port, stop within a bound), its configuration from
 * the environment, its gRPC servers and clients, its RabbitMQ connections
 * (heartbeat, bounded close, confirmed publish), one backoff with jitter for
 * every retry, the watch on a database that readiness reports, and who may
 * call it (bearer tokens and roles).
 */
export * from "./amqp.ts";
export * from "./auth.ts";
export * from "./backoff.ts";
export * from "./database_health.ts";
export * from "./env.ts";
export * from "./grpc_client.ts";
export * from "./grpc_server.ts";
export * from "./health_server.ts";
export * from "./postgres_guard.ts";
export * from "./production.ts";
export * from "./run_service.ts";
export * from "./stop_steps.ts";
export * from "./grpc_metrics.ts";
export * from "./metrics.ts";
export * from "./database_metrics.ts";
export * from "./tracing.ts";
export * from "./log.ts";
