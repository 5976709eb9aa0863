import { type ReadinessCheck, serveHealth, version } from "./health_server.ts";
import { installLogger, parseLogConfig } from "./log.ts";
import { processRegistry, type Registry } from "./metrics.ts";

/** Options of a service's stop(). */
export interface StopOptions {
  /**
   * The process exits right after: leave the drained gRPC connections for
   * the system to close rather than closing them (see startGrpcServer() in
   * proto). Default false: close them, as an owner that goes on running must.
   */
  exiting?: boolean;
}

/** What runService() runs. */
export interface RunningService {
  /** Stops taking work, finishes what it holds and closes its connections. */
  stop(options?: StopOptions): Promise<void>;
  /** What it needs to do its job, as /ready on the health port reports it. */
  readiness?(): Record<string, ReadinessCheck>;
  /** While stop() runs, what it waits for, to say what stopping gave up on. */
  readonly waitingFor?: string | undefined;
  /** The service's metrics, which /metrics serves after the process's own. */
  readonly metrics?: Registry;
}

/** Where a service serves /health and /ready, from its configuration. */
export interface HealthAddress {
  host: string;
  port: number;
  /** The variable that sets the port: "QUERY_HTTP_PORT". */
  variable: string;
}

/** Options of runService(). */
export interface RunServiceOptions<Config, Service extends RunningService> {
  /** As /health names it: "command". */
  service: string;
  /** As log lines name it: "the command service". */
  label: string;
  /** Reads the configuration from the environment; throws ConfigError naming bad variables. */
  parseConfig(env: Record<string, string | undefined>): Config;
  /**
   * Where to serve /health and /ready. Absent for a service that answers
   * them on its own port (the gateway, beside /graphql).
   */
  health?(config: Config): HealthAddress;
  /** Starts the service; `signal` aborts when a signal asks to stop before it has started. */
  start(config: Config, signal: AbortSignal): Promise<Service>;
  /** How long stopping may take from the first signal. */
  stopLimitMs: number;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A service's composition root, the same for every service: reads the
 * configuration (exit 1 naming a bad variable), serves /health and /ready
 * at once (not ready while starting), starts the service (exit 1 with why it
 * cannot), and on SIGINT or SIGTERM stops it and exits 0; if stopping takes
 * longer than stopLimitMs it says what it gave up waiting for and exits 1. A
 * second SIGINT exits at once with 1; a SIGTERM after it (a launcher
 * stopping the process group it already interrupted) changes nothing.
 */
export async function runService<Config, Service extends RunningService>(
  options: RunServiceOptions<Config, Service>,
): Promise<void> {
  let config: Config;
  try {
    const env = Deno.env.toObject();
    installLogger(options.service, parseLogConfig(env));
    config = options.parseConfig(env);
  } catch (error) {
    console.error(messageOf(error));
    Deno.exit(1);
  }

  let service: Service | undefined;
  const startup = new AbortController();
  let stopping = false;

  async function stopAndExit(running: Service): Promise<never> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const limit = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), options.stopLimitMs);
    });
    // The process exits next, so drained connections are left for it to close.
    const stopped = running.stop({ exiting: true }).then(() => true, (error) => {
      console.error(`Cannot stop ${options.label} cleanly: ${messageOf(error)}`);
      return false;
    });
    const clean = await Promise.race([stopped, limit]);
    clearTimeout(timer);
    if (!clean) {
      console.error(
        `Cannot stop ${options.label} within ${options.stopLimitMs} ms: gave up waiting for ` +
          `${running.waitingFor ?? "it to stop"}`,
      );
    }
    Deno.exit(clean ? 0 : 1);
  }

  function onSignal(signal: Deno.Signal): void {
    if (stopping) {
      if (signal === "SIGTERM") return;
      console.log(`${signal} again: exiting at once`);
      Deno.exit(1);
    }
    stopping = true;
    console.log(`${signal}: stopping ${options.label}`);
    startup.abort();
    if (service) void stopAndExit(service);
  }
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => onSignal(signal));
  }

  const address = options.health?.(config);
  const restarts = Number(Deno.env.get("CATALOG_RESTARTS") ?? "0");
  const processMetrics = processRegistry(
    options.service,
    Number.isSafeInteger(restarts) && restarts > 0 ? restarts : 0,
  );
  let healthPort: number | undefined;
  try {
    healthPort = address && serveHealth({
      service: options.service,
      version,
      host: address.host,
      port: address.port,
      portVariable: address.variable,
      checks: () =>
        (service ? service.readiness?.() : undefined) ?? {
          startup: { ready: false, status: "starting", label: options.label },
        },
      metrics: () => service?.metrics ? [processMetrics, service.metrics] : [processMetrics],
    }).port;
  } catch (error) {
    console.error(`Cannot start ${options.label}: ${messageOf(error)}`);
    Deno.exit(1);
  }

  try {
    service = await options.start(config, startup.signal);
  } catch (error) {
    if (stopping) Deno.exit(0);
    console.error(`Cannot start ${options.label}: ${messageOf(error)}`);
    Deno.exit(1);
  }
  if (healthPort !== undefined) {
    console.log(`Health of ${options.label} on :${healthPort} (/health, /ready, /metrics)`);
  }
  if (stopping) await stopAndExit(service);
}
