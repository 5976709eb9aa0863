import { survivePostgresClosedSocketWrites } from "@catalog/proto";
import { parseQueryConfig } from "./config.ts";
import { type QueryService, startQueryService } from "./service.ts";

const SHUTDOWN_LIMIT_MS = 5000;

let config;
survivePostgresClosedSocketWrites((line) => console.error(line));

try {
  config = parseQueryConfig(Deno.env.toObject());
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  Deno.exit(1);
}

let service: QueryService;
try {
  service = await startQueryService(config);
} catch (error) {
  console.error(
    `Cannot start the query service: ${error instanceof Error ? error.message : error}`,
  );
  Deno.exit(1);
}

let shuttingDown = false;
async function shutDown(signal: string): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  console.log(`Query service stopping (${signal})`);
  const limit = new Promise<void>((resolve) => setTimeout(resolve, SHUTDOWN_LIMIT_MS));
  await Promise.race([service.stop().catch((error) => console.error(error)), limit]);
  Deno.exit(0);
}

Deno.addSignalListener("SIGINT", () => shutDown("SIGINT"));
Deno.addSignalListener("SIGTERM", () => shutDown("SIGTERM"));
