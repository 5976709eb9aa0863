/**
 * The command service's composition root: the configuration from the
 * environment, the service, and its lifecycle (runService()).
 */
import { runService } from "@catalog/runtime";
import { parseCommandConfig } from "./config.ts";
import { startCommandService } from "./service.ts";

await runService({
  service: "command",
  label: "the command service",
  parseConfig: parseCommandConfig,
  health: (config) => ({
    host: config.httpHost,
    port: config.httpPort,
    variable: "COMMAND_HTTP_PORT",
  }),
  start: (config) => startCommandService(config),
  stopLimitMs: 5000,
});
