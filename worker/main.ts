/**
 * The worker's composition root: reads the environment, creates and migrates
 * both databases, then consumes commands until SIGINT or SIGTERM, when it
 * finishes the command in hand and exits 0. Stopping has STOP_LIMIT_MS; past
 * it, the worker says what it gave up waiting for and exits 1, and RabbitMQ
 * redelivers a command it had not acknowledged.
 */
import { survivePostgresClosedSocketWrites } from "@catalog/proto";
import { parseWorkerConfig } from "./config.ts";
import { messageOf } from "./faults.ts";
import { migrate } from "./migrate.ts";
import { startWorker, type Worker } from "./worker.ts";

/**
 * How long stopping may take from the first signal: the command in hand gets
 * up to 10 s (startWorker()'s grace), closing RabbitMQ and the databases the rest.
 */
const STOP_LIMIT_MS = 15_000;

survivePostgresClosedSocketWrites((line) => console.error(line));

const startup = new AbortController();
let worker: Worker | undefined;
let stopping = false;

function giveUp(): void {
  const what = worker ? worker.waitingFor ?? "the worker to stop" : "the worker to start";
  console.error(
    `Cannot stop within ${STOP_LIMIT_MS} ms: gave up waiting for ${what}; exiting, and ` +
      "RabbitMQ will redeliver any command not acknowledged",
  );
  Deno.exit(1);
}

async function stopAndExit(running: Worker): Promise<void> {
  await running.stop();
  Deno.exit(0);
}

async function shutdown(signal: Deno.Signal): Promise<void> {
  if (stopping) {
    // A second Ctrl-C means "now"; a SIGTERM after it (a launcher stopping
    // the process group it already interrupted) changes nothing.
    if (signal === "SIGTERM") return;
    console.log(`${signal} again: exiting at once`);
    Deno.exit(1);
  }
  stopping = true;
  console.log(`${signal}: stopping`);
  setTimeout(giveUp, STOP_LIMIT_MS);
  startup.abort();
  if (worker) await stopAndExit(worker);
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
  if (stopping) await stopAndExit(worker);
} catch (error) {
  if (stopping) Deno.exit(0);
  console.error(`Cannot start the worker: ${messageOf(error)}`);
  Deno.exit(1);
}
