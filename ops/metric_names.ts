/**
 * The catalog's metrics as docs/observability.md lists them, by name and
 * type, for checking that the dashboard and the alert rules name only
 * metrics that exist. ops_test.ts checks this list against the document.
 */

/** How Prometheus sees a metric: a histogram is scraped as `_bucket`, `_sum` and `_count`. */
export type MetricType = "counter" | "gauge" | "histogram";

/** Every metric of docs/observability.md, each with its type. */
export const metricNames: Readonly<Record<string, MetricType>> = {
  catalog_commands_accepted_total: "counter",
  catalog_commands_outcomes_total: "counter",
  catalog_command_accepted_to_applied_seconds: "histogram",
  catalog_commands_in_flight: "gauge",

  catalog_queue_messages: "gauge",
  catalog_queue_consumers: "gauge",
  catalog_partitions_consumed: "gauge",
  catalog_partitions_owned: "gauge",
  catalog_rabbitmq_publish_confirm_seconds: "histogram",
  catalog_rabbitmq_connected: "gauge",
  catalog_rabbitmq_publishers_blocked: "gauge",
  catalog_dead_letter_oldest_age_seconds: "gauge",

  catalog_projection_lag_events: "gauge",
  catalog_projection_lag_seconds: "gauge",
  catalog_projection_events_total: "counter",
  catalog_projection_batch_size: "histogram",
  catalog_projection_batch_seconds: "histogram",

  catalog_graphql_operations_total: "counter",
  catalog_graphql_operation_duration_seconds: "histogram",
  catalog_graphql_subscriptions_open: "gauge",
  catalog_gateway_operations_in_progress: "gauge",
  catalog_gateway_admission_limit: "gauge",
  catalog_gateway_operations_refused_total: "counter",
  catalog_gateway_circuit_state: "gauge",

  catalog_grpc_server_handled_total: "counter",
  catalog_grpc_server_handling_seconds: "histogram",
  catalog_grpc_client_handled_total: "counter",
  catalog_grpc_client_handling_seconds: "histogram",

  catalog_db_pool_in_use: "gauge",
  catalog_db_pool_waiting: "gauge",
  catalog_db_work_seconds: "histogram",

  catalog_process_resident_memory_bytes: "gauge",
  catalog_nodejs_heap_size_used_bytes: "gauge",
  catalog_nodejs_eventloop_lag_p99_seconds: "gauge",
  catalog_process_cpu_seconds_total: "counter",
  catalog_service_restarts: "gauge",
};
