/**
 * The `deno task dev` runner's pieces that tests and the benchmark share:
 * where the infrastructure is and whether it answers, how a stack of the
 * four services starts and stops, a plain GraphQL client and the demo data.
 */
export * from "./graphql.ts";
export * from "./infra.ts";
export * from "./seed.ts";
export * from "./stack.ts";
