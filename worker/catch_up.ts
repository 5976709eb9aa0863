import { backoffDelay } from "@catalog/runtime";
import { messageOf, sleep } from "./faults.ts";
import type { ProjectionReport } from "./project.ts";

/** Options of startCatchUp(). */
export interface CatchUpOptions {
  /** Receives a line when a background projection fails. Default: console.error. */
  log?: (line: string) => void;
  /** First pause before projecting again, in milliseconds. Default 50. */
  initialDelayMs?: number;
  /** Longest pause between projections, in milliseconds. Default 2000. */
  maxDelayMs?: number;
}

/** Projects again in the background while rows are held back. */
export interface CatchUp {
  /** Starts following up, unless already doing so: projects again, with backoff, until nothing is held back. */
  poke(): void;
  /** Stops following up and waits for a projection in progress. */
  stop(): Promise<void>;
}

/**
 * Follows up a projection that found committed rows held back by an older
 * write transaction still open (another worker mid-command, or any long
 * transaction on the server). Without it, those rows would wait for the next
 * command to arrive before becoming readable.
 */
export function startCatchUp(
  run: () => Promise<ProjectionReport>,
  options: CatchUpOptions = {},
): CatchUp {
  const log = options.log ?? ((line: string) => console.error(line));
  const backoff = { initialMs: options.initialDelayMs ?? 50, maxMs: options.maxDelayMs ?? 2000 };
  const stopping = new AbortController();
  let following: Promise<void> | undefined;

  async function follow(): Promise<void> {
    for (let attempt = 0;; attempt++) {
      await sleep(backoffDelay(attempt, backoff), stopping.signal);
      if (stopping.signal.aborted) return;
      try {
        if (!(await run()).heldBack) return;
      } catch (error) {
        log(`cannot catch up the read database: ${messageOf(error)}`);
      }
    }
  }

  const catchUp: CatchUp = {
    poke() {
      if (following || stopping.signal.aborted) return;
      following = follow().finally(() => following = undefined);
    },
    async stop() {
      stopping.abort();
      await following;
    },
  };
  return catchUp;
}
