/**
 * `deno task dev`: checks the infrastructure (starting it with Docker Compose
 * when it is missing and a Docker engine is there), starts the four services
 * with prefixed logs (the worker creates and migrates the databases), loads the
 * demo data once and prints where to look. Ctrl-C stops everything.
 */
import { integerVar, parseEnv, redactUrl } from "@catalog/proto";
import {
  dockerEngineAvailable,
  type Infrastructure,
  infrastructureFrom,
  managementEndpoint,
  portInUse,
  probeAmqp,
  probePostgres,
} from "./infra.ts";
import { seedDemoData } from "./seed.ts";
import { defaultPorts, type Stack, type StackPorts, startStack } from "./stack.ts";

const env = Deno.env.toObject();
let infra: Infrastructure;
let ports: StackPorts;
try {
  infra = infrastructureFrom(env);
  // The launcher must know the ports to wait for the services, so 0 is refused.
  const port = (fallback: number) => integerVar(fallback, { min: 1, max: 65535 });
  const vars = parseEnv("catalog", {
    GATEWAY_PORT: port(defaultPorts.gateway),
    COMMAND_GRPC_PORT: port(defaultPorts.command),
    QUERY_GRPC_PORT: port(defaultPorts.query),
  }, env);
  ports = {
    gateway: vars.GATEWAY_PORT,
    command: vars.COMMAND_GRPC_PORT,
    query: vars.QUERY_GRPC_PORT,
  };
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  Deno.exit(1);
}

async function missingInfrastructure(): Promise<string[]> {
  const [postgresProblem, rabbitProblem] = await Promise.all([
    probePostgres(infra.writeDatabaseUrl),
    probeAmqp(infra.amqpUrl),
  ]);
  const missing: string[] = [];
  if (postgresProblem) {
    missing.push(`PostgreSQL at ${redactUrl(infra.writeDatabaseUrl)} (${postgresProblem})`);
  }
  if (rabbitProblem) missing.push(`RabbitMQ at ${redactUrl(infra.amqpUrl)} (${rabbitProblem})`);
  return missing;
}

async function ensureInfrastructure(): Promise<void> {
  let missing = await missingInfrastructure();
  if (missing.length === 0) return;
  if (await dockerEngineAvailable()) {
    console.log(`Not answering: ${missing.join("; ")}. Starting them with Docker Compose…`);
    const { success } = await new Deno.Command("docker", {
      args: ["compose", "up", "--detach", "--wait"],
      cwd: new URL("../", import.meta.url).pathname,
    }).spawn().status;
    if (!success) throw new Error("Cannot start the infrastructure: docker compose up failed");
    missing = await missingInfrastructure();
    if (missing.length === 0) return;
  }
  console.error(
    [
      "Cannot start the catalog: the infrastructure it needs is not answering.",
      ...missing.map((item) => `  - ${item}`),
      "",
      "Start them in one of these ways, then run `deno task dev` again:",
      "  - with Docker:        docker compose up --detach --wait",
      "  - installed locally:  start PostgreSQL (trust auth for user postgres on 5432) and",
      "                        RabbitMQ (guest/guest on 5672), e.g. `rabbitmq-server -detached`",
      "  - elsewhere:          set WRITE_DATABASE_URL, READ_DATABASE_URL and AMQP_URL",
    ].join("\n"),
  );
  Deno.exit(1);
}

async function managementUiUrl(): Promise<string> {
  const { base, authorization } = managementEndpoint(infra.managementUrl);
  try {
    const response = await fetch(`${base}/api/overview`, {
      headers: { authorization },
      signal: AbortSignal.timeout(2000),
    });
    await response.body?.cancel();
    if (response.ok) return `${base}/  (guest / guest)`;
  } catch {
    // Reported below.
  }
  return `${base}/  (not answering: enable it with \`rabbitmq-plugins enable rabbitmq_management\`)`;
}

await ensureInfrastructure();
const taken = Object.entries(ports).filter(([, port]) => portInUse(port));
if (taken.length > 0) {
  const variables = {
    gateway: "GATEWAY_PORT",
    command: "COMMAND_GRPC_PORT",
    query: "QUERY_GRPC_PORT",
  };
  console.error(
    [
      "Cannot start the catalog: ports it needs are in use (is it already running?).",
      ...taken.map(([service, port]) =>
        `  - ${port} for the ${service} (${
          variables[service as keyof typeof variables]
        } picks another)`
      ),
    ].join("\n"),
  );
  Deno.exit(1);
}

let stack: Stack;
try {
  stack = await startStack({ ports });
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  Deno.exit(1);
}

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log("Stopping the catalog…");
  await stack.close();
  console.log("Stopped.");
  Deno.exit(0);
}
Deno.addSignalListener("SIGINT", shutdown);
Deno.addSignalListener("SIGTERM", shutdown);

try {
  const totals = await seedDemoData(stack.graphqlUrl);
  console.log(`Demo data: ${totals.categories} categories, ${totals.products} products.`);
} catch (error) {
  console.warn(`Demo data not loaded: ${error instanceof Error ? error.message : error}`);
}

console.log(
  [
    "",
    "The catalog is running:",
    `  GraphQL and GraphiQL  http://localhost:${ports.gateway}/graphql`,
    `  Health / readiness    http://localhost:${ports.gateway}/health  /ready`,
    `  Command gRPC          localhost:${ports.command}`,
    `  Query gRPC            localhost:${ports.query}`,
    `  RabbitMQ management   ${await managementUiUrl()}`,
    "Press Ctrl-C to stop.",
    "",
  ].join("\n"),
);
