import { createSandbox, freePort, type Sandbox } from "./sandbox.ts";
import { type Stack, startStack } from "./stack.ts";
import { graphql, type GraphQLResult } from "./graphql.ts";
export { eventually } from "./eventually.ts";

/** A running stack in its own sandbox, for one test file. */
export interface TestSystem {
  stack: Stack;
  sandbox: Sandbox;
  /** Posts a GraphQL operation to the stack's gateway. */
  gql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
  ): Promise<GraphQLResult<T>>;
  /** Like gql(), but throws if the answer has errors. */
  data<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>): Promise<T>;
}

/**
 * Starts the four services against a throwaway sandbox, runs fn, and tears
 * everything down. Service logs are shown when CATALOG_TEST_LOGS=1, or the
 * last of them when fn fails.
 */
export async function withSystem(
  fn: (system: TestSystem) => Promise<void>,
  env: Record<string, string> = {},
): Promise<void> {
  const sandbox = await createSandbox();
  const logs: string[] = [];
  const verbose = Deno.env.get("CATALOG_TEST_LOGS") === "1";
  let stack: Stack | undefined;
  try {
    stack = await startStack({
      ports: { gateway: freePort(), command: freePort(), query: freePort() },
      env: { ...sandbox.env, ...env },
      log: (service, line) => {
        const entry = `${service.padEnd(7)} | ${line}`;
        if (verbose) console.log(entry);
        logs.push(entry);
        if (logs.length > 200) logs.shift();
      },
    });
    const url = stack.graphqlUrl;
    await fn({
      stack,
      sandbox,
      gql: (query, variables) => graphql(url, query, variables),
      async data(query, variables) {
        const result = await graphql(url, query, variables);
        if (result.errors?.length || !result.data) {
          throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
        }
        return result.data as never;
      },
    });
  } catch (error) {
    if (!verbose) console.error(`Last service output:\n${logs.slice(-60).join("\n")}`);
    throw error;
  } finally {
    await stack?.close();
    await sandbox.dispose();
  }
}
