/** Runs a task once a place is free; see limiter(). */
export type Limiter = <T>(task: () => Promise<T>) => Promise<T>;

/**
 * Lets at most `limit` tasks run at once; the others wait in arrival order.
 * The consumer runs every partition's steps through one, so that at most
 * `concurrency` partitions are handled at the same time.
 */
export function limiter(limit: number): Limiter {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async function run<T>(task: () => Promise<T>): Promise<T> {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else running++;
    try {
      return await task();
    } finally {
      // The place goes straight to the next in line, or is freed.
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}
