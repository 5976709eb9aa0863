/**
 * Loads values by key for the duration of one request: every key asked for
 * before the event loop's next turn goes out in a single batch call, and each
 * key is fetched at most once (until cleared).
 */
export class BatchLoader<K, V> {
  #fetch: (keys: K[]) => Promise<Map<K, V>>;
  #cache = new Map<K, Promise<V | undefined>>();
  #queue: { key: K; pending: PromiseWithResolvers<V | undefined> }[] = [];

  /**
   * @param fetch answers a batch of distinct keys with the values it found;
   *   a key missing from the map loads as `undefined`.
   */
  constructor(fetch: (keys: K[]) => Promise<Map<K, V>>) {
    this.#fetch = fetch;
  }

  /** The value of `key`, fetched together with the other keys of this turn. */
  load(key: K): Promise<V | undefined> {
    const cached = this.#cache.get(key);
    if (cached) return cached;
    // A macrotask rather than a microtask: GraphQL resolves sibling fields
    // across several microtasks, and all of them should share one batch.
    if (this.#queue.length === 0) setTimeout(() => this.#dispatch(), 0);
    const pending = Promise.withResolvers<V | undefined>();
    this.#queue.push({ key, pending });
    this.#cache.set(key, pending.promise);
    return pending.promise;
  }

  /** Forgets every loaded value, so that the next load reads afresh (after a write). */
  clearAll(): this {
    this.#cache.clear();
    return this;
  }

  async #dispatch(): Promise<void> {
    const queue = this.#queue;
    this.#queue = [];
    try {
      const values = await this.#fetch(queue.map((entry) => entry.key));
      for (const { key, pending } of queue) pending.resolve(values.get(key));
    } catch (error) {
      for (const { key, pending } of queue) {
        // A failed load is not remembered, so that a later one may try again.
        if (this.#cache.get(key) === pending.promise) this.#cache.delete(key);
        pending.reject(error);
      }
    }
  }
}
