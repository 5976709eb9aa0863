import denoConfig from "../deno.json" with { type: "json" };
import { freePort } from "./infra.ts";

/** The four services, in the order they start. */
export const serviceNames = ["worker", "query", "command", "gateway"] as const;
export type ServiceName = (typeof serviceNames)[number];

/**
 * One process of a stack: a service, or one of several workers or gateways.
 * The first worker is "worker", the others "worker-2", "worker-3", …; the
 * same for gateways.
 */
export type ProcessName = ServiceName | `worker-${number}` | `gateway-${number}`;

/** Ports the services listen on. */
export interface StackPorts {
  gateway: number;
  command: number;
  query: number;
}

export const defaultPorts: StackPorts = { gateway: 4000, command: 50051, query: 50052 };

/** Options of startStack(). */
export interface StackOptions {
  /** Ports to listen on. Default: 4000, 50051, 50052. */
  ports?: StackPorts;
  /** Extra environment for every service (database URLs, AMQP URL, timeouts). */
  env?: Record<string, string>;
  /** Receives each line a process prints. Default: prints it prefixed with the process name. */
  log?: (process: ProcessName, line: string) => void;
  /** How long a process may take to become ready, in milliseconds. Default 60000. */
  readyTimeoutMs?: number;
  /**
   * The databases exist and are migrated already (a test sandbox's can be):
   * every process starts at once. Otherwise the first worker, which creates
   * and migrates them, starts alone before the rest. Default false.
   */
  migrated?: boolean;
  /**
   * How many worker processes to run. They share the command partitions
   * among themselves. Default 1.
   */
  workers?: number;
  /** WORKER_CONCURRENCY of every worker. Default: the worker's own default (or `env`'s). */
  workerConcurrency?: number;
  /**
   * Ports of more gateway processes, "gateway-2", "gateway-3", …, beside
   * the one on ports.gateway. Default: none.
   */
  moreGatewayPorts?: number[];
  /**
   * HTTP ports of /health and /ready of the command and query services and
   * of each worker ("worker", "worker-2", …). Default: free ports.
   */
  healthPorts?: Partial<Record<ProcessName, number>>;
  /** Extra environment of one process, over `env`. Default: none. */
  envOf?: (process: ProcessName) => Record<string, string>;
  /** Told when a process exits without being stopped (it is in `crashes` too). Default: none. */
  onExit?: (process: ProcessName, status: Deno.CommandStatus) => void;
}

/** Options of Stack.stop(). */
export interface StopOptions {
  /** Signal to send first. Default "SIGTERM". */
  signal?: Deno.Signal;
  /** How long to wait for the process to exit before SIGKILL, in milliseconds. Default 10000. */
  graceMs?: number;
}

/** The services running as child processes. */
export interface Stack {
  ports: StackPorts;
  graphqlUrl: string;
  /** The /graphql URL of every gateway: graphqlUrl first, then those of moreGatewayPorts. */
  graphqlUrls: string[];
  /** The worker processes' names: "worker", then "worker-2", … */
  workers: ProcessName[];
  /**
   * The base URL of a process's /health and /ready: the gateway's own port,
   * or the HTTP port of the command service, the query service or a worker.
   */
  healthUrl(process: ProcessName): string;
  /** Starts one stopped process again and waits until it is ready. */
  start(process: ProcessName): Promise<void>;
  /**
   * Stops one process: `signal` (default SIGTERM), then SIGKILL after graceMs
   * (default 10000). Answers how it exited, or undefined if it was not running.
   */
  stop(process: ProcessName, options?: StopOptions): Promise<Deno.CommandStatus | undefined>;
  /** Kills one process with SIGKILL, as a crash would, and waits until it is gone. */
  kill(process: ProcessName): Promise<Deno.CommandStatus | undefined>;
  /** Stops one process (as stop() does), then starts it again and waits until it is ready. */
  restart(process: ProcessName, options?: StopOptions): Promise<Deno.CommandStatus | undefined>;
  /** Whether the process runs now: started, and neither stopped nor exited by itself since. */
  isRunning(process: ProcessName): boolean;
  /** Processes that exited without being stopped, with how they exited, in order. */
  readonly crashes: readonly { process: ProcessName; status: Deno.CommandStatus; at: Date }[];
  /** Stops every running process, gateway first, workers last. */
  close(): Promise<void>;
}

/**
 * The arguments after `deno` that run a service, taken from its task in
 * deno.json (`deno task gateway` and so on), so that the launcher and the
 * tasks cannot drift apart: the same permissions and the same V8 flags
 * (the heap settings that keep each service's memory small under load).
 */
export function serviceRunArgs(service: ServiceName): string[] {
  const task = (denoConfig.tasks as Record<string, unknown>)[service];
  const words = typeof task === "string" ? task.trim().split(/\s+/) : [];
  if (words[0] !== "deno" || words[1] !== "run" || words.at(-1) !== `${service}/main.ts`) {
    throw new Error(
      `Cannot run the ${service}: its task in deno.json is not "deno run … ${service}/main.ts"`,
    );
  }
  return words.slice(1);
}

/**
 * The V8 flags of the services' tasks in deno.json, for other processes that
 * should run as a service does (the benchmark's baseline servers).
 */
export function serviceV8Flags(): string[] {
  return serviceRunArgs("gateway").filter((arg) => arg.startsWith("--v8-flags="));
}

const colors: Record<ServiceName, number> = { worker: 35, query: 36, command: 33, gateway: 32 };

/** The service a process runs: "worker-2" runs the worker, "gateway-2" the gateway. */
function serviceOf(process: ProcessName): ServiceName {
  if (process.startsWith("worker")) return "worker";
  return process.startsWith("gateway") ? "gateway" : process as ServiceName;
}

function printLine(process: ProcessName, line: string): void {
  const name = `${process.padEnd(7)} |`;
  // NO_COLOR (https://no-color.org) asks for plain text.
  const prefix = Deno.noColor ? name : `\x1b[${colors[serviceOf(process)]}m${name}\x1b[0m`;
  console.log(`${prefix} ${line}`);
}

const root = new URL("../", import.meta.url);

async function pipeLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const bytes of stream) {
    const lines = (rest + decoder.decode(bytes, { stream: true })).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) onLine(line);
  }
  if (rest) onLine(rest);
}

interface Running {
  child: Deno.ChildProcess;
  exited: Promise<Deno.CommandStatus>;
  output: Promise<void>;
}

/** Names of `count` worker processes: "worker", "worker-2", … */
function workerNames(count: number): ProcessName[] {
  return Array.from(
    { length: count },
    (_, index) => index === 0 ? "worker" : `worker-${index + 1}` as const,
  );
}

/**
 * Starts the workers, query, command and gateway as child processes and waits
 * until each is ready.
 */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const ports = options.ports ?? defaultPorts;
  const log = options.log ?? printLine;
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const workerCount = options.workers ?? 1;
  if (!Number.isInteger(workerCount) || workerCount < 1) {
    throw new RangeError(
      `Cannot start the stack: workers must be a positive integer, not ${workerCount}`,
    );
  }
  const workers = workerNames(workerCount);
  const gatewayPorts = new Map<ProcessName, number>([["gateway", ports.gateway]]);
  for (const [index, port] of (options.moreGatewayPorts ?? []).entries()) {
    gatewayPorts.set(`gateway-${index + 2}`, port);
  }
  const moreGateways = [...gatewayPorts.keys()].filter((name) => name !== "gateway");
  const processes = new Set<ProcessName>([
    ...workers,
    "query",
    "command",
    "gateway",
    ...moreGateways,
  ]);
  const env: Record<string, string> = {
    GATEWAY_PORT: String(ports.gateway),
    COMMAND_GRPC_PORT: String(ports.command),
    QUERY_GRPC_PORT: String(ports.query),
    COMMAND_SERVICE_ADDRESS: `localhost:${ports.command}`,
    QUERY_SERVICE_ADDRESS: `localhost:${ports.query}`,
    NO_COLOR: "1",
    ...options.env,
    ...(options.workerConcurrency === undefined
      ? {}
      : { WORKER_CONCURRENCY: String(options.workerConcurrency) }),
  };
  const healthPorts = new Map<ProcessName, number>();
  for (const process of processes) {
    if (serviceOf(process) === "gateway") continue;
    healthPorts.set(process, options.healthPorts?.[process] ?? freePort());
  }
  const healthVariables = {
    command: "COMMAND_HTTP_PORT",
    query: "QUERY_HTTP_PORT",
    worker: "WORKER_HTTP_PORT",
  } as const;
  function envFor(process: ProcessName): Record<string, string> {
    const service = serviceOf(process);
    const own: Record<string, string> = service === "gateway"
      ? { GATEWAY_PORT: String(gatewayPorts.get(process)) }
      : { [healthVariables[service]]: String(healthPorts.get(process)) };
    // Traces name the process they come from, when tracing is on (OTEL_DENO).
    const traced = { OTEL_SERVICE_NAME: `catalog-${process}` };
    return { ...traced, ...env, ...own, ...options.envOf?.(process) };
  }
  const running = new Map<ProcessName, Running>();
  /** How many times each process was started: what it reports as catalog_service_restarts. */
  const starts = new Map<ProcessName, number>();
  const crashes: { process: ProcessName; status: Deno.CommandStatus; at: Date }[] = [];

  function known(process: ProcessName, action: string): ServiceName {
    if (!processes.has(process)) {
      throw new RangeError(
        `Cannot ${action} ${process}: the stack runs only ${[...processes].join(", ")}`,
      );
    }
    return serviceOf(process);
  }

  async function start(process: ProcessName): Promise<void> {
    const service = known(process, "start");
    if (running.has(process)) throw new Error(`Cannot start ${process}: it is already running`);
    const restarts = starts.get(process) ?? 0;
    starts.set(process, restarts + 1);
    const child = new Deno.Command(Deno.execPath(), {
      args: serviceRunArgs(service),
      cwd: root.pathname,
      env: { ...envFor(process), CATALOG_RESTARTS: String(restarts) },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const recent: string[] = [];
    let saidReady = false;
    const onLine = (line: string) => {
      recent.push(line);
      if (recent.length > 30) recent.shift();
      if (service !== "gateway" && line.includes(readyLines[service])) saidReady = true;
      log(process, line);
    };
    const output = Promise.all([
      pipeLines(child.stdout, onLine),
      pipeLines(child.stderr, onLine),
    ]).then(() => {});
    const exited = child.status;
    let hasExited = false;
    let wasReady = false;
    const entry = { child, exited, output };
    exited.then((status) => {
      hasExited = true;
      // Still listed: nobody stopped it, so it exited by itself.
      if (running.get(process) === entry) {
        running.delete(process);
        crashes.push({ process, status, at: new Date() });
        // One that never became ready is start()'s failure to report, not an exit.
        if (wasReady) options.onExit?.(process, status);
      }
    });
    running.set(process, entry);
    log(process, `started (pid ${child.pid})`);

    const deadline = Date.now() + readyTimeoutMs;
    while (!(service === "gateway" ? await gatewayReady(gatewayPorts.get(process)!) : saidReady)) {
      if (hasExited || Date.now() > deadline) {
        const why = hasExited ? "it exited" : `not ready after ${readyTimeoutMs} ms`;
        if (running.get(process) === entry) running.delete(process);
        if (!hasExited) child.kill("SIGKILL");
        await exited;
        await output;
        throw new Error(`Cannot start ${process}: ${why}. Last output:\n${recent.join("\n")}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    wasReady = true;
  }

  async function stop(
    process: ProcessName,
    { signal = "SIGTERM", graceMs = 10_000 }: StopOptions = {},
  ): Promise<Deno.CommandStatus | undefined> {
    known(process, "stop");
    const entry = running.get(process);
    if (!entry) return undefined;
    running.delete(process);
    try {
      entry.child.kill(signal);
    } catch {
      // Already gone.
    }
    const timer = setTimeout(() => {
      try {
        entry.child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, graceMs);
    const status = await entry.exited;
    clearTimeout(timer);
    await entry.output;
    return status;
  }

  async function restart(
    process: ProcessName,
    options?: StopOptions,
  ): Promise<Deno.CommandStatus | undefined> {
    const status = await stop(process, options);
    await start(process);
    return status;
  }

  async function close(): Promise<void> {
    // The gateways first, so no client meets a backend that is going; then the
    // services behind them; the workers last, which may still apply commands.
    await Promise.all([...moreGateways, "gateway" as const].map((gateway) => stop(gateway)));
    await Promise.all((["command", "query"] as const).map((service) => stop(service)));
    await Promise.all(workers.map((worker) => stop(worker)));
  }

  // The first worker migrates the databases the query service reads, so it
  // starts alone, unless they are migrated already; the rest start side by
  // side (a second each, one after the other, was most of a stack's
  // start-up), the gateways waiting on /ready until the services behind them
  // serve.
  const [first, ...others] = processes;
  try {
    if (!options.migrated) await start(first!);
    const started = await Promise.allSettled(
      (options.migrated ? [first!, ...others] : others).map((process) => start(process)),
    );
    const failed = started.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
  } catch (error) {
    await close();
    throw error;
  }
  return {
    ports,
    graphqlUrl: `http://localhost:${ports.gateway}/graphql`,
    graphqlUrls: [...gatewayPorts.values()].map((port) => `http://localhost:${port}/graphql`),
    workers,
    healthUrl(process) {
      known(process, "find the health of");
      const port = serviceOf(process) === "gateway"
        ? gatewayPorts.get(process)
        : healthPorts.get(process);
      return `http://localhost:${port}`;
    },
    start,
    stop,
    kill: (process) => stop(process, { signal: "SIGKILL" }),
    restart,
    isRunning: (process) => running.has(process),
    crashes,
    close,
  };
}

/**
 * The line each gRPC service and the worker prints once it serves. The launcher
 * reads logs rather than calling gRPC health itself: the gateway's /ready
 * checks both gRPC services' health anyway.
 */
const readyLines: Record<Exclude<ServiceName, "gateway">, string> = {
  worker: "Worker ready",
  query: "Query service ready",
  command: "Command service ready",
};

async function gatewayReady(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://localhost:${port}/ready`, {
      signal: AbortSignal.timeout(2000),
    });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}
