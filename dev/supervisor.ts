/**
 * What `deno task dev` does when one of its services exits by itself: says
 * what exited and how, starts it again after a backoff, and gives up (so the
 * runner stops everything) when the same service keeps dying.
 */

/** Options of Supervisor. */
export interface SupervisorOptions<Name extends string> {
  /** Starts the process again; resolves once it is ready, rejects if it cannot start. */
  restart: (process: Name) => Promise<void>;
  /** Called once when a process died too often: stop everything, saying why. */
  giveUp: (reason: string) => void;
  /** Receives a line per exit and per restart. */
  log: (line: string) => void;
  /** First wait before a restart; it doubles with each restart in the window. Default 1000 ms. */
  firstDelayMs?: number;
  /** Longest wait before a restart. Default 30000 ms. */
  maxDelayMs?: number;
  /** Restarts of one process allowed within windowMs before giving up. Default 5. */
  limit?: number;
  /** The window restarts are counted in. Default 300000 ms (5 minutes). */
  windowMs?: number;
  /** The clock restarts are counted by. Default Date.now. */
  now?: () => number;
}

/** How a process exited, in words: "exit code 1", "signal SIGKILL". */
export function describeExit(status: Deno.CommandStatus): string {
  return status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
}

/** Restarts processes that exit by themselves, with backoff and a limit. */
export class Supervisor<Name extends string> {
  readonly #options: Required<Omit<SupervisorOptions<Name>, "restart" | "giveUp" | "log">>;
  readonly #restart: (process: Name) => Promise<void>;
  readonly #giveUp: (reason: string) => void;
  readonly #log: (line: string) => void;
  readonly #restarts = new Map<Name, number[]>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #stopped = false;

  constructor(options: SupervisorOptions<Name>) {
    this.#restart = options.restart;
    this.#giveUp = options.giveUp;
    this.#log = options.log;
    this.#options = {
      firstDelayMs: options.firstDelayMs ?? 1000,
      maxDelayMs: options.maxDelayMs ?? 30_000,
      limit: options.limit ?? 5,
      windowMs: options.windowMs ?? 300_000,
      now: options.now ?? Date.now,
    };
  }

  /** Tells the supervisor that a process exited without being stopped. */
  exited(process: Name, status: Deno.CommandStatus): void {
    if (this.#stopped) return;
    const { limit, windowMs, firstDelayMs, maxDelayMs, now } = this.#options;
    const recent = (this.#restarts.get(process) ?? []).filter((at) => now() - at < windowMs);
    if (recent.length >= limit) {
      this.#stopped = true;
      this.#giveUp(
        `${process} exited by itself (${describeExit(status)}) ${recent.length + 1} times within ` +
          `${Math.round(windowMs / 1000)} s; not restarting it again. Its last lines above say why`,
      );
      return;
    }
    recent.push(now());
    this.#restarts.set(process, recent);
    const delay = Math.min(firstDelayMs * 2 ** (recent.length - 1), maxDelayMs);
    this.#log(
      `${process} exited by itself (${describeExit(status)}); restarting it in ${delay} ms ` +
        `(restart ${recent.length} of at most ${limit} within ${Math.round(windowMs / 1000)} s)`,
    );
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#stopped) return;
      this.#restart(process).then(
        () => this.#log(`${process} is back`),
        (error) => {
          // It did not come up: that counts as one more exit.
          this.#log(`Cannot restart ${process}: ${error instanceof Error ? error.message : error}`);
          this.exited(process, { success: false, code: 1, signal: null });
        },
      );
    }, delay);
    this.#timers.add(timer);
  }

  /** Restarts nothing more: the runner is stopping. */
  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}
