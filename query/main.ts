/**
 * The query service's composition root: the configuration from the
 * environment, the service, and its lifecycle (runService()).
 */
import { runService, survivePostgresClosedSocketWrites } from "@catalog/runtime";
import { parseQueryConfig } from "./config.ts";
import { startQueryService } from "./service.ts";

survivePostgresClosedSocketWrites((line) => console.error(line));

await runService({
  service: "query",
  label: "the query service",
  parseConfig: parseQueryConfig,
  health: (config) => ({
    host: config.httpHost,
    port: config.httpPort,
    variable: "QUERY_HTTP_PORT",
  }),
  start: (config) => startQueryService(config),
  stopLimitMs: 5000,
});
