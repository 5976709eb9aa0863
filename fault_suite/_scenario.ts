/**
 * The frame every fault scenario runs in: the stack in a throwaway sandbox,
 * pools on its databases, and a log of every service line.
 */
import type postgres from "postgres";
import { type Sandbox, type SystemOptions, withSystem } from "@catalog/testkit";
import type { Stack } from "@catalog/dev";
import { openDatabases } from "./_databases.ts";
import { type ServiceLog, serviceLog } from "./_service_log.ts";

/** What a scenario works with. */
export interface Scenario {
  stack: Stack;
  sandbox: Sandbox;
  /** Pools on the sandbox's write and read databases, for checking outcomes directly. */
  write: postgres.Sql;
  read: postgres.Sql;
  /** The gateway's GraphQL endpoint. */
  url: string;
  /** Every service line, timestamped, in a file named after the scenario. */
  log: ServiceLog;
}

/** Options of runScenario(): withSystem()'s, and environment for the services. */
export interface ScenarioOptions extends SystemOptions {
  /** Extra environment for every service. Default: none. */
  env?: Record<string, string>;
}

/**
 * Starts the services against a fresh sandbox (withSystem, with options; an
 * onLog given there sees every line too), opens pools on its databases, runs
 * the scenario, and closes the pools, the stack, the sandbox and the log.
 */
export async function runScenario(
  name: string,
  scenario: (frame: Scenario) => Promise<void>,
  options: ScenarioOptions = {},
): Promise<void> {
  const log = serviceLog(name);
  try {
    await withSystem(
      async ({ stack, sandbox }) => {
        await using databases = openDatabases(sandbox);
        const { write, read } = databases;
        await scenario({ stack, sandbox, write, read, url: stack.graphqlUrl, log });
      },
      options.env ?? {},
      {
        ...options,
        onLog(line) {
          log.onLog(line);
          options.onLog?.(line);
        },
      },
    );
  } finally {
    log.close();
  }
}
