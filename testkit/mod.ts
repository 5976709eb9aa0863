/**
 * The test kit: what tests of any service, the end-to-end tests, the fault
 * suite and the benchmark use to stand the system up and watch it. A
 * throwaway sandbox (databases and a RabbitMQ vhost), a whole stack in it,
 * waiting for a condition, a TCP proxy to cut and delay connections, an SSE
 * client, and a way to run the repository's own tasks. Only tests and
 * harnesses import it; no service module does.
 */
export * from "./eventually.ts";
export * from "./failure.ts";
export * from "./format.ts";
export * from "./run_deno.ts";
export * from "./sandbox.ts";
export * from "./sse.ts";
export * from "./system.ts";
export * from "./tcp_proxy.ts";
export * from "./tokens.ts";
export { freePort, managementApi } from "@catalog/dev";
export { graphql, type GraphQLErrorBody, type GraphQLResult } from "@catalog/dev";
export * from "./read_database.ts";
export * from "./metrics.ts";
export * from "./distinct_documents.ts";
export * from "./overload.ts";
export * from "./otlp.ts";
export * from "./prometheus.ts";
export { browserPath, onPath } from "./prerequisites.ts";
