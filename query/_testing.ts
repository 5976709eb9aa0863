/** Helpers for this folder's tests only. */
import { type QueryClient } from "@catalog/proto";
import { createQueryClient } from "@catalog/runtime";
import { startQueryService } from "./service.ts";

/**
 * Runs fn with a client of a query service started on a free port over the
 * given read database; stops both afterwards, whether fn fails or not.
 */
export async function withClient(
  readDatabaseUrl: string,
  fn: (client: QueryClient) => Promise<void>,
): Promise<void> {
  const service = await startQueryService(
    { grpcHost: "127.0.0.1", grpcPort: 0, readDatabaseUrl },
    { log: () => {}, healthIntervalMs: 100 },
  );
  const client = createQueryClient(`127.0.0.1:${service.port}`);
  try {
    await fn(client);
  } finally {
    client.close();
    await service.stop();
  }
}
