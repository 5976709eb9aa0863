import { parseCommandConfig } from "./config.ts";
import { type CommandService, startCommandService } from "./service.ts";

const SHUTDOWN_LIMIT_MS = 5000;

let config;
try {
  config = parseCommandConfig(Deno.env.toObject());
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  Deno.exit(1);
}

let service: CommandService;
try {
  service = await startCommandService(config);
} catch (error) {
  console.error(
    `Cannot start the command service: ${error instanceof Error ? error.message : error}`,
  );
  Deno.exit(1);
}

let shuttingDown = false;
async function shutDown(signal: string): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  console.log(`Command service stopping (${signal})`);
  const limit = new Promise<void>((resolve) => setTimeout(resolve, SHUTDOWN_LIMIT_MS));
  await Promise.race([service.stop().catch((error) => console.error(error)), limit]);
  Deno.exit(0);
}

Deno.addSignalListener("SIGINT", () => shutDown("SIGINT"));
Deno.addSignalListener("SIGTERM", () => shutDown("SIGTERM"));
