import postgres from "postgres";
import { infrastructureFrom, maintenanceUrl, managementApi } from "@catalog/dev";
import { migrate } from "../worker/migrate.ts";

/**
 * Throwaway RabbitMQ vhosts and PostgreSQL databases on the developer's
 * infrastructure (found through the same variables the services read), so
 * that test runs never collide. Each piece is removed by its dispose(), or
 * by `await using`.
 */

/** A RabbitMQ vhost of its own, with full permissions for the guest user. */
export interface TestVhost extends AsyncDisposable {
  name: string;
  /** AMQP URL of the vhost, with the developer's credentials. */
  amqpUrl: string;
  /** RabbitMQ management HTTP API, with credentials, for managementApi(). */
  managementUrl: string;
  /** Deletes the vhost, with whatever it holds. */
  dispose(): Promise<void>;
}

/** A PostgreSQL database of its own. */
export interface TestDatabase extends AsyncDisposable {
  name: string;
  /** URL of the database, with the server's credentials. */
  url: string;
  /** Drops the database if it exists, cutting any connection still open to it. */
  dispose(): Promise<void>;
}

/** Options of createDatabase(). */
export interface TestDatabaseOptions {
  /** The server of WRITE_DATABASE_URL or of READ_DATABASE_URL. Default "write". */
  server?: "write" | "read";
  /** Create the database now; otherwise its user does (the worker's migrations). Default false. */
  create?: boolean;
}

/** A throwaway pair of databases and a RabbitMQ vhost, so test runs never collide. */
export interface Sandbox {
  /** Environment that points the services at the sandbox. */
  env: {
    WRITE_DATABASE_URL: string;
    READ_DATABASE_URL: string;
    AMQP_URL: string;
  };
  vhost: string;
  managementUrl: string;
  /** Drops the databases and deletes the vhost. */
  dispose(): Promise<void>;
}

/** A name that starts with prefix and that no other run uses. */
function uniqueName(prefix: string): string {
  return `${prefix}_t${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
}

function withPath(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

/** Creates a vhost named after prefix on the developer's RabbitMQ. */
export async function createVhost(prefix: string): Promise<TestVhost> {
  const { amqpUrl, managementUrl } = infrastructureFrom(Deno.env.toObject());
  const name = uniqueName(prefix);
  const dispose = async () => {
    await managementApi(managementUrl, "DELETE", `/vhosts/${name}`);
  };
  await managementApi(managementUrl, "PUT", `/vhosts/${name}`);
  try {
    await managementApi(managementUrl, "PUT", `/permissions/${name}/guest`, {
      configure: ".*",
      write: ".*",
      read: ".*",
    });
  } catch (error) {
    await dispose();
    throw error;
  }
  return {
    name,
    amqpUrl: withPath(amqpUrl, name),
    managementUrl,
    dispose,
    [Symbol.asyncDispose]: dispose,
  };
}

/** Names (and, if asked, creates) a database named after prefix on the developer's PostgreSQL. */
export async function createDatabase(
  prefix: string,
  options: TestDatabaseOptions = {},
): Promise<TestDatabase> {
  const infra = infrastructureFrom(Deno.env.toObject());
  const serverUrl = options.server === "read" ? infra.readDatabaseUrl : infra.writeDatabaseUrl;
  const name = uniqueName(prefix);
  const onServer = async (statement: (sql: postgres.Sql) => Promise<unknown>) => {
    const sql = postgres(maintenanceUrl(serverUrl), { max: 1, onnotice: () => {} });
    try {
      await statement(sql);
    } finally {
      await sql.end({ timeout: 5 });
    }
  };
  if (options.create) await onServer((sql) => sql`create database ${sql(name)}`);
  const dispose = () => onServer((sql) => sql`drop database if exists ${sql(name)} with (force)`);
  return { name, url: withPath(serverUrl, name), dispose, [Symbol.asyncDispose]: dispose };
}

/** Options of createSandbox(). */
export interface SandboxOptions {
  /**
   * Create and migrate the databases now, as a worker would at its start,
   * so that a stack can start every process at once (startStack()'s
   * `migrated`). Otherwise the first worker creates them. Default false.
   */
  migrated?: boolean;
}

/**
 * Makes a sandbox on the developer's PostgreSQL and RabbitMQ: the vhost is
 * created here, the databases here if asked to, or else by the first worker.
 */
export async function createSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const vhost = await createVhost("catalog");
  const write = await createDatabase("catalog_write");
  const read = await createDatabase("catalog_read", { server: "read" });
  if (options.migrated) {
    try {
      await migrate({ writeUrl: write.url, readUrl: read.url });
    } catch (error) {
      await Promise.allSettled([vhost.dispose(), write.dispose(), read.dispose()]);
      throw error;
    }
  }
  return {
    env: {
      WRITE_DATABASE_URL: write.url,
      READ_DATABASE_URL: read.url,
      AMQP_URL: vhost.amqpUrl,
    },
    vhost: vhost.name,
    managementUrl: vhost.managementUrl,
    async dispose() {
      await vhost.dispose().catch(() => {});
      await write.dispose();
      await read.dispose();
    },
  };
}
