import type postgres from "postgres";

/** Options of Listener. */
export interface ListenerOptions {
  /**
   * Opens the pool that carries the one LISTEN; called again to start over
   * with a fresh connection after a LISTEN failed or on restart().
   */
  connect: () => postgres.Sql;
  /** NOTIFY channel to listen on. */
  channel: string;
  /** Called with the payload of each notification on the channel. */
  onnotify: (payload: string) => void;
  /**
   * Called on every (re)LISTEN, the driver's own after a lost connection
   * included: notifications may have been missed while there was none, so
   * this is where to make up for them.
   */
  onlisten: () => void;
}

/**
 * One LISTEN on a connection of its own, for a service that waits on
 * notifications. The connection is opened lazily by the first listen(), and
 * concurrent callers share it. A LISTEN that fails ends its connection and is
 * forgotten, so the next listen() starts over with a fresh one; restart() does
 * the same on purpose, for a LISTEN that may have been lost without a sound.
 * Once closed, it opens no connection again.
 */
export class Listener {
  readonly #connect: () => postgres.Sql;
  readonly #channel: string;
  readonly #onnotify: (payload: string) => void;
  readonly #onlisten: () => void;
  #current: { sql: postgres.Sql; ready: Promise<void> } | undefined;
  #closed = false;

  constructor(options: ListenerOptions) {
    this.#connect = options.connect;
    this.#channel = options.channel;
    this.#onnotify = options.onnotify;
    this.#onlisten = options.onlisten;
  }

  /** Makes sure the LISTEN is in place; rejects if the database cannot be reached. */
  listen(): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new Error(`Cannot listen on ${this.#channel}: the listener is closed`));
    }
    if (!this.#current) {
      const sql = this.#connect();
      const current = {
        sql,
        ready: sql.listen(
          this.#channel,
          (payload) => this.#onnotify(payload),
          () => this.#onlisten(),
        ).then(
          () => {},
          async (error) => {
            if (this.#current === current) this.#current = undefined;
            await sql.end({ timeout: 0 }).catch(() => {});
            throw error;
          },
        ),
      };
      this.#current = current;
    }
    return this.#current.ready;
  }

  /** Ends the LISTEN connection and, unless closed, listens again on a new one. */
  async restart(): Promise<void> {
    const old = this.#current;
    this.#current = undefined;
    await old?.sql.end({ timeout: 0 }).catch(() => {});
    if (!this.#closed) await this.listen();
  }

  /** Ends the LISTEN connection for good. */
  async close(): Promise<void> {
    this.#closed = true;
    const current = this.#current;
    this.#current = undefined;
    await current?.sql.end({ timeout: 1 }).catch(() => {});
  }
}
