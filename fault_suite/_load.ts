/**
 * Client-side load for the fault scenarios: GraphQL requests over HTTP, each
 * with its own deadline, sent by a bounded number of concurrent loops.
 * Every request carries the test kit's writer token.
 */
import { writerToken } from "@catalog/testkit";

/** How one request ended, as a client sees it. */
export type Outcome<T = Record<string, unknown>> =
  /** An answer without errors. */
  | { kind: "ok"; data: T }
  /** An answer with errors; code is the first error's extensions.code. */
  | { kind: "error"; code: string; message: string; extensions: Record<string, unknown> }
  /** No GraphQL answer: connection refused or reset, or a body that is not GraphQL. */
  | { kind: "transport"; message: string }
  /** No answer before the client's deadline. */
  | { kind: "timeout" };

/** Options of send(). */
export interface SendOptions {
  /** The client's deadline for the whole request, in milliseconds. Default 10000. */
  timeoutMs?: number;
}

/** Posts one GraphQL operation and says how it ended; never throws. */
export async function send<T = Record<string, unknown>>(
  url: string,
  request: { query: string; variables?: Record<string, unknown> },
  options: SendOptions = {},
): Promise<Outcome<T>> {
  const signal = AbortSignal.timeout(options.timeoutMs ?? 10_000);
  let text: string;
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        authorization: `Bearer ${writerToken}`,
      },
      body: JSON.stringify(request),
      signal,
    });
    text = await response.text();
  } catch (error) {
    if (signal.aborted) return { kind: "timeout" };
    return { kind: "transport", message: error instanceof Error ? error.message : String(error) };
  }
  let body: {
    data?: T | null;
    errors?: { message: string; extensions?: Record<string, unknown> }[];
  };
  try {
    body = JSON.parse(text);
  } catch {
    return { kind: "transport", message: `not GraphQL: ${text.slice(0, 120)}` };
  }
  const error = body.errors?.[0];
  if (error) {
    return {
      kind: "error",
      code: String(error.extensions?.code ?? "NONE"),
      message: error.message,
      extensions: error.extensions ?? {},
    };
  }
  return { kind: "ok", data: body.data as T };
}

/** A short name for an outcome, to count outcomes by: "ok", "timeout", "transport" or the code. */
export function outcomeName(outcome: Outcome<unknown>): string {
  return outcome.kind === "error" ? outcome.code : outcome.kind;
}

/** Options of drive(). */
export interface DriveOptions {
  /** How many tasks run at once. */
  concurrency: number;
  /** Whether to start task i; drive() ends once every loop has been told false. */
  more: (index: number) => boolean;
}

/**
 * Runs task(0), task(1), … with at most `concurrency` in flight, while
 * more(i) says so, and resolves when the last one has ended. A task that
 * throws stops drive() with its error once the others have ended.
 */
export async function drive(
  task: (index: number) => Promise<void>,
  options: DriveOptions,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  async function loop(): Promise<void> {
    while (!failure) {
      const index = next;
      if (!options.more(index)) return;
      next++;
      try {
        await task(index);
      } catch (error) {
        failure ??= { error };
      }
    }
  }
  await Promise.all(Array.from({ length: options.concurrency }, loop));
  if (failure) throw failure.error;
}

/** Counts of things by name, for summary lines. */
export class Tally {
  readonly counts = new Map<string, number>();

  add(name: string, amount = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + amount);
  }

  get(name: string): number {
    return this.counts.get(name) ?? 0;
  }

  /** "ok 120, SERVICE_UNAVAILABLE 30", most frequent first. */
  toString(): string {
    return [...this.counts].sort((a, b) => b[1] - a[1]).map(([name, count]) => `${name} ${count}`)
      .join(", ") || "none";
  }

  toJSON(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}

/** Resolves after ms milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What a submit mutation answers. */
export interface Receipt {
  commandId: string;
  type: string;
  aggregateId: string;
  status: string;
  acceptedAt: string;
}

const receiptFields = "commandId type aggregateId status acceptedAt";

/** The GraphQL requests the scenarios send. */
export const mutations = {
  createCategory(name: string, idempotencyKey?: string) {
    return {
      query:
        `mutation ($name: String!, $key: String) { receipt: submitCreateCategory(input: { name: $name }, idempotencyKey: $key) { ${receiptFields} } }`,
      variables: { name, key: idempotencyKey },
    };
  },
  updateCategory(id: string, name: string, idempotencyKey?: string) {
    return {
      query:
        `mutation ($id: ID!, $name: String!, $key: String) { receipt: submitUpdateCategory(input: { id: $id, name: $name }, idempotencyKey: $key) { ${receiptFields} } }`,
      variables: { id, name, key: idempotencyKey },
    };
  },
  createProduct(
    input: { name: string; price: number; categoryId: string },
    idempotencyKey?: string,
  ) {
    return {
      query:
        `mutation ($input: CreateProductInput!, $key: String) { receipt: submitCreateProduct(input: $input, idempotencyKey: $key) { ${receiptFields} } }`,
      variables: { input, key: idempotencyKey },
    };
  },
  updateProduct(
    input: { id: string; name?: string; price?: number; expectedVersion?: number },
    idempotencyKey?: string,
  ) {
    return {
      query:
        `mutation ($input: UpdateProductInput!, $key: String) { receipt: submitUpdateProduct(input: $input, idempotencyKey: $key) { ${receiptFields} } }`,
      variables: { input, key: idempotencyKey },
    };
  },
  /** The seed-style createCategory, which waits until the category is readable. */
  createCategoryAndWait(name: string) {
    return {
      query: `mutation ($name: String!) { createCategory(input: { name: $name }) { id version } }`,
      variables: { name },
    };
  },
};

/** The receipt of a submit mutation's answer. */
export function receiptOf(outcome: Outcome): Receipt | undefined {
  return outcome.kind === "ok" ? (outcome.data as { receipt?: Receipt }).receipt : undefined;
}

/**
 * A scenario's count scaled by FAULTS_SCALE (default 1), for quick runs while
 * working on the suite: FAULTS_SCALE=0.1 sends a tenth of the commands.
 */
export function scaled(count: number): number {
  const scale = Number(Deno.env.get("FAULTS_SCALE") ?? "1");
  return Math.max(1, Math.round(count * (Number.isFinite(scale) && scale > 0 ? scale : 1)));
}

/** Load that goes on until stopped. */
export interface SteadyLoad {
  /** Starts no new task, and resolves once the tasks in flight have ended. */
  stop(): Promise<void>;
}

/** Options of steadyLoad(). */
export interface SteadyLoadOptions {
  /** How many tasks run at once. */
  concurrency: number;
  /** Pause of each loop after each task, in milliseconds, to bound the rate. Default 0. */
  pauseMs?: number;
}

/** Runs task(0), task(1), … with at most `concurrency` in flight until stop(). */
export function steadyLoad(
  task: (index: number) => Promise<void>,
  options: SteadyLoadOptions,
): SteadyLoad {
  let stopped = false;
  const running = drive(async (index) => {
    await task(index);
    if (options.pauseMs) await sleep(options.pauseMs);
  }, { concurrency: options.concurrency, more: () => !stopped });
  return {
    stop() {
      stopped = true;
      return running;
    },
  };
}
