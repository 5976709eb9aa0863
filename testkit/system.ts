import { createSandbox, type Sandbox } from "./sandbox.ts";
import { freePort } from "@catalog/dev";
import {
  graphql,
  type GraphQLResult,
  type ProcessName,
  type Stack,
  startStack,
} from "@catalog/dev";
import { testStackEnv, writerToken } from "./tokens.ts";
export { eventually } from "./eventually.ts";

const asWriter = { token: writerToken };

/** A running stack in its own sandbox, for one test file. */
export interface TestSystem {
  stack: Stack;
  sandbox: Sandbox;
  /** Posts a GraphQL operation to the stack's gateway, with writerToken. */
  gql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
  ): Promise<GraphQLResult<T>>;
  /** Like gql(), but throws if the answer has errors. */
  data<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>): Promise<T>;
}

/** Options of withSystem(), beyond the services' environment. */
export interface SystemOptions {
  /** How many worker processes the stack runs ("worker", "worker-2", …). Default 1. */
  workers?: number;
  /** WORKER_CONCURRENCY of every worker. Default: the worker's own. */
  workerConcurrency?: number;
  /** How many gateway processes the stack runs ("gateway", "gateway-2", …). Default 1. */
  gateways?: number;
  /**
   * Environment for the services derived from the sandbox, applied over the
   * sandbox's and `env`'s, for instance URLs that go through a TcpProxy. Runs
   * once the sandbox exists and before any service starts. Default: none.
   */
  envFor?: (sandbox: Sandbox) => Record<string, string> | Promise<Record<string, string>>;
  /** Extra environment of one process, over everything else. Default: none. */
  envOf?: (process: ProcessName) => Record<string, string>;
  /** Receives every line the services print, prefixed with the process name. Default: none. */
  onLog?: (entry: string) => void;
  /** How many of the last lines to print when fn fails. Default 60. */
  logTail?: number;
}

/**
 * Starts the services against a throwaway sandbox, runs fn, and tears
 * everything down. Service logs are shown when CATALOG_TEST_LOGS=1, or the
 * last of them when fn fails.
 */
export async function withSystem(
  fn: (system: TestSystem) => Promise<void>,
  env: Record<string, string> = {},
  options: SystemOptions = {},
): Promise<void> {
  const sandbox = await createSandbox({ migrated: true });
  const logs: string[] = [];
  const verbose = Deno.env.get("CATALOG_TEST_LOGS") === "1";
  const logTail = options.logTail ?? 60;
  let stack: Stack | undefined;
  try {
    const derived = options.envFor ? await options.envFor(sandbox) : {};
    stack = await startStack({
      ports: { gateway: freePort(), command: freePort(), query: freePort() },
      env: { ...sandbox.env, ...testStackEnv, ...env, ...derived },
      migrated: true,
      workers: options.workers,
      workerConcurrency: options.workerConcurrency,
      moreGatewayPorts: Array.from({ length: (options.gateways ?? 1) - 1 }, () => freePort()),
      envOf: options.envOf,
      log: (service, line) => {
        const entry = `${service.padEnd(7)} | ${line}`;
        if (verbose) console.log(entry);
        options.onLog?.(entry);
        logs.push(entry);
        if (logs.length > Math.max(200, logTail)) logs.shift();
      },
    });
    const url = stack.graphqlUrl;
    await fn({
      stack,
      sandbox,
      gql: (query, variables) => graphql(url, query, variables, asWriter),
      async data(query, variables) {
        const result = await graphql(url, query, variables, asWriter);
        if (result.errors?.length || !result.data) {
          throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
        }
        return result.data as never;
      },
    });
  } catch (error) {
    if (!verbose) console.error(`Last service output:\n${logs.slice(-logTail).join("\n")}`);
    throw error;
  } finally {
    await stack?.close();
    await sandbox.dispose();
  }
}
