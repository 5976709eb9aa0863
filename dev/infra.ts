import amqp from "amqplib";
import postgres from "postgres";
import { consistentHashPlugin, declareTopology, MissingPluginError } from "@catalog/proto";
import { amqpUrlVar, httpUrlVar, parseEnv, postgresUrlVar, sharedDefaults } from "@catalog/runtime";

/** Where the infrastructure is expected, from the same variables the services read. */
export interface Infrastructure {
  writeDatabaseUrl: string;
  readDatabaseUrl: string;
  amqpUrl: string;
  /** RabbitMQ management HTTP API, with credentials: http://guest:guest@localhost:15672 */
  managementUrl: string;
}

const infrastructureVariables = {
  WRITE_DATABASE_URL: postgresUrlVar(sharedDefaults.writeDatabaseUrl),
  READ_DATABASE_URL: postgresUrlVar(sharedDefaults.readDatabaseUrl),
  AMQP_URL: amqpUrlVar(),
  RABBITMQ_MANAGEMENT_URL: httpUrlVar("http://guest:guest@localhost:15672"),
};

/**
 * Reads the infrastructure's addresses from an environment, as the services
 * read them (an empty variable counts as unset); throws ConfigError naming a
 * variable it cannot use.
 */
export function infrastructureFrom(env: Record<string, string | undefined>): Infrastructure {
  const vars = parseEnv("catalog", infrastructureVariables, env);
  return {
    writeDatabaseUrl: vars.WRITE_DATABASE_URL,
    readDatabaseUrl: vars.READ_DATABASE_URL,
    amqpUrl: vars.AMQP_URL,
    managementUrl: vars.RABBITMQ_MANAGEMENT_URL,
  };
}

/** The same server's maintenance database, which always exists. */
export function maintenanceUrl(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  url.pathname = "/postgres";
  return url.toString();
}

/** Answers undefined if PostgreSQL at that URL's server answers a query, else why not. */
export async function probePostgres(databaseUrl: string): Promise<string | undefined> {
  const sql = postgres(maintenanceUrl(databaseUrl), {
    max: 1,
    connect_timeout: 3,
    onnotice: () => {},
  });
  try {
    await sql`select 1`;
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** What probeAmqp() found wrong. */
export interface AmqpProblem {
  /** Why RabbitMQ cannot be used, in a few words. */
  message: string;
  /** Set when RabbitMQ answers but lacks this plugin the topology needs. */
  missingPlugin?: string;
}

/**
 * Answers undefined if RabbitMQ accepts an AMQP connection at that URL and
 * the catalog's topology, else what is wrong.
 */
export async function probeAmqp(amqpUrl: string): Promise<AmqpProblem | undefined> {
  try {
    const connection = await amqp.connect(amqpUrl, { timeout: 3000 });
    // An unknown exchange type closes the whole connection with an error:
    // it is the declaration's failure, reported below.
    connection.on("error", () => {});
    try {
      // The services declare the same at start-up; doing it here turns a
      // missing plugin into a plain message before anything starts.
      const channel = await connection.createChannel();
      channel.on("error", () => {});
      await declareTopology(channel);
    } finally {
      await connection.close().catch(() => {});
    }
    return undefined;
  } catch (error) {
    if (error instanceof MissingPluginError) {
      return { message: error.message, missingPlugin: consistentHashPlugin };
    }
    return { message: error instanceof Error ? error.message || String(error) : String(error) };
  }
}

/** Whether the URL's host is this machine, where `rabbitmq-plugins` can change its broker. */
export function isLocalHost(url: string): boolean {
  const host = new URL(url).hostname;
  return host === "localhost" || host === "127.0.0.1" || host === "[::1]" || host === "::1";
}

/**
 * Runs a command on this machine; answers undefined when it succeeded, else
 * the last line it said (or that it is not installed). A command that leaves
 * a daemon behind (`rabbitmq-server -detached`) runs with its output
 * discarded: the daemon would hold piped output open, and the wait for it
 * would never end.
 */
export async function runCommand(
  command: string,
  args: string[],
  options: { daemon?: boolean; env?: Record<string, string> } = {},
): Promise<string | undefined> {
  const output = options.daemon ? "null" : "piped";
  try {
    const { success, stdout, stderr } = await new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: output,
      stderr: output,
      ...(options.env ? { env: options.env } : {}),
    }).output();
    if (success) return undefined;
    if (options.daemon) return `${command} failed`;
    const said = new TextDecoder().decode(stderr).trim() || new TextDecoder().decode(stdout).trim();
    return said.split("\n").at(-1) || `${command} failed`;
  } catch (error) {
    return error instanceof Deno.errors.NotFound
      ? `${command} is not installed here`
      : error instanceof Error
      ? error.message
      : String(error);
  }
}

/**
 * Enables RabbitMQ plugins with `rabbitmq-plugins enable` on this machine;
 * answers undefined once done, or why it could not (not installed, not
 * allowed).
 */
export function enablePlugins(plugins: string[]): Promise<string | undefined> {
  return runCommand("rabbitmq-plugins", ["enable", ...plugins]);
}

/** The URL without credentials, and the Authorization header they make. */
export function managementEndpoint(managementUrl: string): { base: string; authorization: string } {
  const url = new URL(managementUrl);
  const user = decodeURIComponent(url.username || "guest");
  const password = decodeURIComponent(url.password || "guest");
  url.username = "";
  url.password = "";
  return {
    base: url.toString().replace(/\/$/, ""),
    authorization: `Basic ${btoa(`${user}:${password}`)}`,
  };
}

/** Calls the RabbitMQ management HTTP API; throws with the answer's text when it fails. */
export async function managementApi(
  managementUrl: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const { base, authorization } = managementEndpoint(managementUrl);
  const response = await fetch(`${base}/api${path}`, {
    method,
    headers: { authorization, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(
      `Cannot call the RabbitMQ management API ${method} ${path}: ${response.status} ${text}`,
    );
  }
  return text ? JSON.parse(text) : undefined;
}

/** Answers whether a Docker engine (not just the client) is reachable. */
export async function dockerEngineAvailable(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("docker", {
      args: ["info", "--format", "{{.ServerVersion}}"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

/** Answers whether something already listens on the port (on any interface). */
export function portInUse(port: number): boolean {
  try {
    Deno.listen({ hostname: "0.0.0.0", port }).close();
    return false;
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) return true;
    throw error;
  }
}

/** Ports freePort() has handed out in this process, never handed out twice. */
const handedOut = new Set<number>();

/**
 * A TCP port nobody is listening on right now, on any address. It is picked
 * below the system's ephemeral range (32768 and up on Linux), where asking
 * for port 0 would land: the outgoing connections of every process take
 * their local ports from that range, and one of them could take a port
 * between the moment it is handed out and the moment a service listens on it.
 */
export function freePort(): number {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (handedOut.has(port)) continue;
    try {
      Deno.listen({ hostname: "0.0.0.0", port }).close();
    } catch {
      continue;
    }
    handedOut.add(port);
    return port;
  }
  throw new Error("Cannot find a free port between 20000 and 32000");
}
