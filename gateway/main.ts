/**
 * The gateway's composition root: the configuration from the environment,
 * (lazy) clients of the command and query services, the HTTP server, and its
 * lifecycle (runService()). The gateway answers /health, /ready and /metrics
 * itself, beside /graphql, so it has no health port of its own.
 */
import {
  createChangeFeedClient,
  createCommandClient,
  createQueryClient,
  createServiceRegistry,
  grpcClientMetrics,
  processRegistry,
  runService,
  signDevelopmentToken,
  StopSteps,
} from "@catalog/runtime";
import { GrpcChangeSource } from "./change_feed.ts";
import { type GatewayConfig, parseConfig } from "./config.ts";
import { createGateway } from "./gateway.ts";
import { loadPersistedOperations } from "./persisted_operations.ts";

/** How long running requests may take to finish once stopping begins. */
const STOP_LIMIT_MS = 10_000;

async function start(config: GatewayConfig) {
  const persistedOperations = config.persistedOperationsFile
    ? await loadPersistedOperations(config.persistedOperationsFile)
    : undefined;
  // The gateway's metrics and its gRPC clients' share one registry, which
  // /metrics serves after the process's (runService() made that one first,
  // with the restarts; this call answers the same registry).
  const metrics = createServiceRegistry("gateway");
  const clientOptions = {
    connectWaitMs: config.grpcConnectWaitMs,
    metrics: grpcClientMetrics(metrics),
  };
  const commands = createCommandClient(config.commandServiceAddress, clientOptions);
  const queries = createQueryClient(config.queryServiceAddress, clientOptions);
  // One WatchChanges stream for all of this process's subscriptions, started
  // at once so that the first subscriber need not wait for it. When reads
  // need a token, the stream carries the gateway's own.
  const feedToken = await gatewayReadToken(config);
  const feed = createChangeFeedClient(config.queryServiceAddress, {
    metadata: (): Record<string, string> =>
      feedToken.current ? { authorization: `Bearer ${feedToken.current}` } : {},
  });
  const changes = new GrpcChangeSource(feed, {
    readyTimeoutMs: config.grpcDeadlineMs,
  });
  changes.ready().catch(() => {});
  const gateway = createGateway({
    commands,
    queries,
    config,
    changes,
    persistedOperations,
    metrics,
    processMetrics: processRegistry("gateway"),
  });

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
    }, (request, info) => {
      const address = info.remoteAddr.transport === "tcp" ? info.remoteAddr.hostname : undefined;
      return gateway.fetch(request, { address });
    });
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
        feedToken.stop();
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

/** How long a token the gateway signs for itself lives; it is renewed at half that. */
const OWN_TOKEN_HOURS = 24;

/**
 * The token of the gateway's change-feed stream: none while reads are
 * public; GATEWAY_QUERY_TOKEN if set; else one it signs with the HS256
 * secret, renewed before it expires.
 */
async function gatewayReadToken(config: GatewayConfig) {
  const token = { current: undefined as string | undefined, stop: () => {} };
  if (config.auth.publicReads) return token;
  if (config.queryServiceToken) {
    token.current = config.queryServiceToken;
    return token;
  }
  const sign = () =>
    signDevelopmentToken({
      subject: "catalog-gateway",
      role: "catalog:read",
      secret: config.auth.jwtSecret,
      expiresIn: `${OWN_TOKEN_HOURS}h`,
      ...(config.auth.issuer ? { issuer: config.auth.issuer } : {}),
      ...(config.auth.audience ? { audience: config.auth.audience } : {}),
    });
  token.current = await sign();
  const timer = setInterval(() => {
    sign().then((renewed) => token.current = renewed);
  }, OWN_TOKEN_HOURS * 1_800_000);
  Deno.unrefTimer(timer);
  token.stop = () => clearInterval(timer);
  return token;
}

await runService({
  service: "gateway",
  label: "the gateway",
  parseConfig,
  start,
  stopLimitMs: STOP_LIMIT_MS,
});
