/** Options of an AcceptedBatch. */
export interface AcceptedBatchOptions {
  /** Copies recorded in one statement at most, and so held unacknowledged at most. Default 500. */
  size?: number;
  /** How long the first copy of a batch may wait for others to share its statement, in ms. Default 5. */
  lingerMs?: number;
}

/**
 * What to do once a copy has joined the batch: record the batch now (it is
 * full), start the linger timer (the copy is the first to wait), or nothing
 * (the timer runs already).
 */
export type BatchStep = { record: "now" } | { record: "after"; ms: number } | undefined;

/**
 * When to record the accepted copies in hand: once `size` of them wait, or
 * `lingerMs` after the first of them arrived, whichever comes first. One
 * statement for many copies keeps a burst of commands from costing a round
 * trip each; the linger bounds how long a lone command waits to show as
 * ACCEPTED. Pure: the caller owns the timer and the recording.
 */
export class AcceptedBatch<T> {
  readonly size: number;
  readonly lingerMs: number;
  #entries: T[] = [];
  #lingering = false;

  constructor(options: AcceptedBatchOptions = {}) {
    this.size = options.size ?? 500;
    this.lingerMs = options.lingerMs ?? 5;
  }

  /** How many copies wait now. */
  get length(): number {
    return this.#entries.length;
  }

  /** Adds a copy, and says what to do about the batch. */
  add(entry: T): BatchStep {
    this.#entries.push(entry);
    if (this.#entries.length >= this.size) return { record: "now" };
    if (this.#lingering) return undefined;
    this.#lingering = true;
    return { record: "after", ms: this.lingerMs };
  }

  /** Hands over every copy waiting, in arrival order, and empties the batch: the next copy lingers again. */
  take(): T[] {
    const entries = this.#entries;
    this.#entries = [];
    this.#lingering = false;
    return entries;
  }
}
