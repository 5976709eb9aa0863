/** The four services, in the order they start. */
export const serviceNames = ["worker", "query", "command", "gateway"] as const;
export type ServiceName = (typeof serviceNames)[number];

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
  /** Receives each line a service prints. Default: prints it prefixed with the service name. */
  log?: (service: ServiceName, line: string) => void;
  /** How long a service may take to become ready, in milliseconds. Default 60000. */
  readyTimeoutMs?: number;
}

/** The four services running as child processes. */
export interface Stack {
  ports: StackPorts;
  graphqlUrl: string;
  /** Starts one stopped service again and waits until it is ready. */
  start(service: ServiceName): Promise<void>;
  /** Stops one service: SIGTERM, then SIGKILL after graceMs (default 10000). */
  stop(service: ServiceName, options?: { signal?: Deno.Signal; graceMs?: number }): Promise<void>;
  /** Stops every running service, gateway first. */
  close(): Promise<void>;
}

const colors: Record<ServiceName, number> = { worker: 35, query: 36, command: 33, gateway: 32 };

function printLine(service: ServiceName, line: string): void {
  const prefix = `\x1b[${colors[service]}m${service.padEnd(7)} |\x1b[0m `;
  console.log(prefix + line);
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

/** Starts worker, query, command and gateway as child processes and waits until each is ready. */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const ports = options.ports ?? defaultPorts;
  const log = options.log ?? printLine;
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const env: Record<string, string> = {
    GATEWAY_PORT: String(ports.gateway),
    COMMAND_GRPC_PORT: String(ports.command),
    QUERY_GRPC_PORT: String(ports.query),
    COMMAND_SERVICE_ADDRESS: `localhost:${ports.command}`,
    QUERY_SERVICE_ADDRESS: `localhost:${ports.query}`,
    NO_COLOR: "1",
    ...options.env,
  };
  const running = new Map<ServiceName, Running>();

  async function start(service: ServiceName): Promise<void> {
    if (running.has(service)) throw new Error(`Cannot start ${service}: it is already running`);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-env",
        "--allow-read",
        "--allow-sys",
        new URL(`${service}/main.ts`, root).pathname,
      ],
      cwd: root.pathname,
      env,
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
      log(service, line);
    };
    const output = Promise.all([
      pipeLines(child.stdout, onLine),
      pipeLines(child.stderr, onLine),
    ]).then(() => {});
    const exited = child.status;
    let hasExited = false;
    exited.then(() => hasExited = true);
    running.set(service, { child, exited, output });

    const deadline = Date.now() + readyTimeoutMs;
    while (!(service === "gateway" ? await gatewayReady(ports.gateway) : saidReady)) {
      if (hasExited || Date.now() > deadline) {
        const why = hasExited ? "it exited" : `not ready after ${readyTimeoutMs} ms`;
        if (!hasExited) child.kill("SIGKILL");
        await exited;
        await output;
        running.delete(service);
        throw new Error(`Cannot start ${service}: ${why}. Last output:\n${recent.join("\n")}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async function stop(
    service: ServiceName,
    { signal = "SIGTERM", graceMs = 10_000 }: { signal?: Deno.Signal; graceMs?: number } = {},
  ): Promise<void> {
    const entry = running.get(service);
    if (!entry) return;
    running.delete(service);
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
    await entry.exited;
    clearTimeout(timer);
    await entry.output;
  }

  async function close(): Promise<void> {
    for (const service of [...serviceNames].reverse()) await stop(service);
  }

  try {
    for (const service of serviceNames) await start(service);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    ports,
    graphqlUrl: `http://localhost:${ports.gateway}/graphql`,
    start,
    stop,
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
    const response = await fetch(`http://localhost:${port}/ready`);
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}
