/** Measures how fast workers drain a backlog of queued commands. */
import type postgres from "postgres";
import type { Stack } from "@catalog/dev";
import { waitHandled } from "./_databases.ts";
import { drive, mutations, outcomeName, receiptOf, send, type Tally } from "./_load.ts";

/** One drain: how many commands the workers handled, over how long. */
export interface Drain {
  workers: number;
  commands: number;
  /** From the first command handled to the last, by the write database's clock. */
  seconds: number;
  perSecond: number;
}

/** Options of measureDrain(). */
export interface DrainOptions {
  /** How many of the stack's workers drain the backlog. */
  workers: number;
  /** How many updates to queue. */
  count: number;
  /** The products the updates are spread over, one after the other. */
  products: readonly string[];
  /** Makes the updates' names distinct from other drains'. */
  tag: string;
  /** How many requests to send at once while queueing. */
  inFlight: number;
  /** Counts the answers to the requests. */
  outcomes: Tally;
  /** Receives the command id of every receipt. Default: none. */
  commandIds?: string[];
}

/**
 * Stops every worker, queues `count` updates spread over the products (so no
 * one partition's sequence bounds the rate), starts `workers` of the workers
 * again and waits until they have handled the backlog.
 */
export async function measureDrain(
  stack: Stack,
  write: postgres.Sql,
  options: DrainOptions,
): Promise<Drain> {
  await Promise.all(stack.workers.map((worker) => stack.stop(worker)));
  const ids: string[] = [];
  await drive(async (index) => {
    const outcome = await send(
      stack.graphqlUrl,
      mutations.updateProduct({
        id: options.products[index % options.products.length]!,
        name: `${options.tag}-${index}`,
        price: (index % 99_999 + 1) / 100,
      }),
    );
    options.outcomes.add(outcomeName(outcome));
    const receipt = receiptOf(outcome);
    if (receipt) ids.push(receipt.commandId);
  }, { concurrency: options.inFlight, more: (index) => index < options.count });
  await Promise.all(stack.workers.slice(0, options.workers).map((worker) => stack.start(worker)));
  options.commandIds?.push(...ids);
  await waitHandled(write, ids);
  const [span] = await write<{ seconds: number; handled: number }[]>`
    select extract(epoch from max(handled_at) - min(handled_at))::float8 as seconds,
      count(*)::int as handled
    from commands where command_id = any(${ids}::uuid[])`;
  const seconds = span?.seconds ?? 0;
  const handled = span?.handled ?? 0;
  return {
    workers: options.workers,
    commands: handled,
    seconds,
    perSecond: seconds > 0 ? (handled - 1) / seconds : 0,
  };
}

/** "1 worker 300/s, 2 workers 560/s". */
export function describeDrains(drains: readonly Drain[]): string {
  return drains.map((drain) =>
    `${drain.workers} worker${drain.workers === 1 ? "" : "s"} ${drain.perSecond.toFixed(0)}/s`
  ).join(", ");
}
