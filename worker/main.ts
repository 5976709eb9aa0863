/**
 * The worker's composition root: reads the environment, creates and migrates
 * both databases, then consumes commands until SIGINT or SIGTERM, when it
 * finishes the command in hand and exits 0.
 */
import { parseWorkerConfig } from "./config.ts";
import { messageOf } from "./faults.ts";
import { migrate } from "./migrate.ts";
import { startWorker, type Worker } from "./worker.ts";

const startup = new AbortController();
let worker: Worker | undefined;
let stopping = false;

async function shutdown(signal: Deno.Signal): Promise<void> {
  if (stopping) {
    console.log(`${signal} again: exiting at once`);
    Deno.exit(1);
  }
  stopping = true;
  console.log(`${signal}: stopping`);
  startup.abort();
  if (worker) {
    await worker.stop();
    Deno.exit(0);
  }
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => shutdown(signal));
}

try {
  const config = parseWorkerConfig(Deno.env.toObject());
  await migrate({
    writeUrl: config.writeDatabaseUrl,
    readUrl: config.readDatabaseUrl,
    log: (line) => console.log(line),
  });
  worker = await startWorker(config, { signal: startup.signal });
  if (stopping) {
    await worker.stop();
    Deno.exit(0);
  }
} catch (error) {
  if (stopping) Deno.exit(0);
  console.error(`Cannot start the worker: ${messageOf(error)}`);
  Deno.exit(1);
}
