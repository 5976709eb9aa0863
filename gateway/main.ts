/**
 * The gateway's composition root: the configuration from the environment,
 * (lazy) clients of the command and query services, the HTTP server, and its
 * lifecycle (runService()). The gateway answers /health and /ready itself,
 * beside /graphql, so it has no health port of its own.
 */
import {
  createChangeFeedClient,
  createCommandClient,
  createQueryClient,
  runService,
  StopSteps,
} from "@catalog/runtime";
import { GrpcChangeSource } from "./change_feed.ts";
import { type GatewayConfig, parseConfig } from "./config.ts";
import { createGateway } from "./gateway.ts";

/** How long running requests may take to finish once stopping begins. */
const STOP_LIMIT_MS = 10_000;

function start(config: GatewayConfig) {
  const clientOptions = { connectWaitMs: config.grpcConnectWaitMs };
  const commands = createCommandClient(config.commandServiceAddress, clientOptions);
  const queries = createQueryClient(config.queryServiceAddress, clientOptions);
  // One WatchChanges stream for all of this process's subscriptions, started
  // at once so that the first subscriber need not wait for it.
  const changes = new GrpcChangeSource(createChangeFeedClient(config.queryServiceAddress), {
    readyTimeoutMs: config.grpcDeadlineMs,
  });
  changes.ready().catch(() => {});
  const gateway = createGateway({ commands, queries, config, changes });

  const { host, port, commandServiceAddress, queryServiceAddress } = config;
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      port,
      hostname: host,
      onListen({ port }) {
        console.log(`Gateway ready on http://localhost:${port}/graphql`);
        console.log(
          `Gateway talks to the command service at ${commandServiceAddress} ` +
            `and the query service at ${queryServiceAddress}`,
        );
      },
    }, (request) => gateway.fetch(request));
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new Error(
        `${host}:${port} is already in use (is another gateway running? ` +
          "GATEWAY_PORT picks another port)",
      );
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot listen on ${host}:${port}: ${reason}`, { cause: error });
  }

  const steps = new StopSteps();
  let stopping: Promise<void> | undefined;
  return {
    get waitingFor() {
      return steps.waitingFor;
    },
    stop() {
      stopping ??= (async () => {
        // Subscriptions complete now; their clients may go on with another gateway.
        await steps.step("the subscriptions to end", () => changes.close());
        await steps.step("the requests in hand", () => server.shutdown());
        // The gRPC connections are left for the exit to close: closing them
        // would send the command and query services a GOAWAY, the frame that
        // Deno's node:http2 can abort on (see startGrpcServer()).
        console.log("Gateway stopped");
      })();
      return stopping;
    },
  };
}

await runService({
  service: "gateway",
  label: "the gateway",
  parseConfig,
  start: (config) => Promise.resolve().then(() => start(config)),
  stopLimitMs: STOP_LIMIT_MS,
});
