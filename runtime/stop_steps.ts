/**
 * A service's stop, step by step: each step is named for what it waits on,
 * so that while one hangs, runService() can say what it gave up waiting for.
 */
export class StopSteps {
  #current: string | undefined;

  /** The step running now ("the calls in hand"), or undefined between steps. */
  get waitingFor(): string | undefined {
    return this.#current;
  }

  /** Runs one step, known as `what` until it settles. */
  async step<T>(what: string, run: () => Promise<T> | T): Promise<T> {
    this.#current = what;
    try {
      return await run();
    } finally {
      this.#current = undefined;
    }
  }
}
