/** Helpers for this folder's tests only. */
import { type QueryClient } from "@catalog/proto";
import { createQueryClient } from "@catalog/runtime";
import { type QueryServiceConfig, startQueryService } from "./service.ts";

/** The limits a test may give the service it starts (see QueryServiceConfig). */
export type TestLimits = Pick<QueryServiceConfig, "maxListItems" | "statementTimeoutMs">;

/**
 * Runs fn with a client of a query service started on a free port over the
 * given read database (with limits, if given); stops both afterwards, whether
 * fn fails or not.
 */
export async function withClient(
  readDatabaseUrl: string,
  fn: (client: QueryClient) => Promise<void>,
  limits: TestLimits & { log?: (line: string) => void } = {},
): Promise<void> {
  const { log = () => {}, ...settings } = limits;
  const service = await startQueryService(
    { grpcHost: "127.0.0.1", grpcPort: 0, readDatabaseUrl, ...settings },
    { log, healthIntervalMs: 100 },
  );
  const client = createQueryClient(`127.0.0.1:${service.port}`);
  try {
    await fn(client);
  } finally {
    client.close();
    await service.stop();
  }
}
