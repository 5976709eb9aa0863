import { handleCommand } from "./handle_command.ts";
import postgres from "postgres";
import {
  aggregateTypeOf,
  type CommandEnvelope,
  type CommandType,
  parseCommandEnvelope,
} from "@catalog/proto";
import { createDatabase, createVhost, type TestVhost } from "@catalog/testkit";
import { migrate } from "./migrate.ts";
export { eventually } from "@catalog/testkit";

/** postgres.js's client, as the tests hold it. */
export type Sql = postgres.Sql;

/** A throwaway pair of migrated databases with a pool on each. */
export interface TestDatabases {
  writeUrl: string;
  readUrl: string;
  write: Sql;
  read: Sql;
}

/** Runs fn with freshly created and migrated databases, and drops them afterwards. */
export async function withDatabases(fn: (databases: TestDatabases) => Promise<void>) {
  await using writeDatabase = await createDatabase("catalog_write");
  await using readDatabase = await createDatabase("catalog_read");
  const writeUrl = writeDatabase.url;
  const readUrl = readDatabase.url;
  await migrate({ writeUrl, readUrl });
  const write = postgres(writeUrl, { max: 4, onnotice: () => {} });
  const read = postgres(readUrl, { max: 4, onnotice: () => {} });
  try {
    await fn({ writeUrl, readUrl, write, read });
  } finally {
    await write.end({ timeout: 5 });
    await read.end({ timeout: 5 });
  }
}

/** Runs fn with the AMQP URL of a fresh RabbitMQ vhost, and deletes the vhost afterwards. */
export async function withVhost(
  fn: (amqpUrl: string, vhost: TestVhost) => Promise<void>,
): Promise<void> {
  await using vhost = await createVhost("catalog_worker");
  await fn(vhost.amqpUrl, vhost);
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

/**
 * Handles the commands of the smallest catalog the tests start from: the
 * category Toys and, in it, the product Kite at 9.99; answers their ids.
 * Handled only: nothing is projected.
 */
export async function toysAndKite(write: Sql): Promise<{ toys: string; kite: string }> {
  const toys = crypto.randomUUID();
  const kite = crypto.randomUUID();
  await handleCommand(write, commandEnvelope("CreateCategory", toys, { name: "Toys" }));
  await handleCommand(
    write,
    commandEnvelope("CreateProduct", kite, { name: "Kite", price: "9.99", categoryId: toys }),
  );
  return { toys, kite };
}
