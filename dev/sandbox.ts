import postgres from "postgres";
import { infrastructureFrom, maintenanceUrl, managementApi } from "./infra.ts";

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

/**
 * Makes a sandbox on the developer's PostgreSQL and RabbitMQ. The databases
 * are created later by the worker's migrations; the vhost is created here.
 */
export async function createSandbox(label = "t"): Promise<Sandbox> {
  const infra = infrastructureFrom(Deno.env.toObject());
  const suffix = `${label}_${crypto.randomUUID().slice(0, 8)}`;
  const vhost = `catalog_${suffix}`;
  await managementApi(infra.managementUrl, "PUT", `/vhosts/${vhost}`);
  await managementApi(infra.managementUrl, "PUT", `/permissions/${vhost}/guest`, {
    configure: ".*",
    write: ".*",
    read: ".*",
  });
  const database = (url: string, name: string) => {
    const parsed = new URL(url);
    parsed.pathname = `/${name}`;
    return parsed.toString();
  };
  const amqpUrl = new URL(infra.amqpUrl);
  amqpUrl.pathname = `/${vhost}`;
  const writeName = `catalog_write_${suffix}`;
  const readName = `catalog_read_${suffix}`;
  return {
    env: {
      WRITE_DATABASE_URL: database(infra.writeDatabaseUrl, writeName),
      READ_DATABASE_URL: database(infra.readDatabaseUrl, readName),
      AMQP_URL: amqpUrl.toString(),
    },
    vhost,
    managementUrl: infra.managementUrl,
    async dispose() {
      await managementApi(infra.managementUrl, "DELETE", `/vhosts/${vhost}`).catch(() => {});
      for (
        const [url, name] of [[infra.writeDatabaseUrl, writeName], [
          infra.readDatabaseUrl,
          readName,
        ]] as const
      ) {
        const sql = postgres(maintenanceUrl(url), { max: 1, onnotice: () => {} });
        try {
          await sql.unsafe(`drop database if exists "${name}" with (force)`);
        } finally {
          await sql.end({ timeout: 1 });
        }
      }
    },
  };
}

/** A TCP port nobody is listening on right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}
