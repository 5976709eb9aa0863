/**
 * `deno task dev`: checks the infrastructure (starting it with Docker Compose
 * when it is missing and a Docker engine is there), starts the four services
 * with prefixed logs (the worker creates and migrates the databases), loads the
 * demo data once and prints where to look. Ctrl-C stops everything.
 */
import {
  DEVELOPMENT_JWT_SECRET,
  integerVar,
  parseEnv,
  redactUrl,
  signDevelopmentToken,
} from "@catalog/runtime";
import {
  dockerEngineAvailable,
  enablePlugins,
  type Infrastructure,
  infrastructureFrom,
  isLocalHost,
  managementEndpoint,
  portInUse,
  probeAmqp,
  probePostgres,
} from "./infra.ts";
import { seedDemoData } from "./seed.ts";
import {
  defaultPorts,
  type ProcessName,
  type Stack,
  type StackPorts,
  startStack,
} from "./stack.ts";
import { Supervisor } from "./supervisor.ts";

const env = Deno.env.toObject();
let infra: Infrastructure;
let ports: StackPorts;
let healthPorts: { command: number; query: number; worker: number };
try {
  infra = infrastructureFrom(env);
  // The launcher must know the ports to wait for the services, so 0 is refused.
  const port = (fallback: number) => integerVar(fallback, { min: 1, max: 65535 });
  const vars = parseEnv("catalog", {
    GATEWAY_PORT: port(defaultPorts.gateway),
    COMMAND_GRPC_PORT: port(defaultPorts.command),
    QUERY_GRPC_PORT: port(defaultPorts.query),
    COMMAND_HTTP_PORT: port(9101),
    QUERY_HTTP_PORT: port(9102),
    WORKER_HTTP_PORT: port(9103),
  }, env);
  ports = {
    gateway: vars.GATEWAY_PORT,
    command: vars.COMMAND_GRPC_PORT,
    query: vars.QUERY_GRPC_PORT,
  };
  healthPorts = {
    command: vars.COMMAND_HTTP_PORT,
    query: vars.QUERY_HTTP_PORT,
    worker: vars.WORKER_HTTP_PORT,
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
  if (rabbitProblem?.missingPlugin) {
    await explainOrEnablePlugin(rabbitProblem.missingPlugin);
    return await missingInfrastructure();
  }
  if (rabbitProblem) {
    missing.push(`RabbitMQ at ${redactUrl(infra.amqpUrl)} (${rabbitProblem.message})`);
  }
  return missing;
}

let triedPlugins = false;

/**
 * RabbitMQ answers but lacks the consistent-hash exchange (off in a stock
 * install): enable it when the broker is this machine's and
 * `rabbitmq-plugins` works, with the management UI beside it; otherwise say
 * exactly what to run, and stop.
 */
async function explainOrEnablePlugin(plugin: string): Promise<void> {
  const plugins = [plugin, "rabbitmq_management"];
  if (!triedPlugins && isLocalHost(infra.amqpUrl)) {
    triedPlugins = true;
    console.log(
      `RabbitMQ has the ${plugin} plugin off; enabling it: rabbitmq-plugins enable ${
        plugins.join(" ")
      }`,
    );
    const problem = await enablePlugins(plugins);
    if (!problem) return;
    console.log(`Cannot enable it here: ${problem}`);
  }
  console.error(
    `Cannot start the catalog: RabbitMQ at ${
      redactUrl(infra.amqpUrl)
    } answers, but its ${plugin} ` +
      "plugin is not enabled. The catalog routes every command to one of its partition queues " +
      "by the entity it is for, with the consistent-hash exchange that this plugin provides (it " +
      "ships with RabbitMQ, off by default). Enable it on the broker, then run `deno task dev` " +
      `again:\n\n  rabbitmq-plugins enable ${plugins.join(" ")}\n`,
  );
  Deno.exit(1);
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
const wanted = [
  [ports.gateway, "the gateway", "GATEWAY_PORT"],
  [ports.command, "the command service", "COMMAND_GRPC_PORT"],
  [ports.query, "the query service", "QUERY_GRPC_PORT"],
  [healthPorts.command, "the command service's health", "COMMAND_HTTP_PORT"],
  [healthPorts.query, "the query service's health", "QUERY_HTTP_PORT"],
  [healthPorts.worker, "the worker's health", "WORKER_HTTP_PORT"],
] as const;
const taken = wanted.filter(([port]) => portInUse(port));
if (taken.length > 0) {
  console.error(
    [
      "Cannot start the catalog: ports it needs are in use (is it already running?).",
      ...taken.map(([port, what, variable]) =>
        `  - ${port} for ${what} (${variable} picks another)`
      ),
    ].join("\n"),
  );
  Deno.exit(1);
}

let stopping = false;
let stack: Stack | undefined;
const supervisor = new Supervisor<ProcessName>({
  restart: (process) => stack!.start(process),
  giveUp(reason) {
    console.error(`Stopping the catalog: ${reason}.`);
    void shutdown(1);
  },
  log: (line) => console.log(line),
});
try {
  stack = await startStack({
    ports,
    healthPorts,
    onExit: (process, status) => supervisor.exited(process, status),
  });
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  Deno.exit(1);
}

async function shutdown(code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  supervisor.stop();
  console.log("Stopping the catalog…");
  await stack?.close();
  console.log("Stopped.");
  Deno.exit(code);
}
Deno.addSignalListener("SIGINT", () => shutdown());
Deno.addSignalListener("SIGTERM", () => shutdown());

// Tokens of this run are signed with the secret the services verify with.
const secret = env.AUTH_JWT_SECRET?.trim() || DEVELOPMENT_JWT_SECRET;
const issued = { secret, issuer: env.AUTH_ISSUER?.trim(), audience: env.AUTH_AUDIENCE?.trim() };
try {
  const seeder = await signDevelopmentToken({
    ...issued,
    subject: "demo-seed",
    role: "catalog:write",
  });
  const totals = await seedDemoData(stack!.graphqlUrl, seeder);
  console.log(`Demo data: ${totals.categories} categories, ${totals.products} products.`);
} catch (error) {
  console.warn(`Demo data not loaded: ${error instanceof Error ? error.message : error}`);
}

const writer = await signDevelopmentToken({
  ...issued,
  subject: "developer",
  role: "catalog:write",
});
console.log(
  [
    "",
    "The catalog is running:",
    `  GraphQL and GraphiQL  http://localhost:${ports.gateway}/graphql`,
    `  Health / readiness    http://localhost:${ports.gateway}/health  /ready  /metrics`,
    `    of the services     command :${healthPorts.command}, query :${healthPorts.query}, ` +
    `worker :${healthPorts.worker} (/health, /ready, /metrics)`,
    `  Command gRPC          localhost:${ports.command}`,
    `  Query gRPC            localhost:${ports.query}`,
    `  RabbitMQ management   ${await managementUiUrl()}`,
    "",
    "Reads need no token. Mutations need one with catalog:write; here is one for",
    '"developer", valid 8 hours (more: deno task token -- --sub alice --role catalog:write):',
    `  ${writer}`,
    '  GraphiQL: paste into Headers  {"Authorization": "Bearer <token>"}',
    `  curl:     curl -H "Authorization: Bearer $TOKEN" -H "content-type: application/json" \\`,
    `              -d '{"query":"mutation { createCategory(input: {name: \\"Games\\"}) { id name } }"}' \\`,
    `              http://localhost:${ports.gateway}/graphql`,
    "",
    "Press Ctrl-C to stop.",
    "",
  ].join("\n"),
);
