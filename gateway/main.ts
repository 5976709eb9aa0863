/**
 * Starts the gateway: reads the configuration from the environment, connects
 * (lazily) to the command and query services, and serves HTTP until SIGINT or
 * SIGTERM.
 */
import { createChangeFeedClient, createCommandClient, createQueryClient } from "@catalog/proto";
import { GrpcChangeSource } from "./change_feed.ts";
import { parseConfig } from "./config.ts";
import { createGateway } from "./gateway.ts";

/** How long running requests may take to finish once shutdown begins. */
const SHUTDOWN_GRACE_MS = 10_000;

async function main(): Promise<void> {
  let config;
  try {
    config = parseConfig(Deno.env.toObject());
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }

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
    const reason = error instanceof Deno.errors.AddrInUse
      ? "the address is already in use (is another gateway running? GATEWAY_PORT picks another port)"
      : error instanceof Error
      ? error.message
      : String(error);
    console.error(`Cannot start the gateway on ${host}:${port}: ${reason}`);
    Deno.exit(1);
  }

  let stopping = false;
  async function stop(signal: Deno.Signal): Promise<void> {
    if (stopping) return;
    stopping = true;
    console.log(`Gateway stopping on ${signal}`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        console.error(`Gateway stopped waiting for requests after ${SHUTDOWN_GRACE_MS} ms`);
        resolve();
      }, SHUTDOWN_GRACE_MS);
    });
    // Subscriptions complete now; their clients may go on with another gateway.
    changes.close();
    await Promise.race([server.shutdown(), grace]);
    clearTimeout(timer);
    // The gRPC connections are left for the exit to close: closing them
    // would send the command and query services a GOAWAY, the frame that
    // Deno's node:http2 can abort on (see startGrpcServer()).
    console.log("Gateway stopped");
    Deno.exit(0);
  }
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => void stop(signal));
  }

  await server.finished;
}

if (import.meta.main) await main();
