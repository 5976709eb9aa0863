import type postgres from "postgres";
import { commandOutcomeChannel, type CommandStatus, finalCommandStates } from "@catalog/proto";
import { Listener } from "./listener.ts";

/** What a CommandWaiter needs. */
export interface CommandWaiterOptions {
  /**
   * Opens the connection pool that carries the one LISTEN; called again to
   * start over with a fresh connection after the database was away.
   */
  connect: () => postgres.Sql;
  /** Reads a command's status from the read database. */
  lookup: (commandId: string) => Promise<CommandStatus | undefined>;
  /** NOTIFY channel to listen on. Default commandOutcomeChannel. */
  channel?: string;
}

/**
 * Lets any number of callers wait for commands' outcomes over one LISTEN
 * connection. The projector notifies the channel with a command's id in the
 * transaction that makes its outcome readable (and the worker does when it
 * dead-letters one); every waiter for that id then reads the status again.
 * A wait ends only on a final status: a command the read side merely knows
 * as ACCEPTED is still on its way, however it was woken.
 */
export class CommandWaiter {
  readonly #listener: Listener;
  readonly #lookup: (commandId: string) => Promise<CommandStatus | undefined>;
  readonly #channel: string;
  readonly #wakers = new Map<string, Set<() => void>>();
  /** Ends each running wait early, for close(). */
  readonly #enders = new Set<() => void>();
  #closed = false;
  /** Payload of the last ping verify() sent that has not come back yet. */
  #unansweredPing: string | undefined;

  constructor(options: CommandWaiterOptions) {
    this.#lookup = options.lookup;
    this.#channel = options.channel ?? commandOutcomeChannel;
    this.#listener = new Listener({
      connect: options.connect,
      channel: this.#channel,
      onnotify: (payload) => this.#notified(payload.trim().toLowerCase()),
      // Called on every (re)LISTEN: notifications may have been missed
      // while there was none, so every waiter reads again.
      onlisten: () => this.#wakeAll(),
    });
  }

  /** How many calls are waiting right now. */
  get waiting(): number {
    let count = 0;
    for (const wakers of this.#wakers.values()) count += wakers.size;
    return count;
  }

  /** Makes sure the LISTEN is in place; rejects if the database cannot be reached. */
  listen(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("Cannot listen: the waiter is closed"));
    return this.#listener.listen();
  }

  /**
   * Drops the LISTEN connection and opens a new one. After the database has
   * been away, the old connection may have lost its LISTEN for good.
   */
  restart(): Promise<void> {
    this.#unansweredPing = undefined;
    return this.#listener.restart();
  }

  /**
   * Checks that the LISTEN still hears the channel. Each call sends a ping
   * through the channel with `send` (a NOTIFY on any other connection); if
   * the previous ping never came back, the LISTEN is started over. A LISTEN
   * can be lost without a sound when the database drops its connection and is
   * not back in time for the driver's one attempt to listen again.
   */
  async verify(send: (channel: string, payload: string) => Promise<unknown>): Promise<void> {
    if (this.#closed) return;
    if (this.#unansweredPing !== undefined) {
      this.#unansweredPing = undefined;
      await this.restart();
    } else {
      await this.listen();
    }
    const ping = `ping:${crypto.randomUUID()}`;
    this.#unansweredPing = ping;
    try {
      await send(this.#channel, ping);
    } catch (error) {
      if (this.#unansweredPing === ping) this.#unansweredPing = undefined;
      throw error;
    }
  }

  /**
   * Resolves with the command's status as soon as it is final (APPLIED,
   * REJECTED or FAILED), or after timeoutMs with the status it has then
   * (ACCEPTED, or undefined if the read side has never heard of it). Ends
   * early, the same way, when signal aborts or the waiter closes.
   */
  async wait(
    commandId: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<CommandStatus | undefined> {
    const id = commandId.toLowerCase();
    // Listen and register before the first read, so that an outcome made
    // readable in between still wakes this call.
    await this.listen();
    let notified = Promise.withResolvers<void>();
    const waker = () => notified.resolve();
    const wakers = this.#wakers.get(id) ?? new Set();
    wakers.add(waker);
    this.#wakers.set(id, wakers);

    const over = Promise.withResolvers<void>();
    const end = () => over.resolve();
    const timer = setTimeout(end, Math.max(0, timeoutMs));
    signal?.addEventListener("abort", end, { once: true });
    this.#enders.add(end);
    try {
      while (true) {
        const current = notified;
        const status = await this.#lookup(id);
        if (status && finalCommandStates.includes(status.status)) return status;
        if (this.#closed || signal?.aborted) return status;
        const woken = await Promise.race([
          current.promise.then(() => true),
          over.promise.then(() => false),
        ]);
        if (!woken) return status;
        notified = Promise.withResolvers<void>();
      }
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", end);
      this.#enders.delete(end);
      wakers.delete(waker);
      if (wakers.size === 0 && this.#wakers.get(id) === wakers) this.#wakers.delete(id);
    }
  }

  /** Ends every wait with the status it has now and closes the LISTEN connection. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const end of this.#enders) end();
    await this.#listener.close();
  }

  #notified(payload: string): void {
    if (payload === this.#unansweredPing) this.#unansweredPing = undefined;
    else this.#wake(payload);
  }

  #wake(commandId: string): void {
    for (const waker of this.#wakers.get(commandId) ?? []) waker();
  }

  #wakeAll(): void {
    for (const wakers of this.#wakers.values()) for (const waker of wakers) waker();
  }
}
