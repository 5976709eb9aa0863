/**
 * How a catalog service runs: its composition root's lifecycle (start,
 * health and readiness port, stop within a bound), and the watch on a
 * database that readiness reports.
 */
export * from "./database_health.ts";
export * from "./health_server.ts";
export * from "./run_service.ts";
export * from "./amqp_url.ts";
