/**
 * The worker's composition root: reads the environment, creates and migrates
 * both databases, then consumes commands (runService() gives it its health
 * port and its lifecycle). On SIGINT or SIGTERM it finishes the commands in
 * hand and exits 0; stopping has STOP_LIMIT_MS, past which it says what it gave
 * up waiting for and exits 1, and RabbitMQ redelivers any command it had not
 * acknowledged.
 */
import { runService, survivePostgresClosedSocketWrites } from "@catalog/runtime";
import { parseWorkerConfig } from "./config.ts";
import { migrate } from "./migrate.ts";
import { startWorker } from "./worker.ts";

/**
 * How long stopping may take from the first signal: the command in hand gets
 * up to 10 s (startWorker()'s grace), closing RabbitMQ and the databases the rest.
 */
const STOP_LIMIT_MS = 15_000;

survivePostgresClosedSocketWrites((line) => console.error(line));

await runService({
  service: "worker",
  label: "the worker",
  parseConfig: parseWorkerConfig,
  health: (config) => ({
    host: config.httpHost,
    port: config.httpPort,
    variable: "WORKER_HTTP_PORT",
  }),
  async start(config, signal) {
    await migrate({
      writeUrl: config.writeDatabaseUrl,
      readUrl: config.readDatabaseUrl,
      log: (line) => console.log(line),
    });
    return await startWorker(config, { signal });
  },
  stopLimitMs: STOP_LIMIT_MS,
});
