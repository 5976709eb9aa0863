import postgres from "postgres";
import {
  aggregateTypeOf,
  type CommandEnvelope,
  type CommandType,
  parseCommandEnvelope,
} from "@catalog/proto";
import { migrate } from "./migrate.ts";

/** postgres.js's client, as the tests hold it. */
export type Sql = postgres.Sql;

/** A throwaway pair of migrated databases with a pool on each. */
export interface TestDatabases {
  writeUrl: string;
  readUrl: string;
  write: Sql;
  read: Sql;
}

function serverUrl(): string {
  return Deno.env.get("WRITE_DATABASE_URL") ?? "postgres://postgres@localhost:5432/catalog_write";
}

function databaseUrl(name: string): string {
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops the databases the URLs name, cutting any connection still open to them. */
export async function dropDatabases(...urls: string[]): Promise<void> {
  const maintenance = new URL(serverUrl());
  maintenance.pathname = "/postgres";
  const sql = postgres(maintenance.toString(), { max: 1, onnotice: () => {} });
  try {
    for (const url of urls) {
      const name = decodeURIComponent(new URL(url).pathname.slice(1));
      await sql`drop database if exists ${sql(name)} with (force)`;
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Names for a fresh write and read database that no other run uses. */
export function freshDatabaseUrls(): { writeUrl: string; readUrl: string } {
  const suffix = `t${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  return {
    writeUrl: databaseUrl(`catalog_write_${suffix}`),
    readUrl: databaseUrl(`catalog_read_${suffix}`),
  };
}

/** Runs fn with freshly created and migrated databases, and drops them afterwards. */
export async function withDatabases(fn: (databases: TestDatabases) => Promise<void>) {
  const { writeUrl, readUrl } = freshDatabaseUrls();
  try {
    await migrate({ writeUrl, readUrl });
    const write = postgres(writeUrl, { max: 4, onnotice: () => {} });
    const read = postgres(readUrl, { max: 4, onnotice: () => {} });
    try {
      await fn({ writeUrl, readUrl, write, read });
    } finally {
      await write.end({ timeout: 5 });
      await read.end({ timeout: 5 });
    }
  } finally {
    await dropDatabases(writeUrl, readUrl);
  }
}

function managementEndpoint(): { base: string; authorization: string } {
  const url = new URL(
    Deno.env.get("RABBITMQ_MANAGEMENT_URL") ?? "http://guest:guest@localhost:15672",
  );
  const authorization = `Basic ${
    btoa(
      `${decodeURIComponent(url.username || "guest")}:${
        decodeURIComponent(url.password || "guest")
      }`,
    )
  }`;
  url.username = "";
  url.password = "";
  return { base: url.toString().replace(/\/$/, ""), authorization };
}

/** Calls the RabbitMQ management HTTP API and answers its JSON, if any. */
export async function managementApi(
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const { base, authorization } = managementEndpoint();
  const response = await fetch(`${base}/api${path}`, {
    method,
    headers: { authorization, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`RabbitMQ management API ${method} ${path} failed: ${response.status} ${text}`);
  }
  return text ? JSON.parse(text) : undefined;
}

/** Runs fn with the AMQP URL of a fresh RabbitMQ vhost, and deletes the vhost afterwards. */
export async function withVhost(fn: (amqpUrl: string) => Promise<void>): Promise<void> {
  const vhost = `catalog_worker_t${crypto.randomUUID().slice(0, 8)}`;
  await managementApi("PUT", `/vhosts/${vhost}`);
  try {
    await managementApi("PUT", `/permissions/${vhost}/guest`, {
      configure: ".*",
      write: ".*",
      read: ".*",
    });
    const url = new URL(Deno.env.get("AMQP_URL") ?? "amqp://guest:guest@localhost:5672");
    url.pathname = `/${vhost}`;
    await fn(url.toString());
  } finally {
    await managementApi("DELETE", `/vhosts/${vhost}`);
  }
}

/** Polls check() every 25 ms until it answers true; fails after timeoutMs. */
export async function eventually(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A clock that answers the given start time, then one second later on every call. */
export function steppingClock(start = "2025-01-01T00:00:00.000Z"): () => Date {
  let next = Date.parse(start);
  return () => {
    const now = new Date(next);
    next += 1000;
    return now;
  };
}

/** A command envelope as the command service would publish it, read back through the contract. */
export function commandEnvelope<T extends CommandType>(
  type: T,
  aggregateId: string,
  payload: Record<string, unknown>,
  overrides: Partial<CommandEnvelope> = {},
): CommandEnvelope<T> {
  const envelope = {
    schemaVersion: 1,
    commandId: crypto.randomUUID(),
    type,
    aggregateType: aggregateTypeOf[type],
    aggregateId,
    payload,
    issuedAt: "2025-01-01T00:00:00.000Z",
    actor: "test",
    correlationId: crypto.randomUUID(),
    ...overrides,
  };
  return parseCommandEnvelope(
    new TextEncoder().encode(JSON.stringify(envelope)),
  ) as CommandEnvelope<
    T
  >;
}
