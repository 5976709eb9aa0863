/**
 * The system under test as the scenarios see it: the four services in a
 * throwaway sandbox (databases and RabbitMQ vhost), pools on its databases,
 * and a GraphQL client. Also starts the baseline servers as child processes.
 */
import postgres from "postgres";
import {
  createSandbox,
  defaultAdmissionEnv,
  freePort,
  type Sandbox,
  testStackEnv,
  writerToken,
} from "@catalog/testkit";
import { serviceV8Flags, type Stack, startStack } from "@catalog/dev";
import { sleep } from "./_load.ts";

/** The running system, for one benchmark run. */
export interface System {
  stack: Stack;
  sandbox: Sandbox;
  /** Pool on the write database. */
  write: postgres.Sql;
  /** Pool on the read database. */
  read: postgres.Sql;
  /** Scales counts and durations: 1 for the full run, 0.01 for a smoke test. */
  scale: number;
  /** Says what the run is doing. */
  log: (line: string) => void;
  /** Commands accepted so far in this run; scenarios add theirs, to wait for them. */
  accepted: { count: number };
}

/** An answer with GraphQL errors, or no GraphQL answer at all. */
export class GraphQLRequestError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "GraphQLRequestError";
  }
}

/** Posts one operation and answers its data; throws GraphQLRequestError on any error. */
export async function postGraphql<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
): Promise<T> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json",
      // Reads go as anonymous clients do; writes as a writer.
      ...(/^\s*mutation\b/.test(query) ? { authorization: `Bearer ${writerToken}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(30_000),
  });
  const body = await response.json() as { data?: T; errors?: { message: string }[] };
  if (body.errors?.length || !body.data) {
    throw new GraphQLRequestError(
      `GraphQL error: ${body.errors?.[0]?.message ?? `status ${response.status}, no data`}`,
    );
  }
  return body.data;
}

/** Options of startSystem(). */
export interface StartSystemOptions {
  /** Worker processes to start; all but the first are stopped again at once. Default 2. */
  workers?: number;
  scale: number;
  log: (line: string) => void;
  /** Receives every service line. Default: kept, and the last 60 printed on failure. */
  onServiceLine?: (line: string) => void;
}

/** Starts the services in a new sandbox; with a second worker, stopped until a drain wants it. */
export async function startSystem(options: StartSystemOptions): Promise<System & AsyncDisposable> {
  const sandbox = await createSandbox({ migrated: true });
  const tail: string[] = [];
  let stack: Stack | undefined;
  try {
    stack = await startStack({
      ports: { gateway: freePort(), command: freePort(), query: freePort() },
      env: { ...sandbox.env, ...testStackEnv },
      migrated: true,
      workers: options.workers ?? 2,
      // A second gateway with the gateway's own admission bounds, for the
      // overload row; the first has them far out of the way of the load.
      moreGatewayPorts: [freePort()],
      envOf: (process) => process === "gateway-2" ? defaultAdmissionEnv : {},
      log: (process, line) => {
        const entry = `${process.padEnd(8)} | ${line}`;
        options.onServiceLine?.(entry);
        tail.push(entry);
        if (tail.length > 60) tail.shift();
      },
    });
    for (const worker of stack.workers.slice(1)) await stack.stop(worker);
  } catch (error) {
    console.error(`Last service output:\n${tail.join("\n")}`);
    await stack?.close();
    await sandbox.dispose();
    throw error;
  }
  const poolOptions = { max: 4, onnotice: () => {} };
  const write = postgres(sandbox.env.WRITE_DATABASE_URL, poolOptions);
  const read = postgres(sandbox.env.READ_DATABASE_URL, poolOptions);
  const running = stack;
  const dispose = async () => {
    await Promise.all([write.end({ timeout: 2 }), read.end({ timeout: 2 })]);
    await running.close();
    await sandbox.dispose();
  };
  return {
    stack: running,
    sandbox,
    write,
    read,
    scale: options.scale,
    log: options.log,
    accepted: { count: 0 },
    [Symbol.asyncDispose]: dispose,
  };
}

/** A baseline server running as a child process. */
export interface BaselineServer extends AsyncDisposable {
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts bench/_baseline_server.ts with these arguments and waits for its
 * port. It runs with the services' V8 flags, so that it is measured as a
 * service would be.
 */
export async function startBaselineServer(args: string[]): Promise<BaselineServer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      ...serviceV8Flags(),
      new URL("./_baseline_server.ts", import.meta.url).pathname,
      ...args,
    ],
    cwd: new URL("../", import.meta.url).pathname,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const deadline = Date.now() + 30_000;
  while (!/ready (\d+)/.test(seen)) {
    const { value, done } = await reader.read();
    if (done || Date.now() > deadline) {
      child.kill("SIGKILL");
      await child.status;
      throw new Error(`Cannot start the ${args[0]} baseline server: ${seen.trim() || "no output"}`);
    }
    seen += value;
  }
  const port = Number(seen.match(/ready (\d+)/)![1]);
  // Keep reading, so the child never blocks on a full pipe.
  void (async () => {
    while (!(await reader.read()).done) { /* drained */ }
  })().catch(() => {});
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, 3000);
    await child.status;
    clearTimeout(timer);
  };
  return { port, stop, [Symbol.asyncDispose]: stop };
}

/**
 * Waits until the read side shows an outcome for every command accepted so
 * far (system.accepted), or until that count has not grown for stallMs
 * (default 10000); answers how many it shows. After a stall, system.accepted
 * is set to what the read side shows, so later waits do not wait for the lost.
 */
export async function waitVisible(system: System, stallMs = 10_000): Promise<number> {
  let visible = -1;
  let progressAt = Date.now();
  while (true) {
    const [row] = await system.read<{ n: number }[]>`
      select count(*)::int as n from command_view where status <> 'ACCEPTED'`;
    const now = row?.n ?? 0;
    if (now > visible) {
      visible = now;
      progressAt = Date.now();
    }
    if (visible >= system.accepted.count) return visible;
    if (Date.now() - progressAt > stallMs) {
      system.log(
        `  (the read side shows ${visible} outcomes, not ${system.accepted.count}; going on)`,
      );
      system.accepted.count = visible;
      return visible;
    }
    await sleep(100);
  }
}
