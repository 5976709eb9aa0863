/**
 * Load drivers: closed-loop (a fixed number of callers, each sending its next
 * request when the previous one answers) and open-loop (requests sent at a
 * fixed rate whatever the answers, latency counted from the intended send
 * time so that queueing shows).
 */
import { Histogram } from "./histogram.ts";

/** What one measurement produced. */
export interface Run {
  /** Requests that completed without error during the measurement. */
  ok: number;
  /** Requests that failed, by error message (first 80 characters). */
  errors: Record<string, number>;
  /** Length of the measurement, in seconds. */
  seconds: number;
  /** Completed requests per second. */
  perSecond: number;
  latency: Histogram;
}

/** Resolves after ms milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function errorName(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 80);
}

/** Options of closedLoop(). */
export interface ClosedLoopOptions {
  /** How many callers send at once. */
  concurrency: number;
  /** How long to send before measuring, in milliseconds. */
  warmUpMs: number;
  /** How long to measure, in milliseconds. */
  durationMs: number;
}

/**
 * Runs `concurrency` loops that each call task(i) back to back: a warm-up
 * whose results are dropped, then the measurement, which counts the calls
 * that end during it. Latency is from the call to its answer (closed loop: a
 * slow answer delays the next request, so queueing is not seen).
 */
export async function closedLoop(
  task: (index: number) => Promise<unknown>,
  options: ClosedLoopOptions,
): Promise<Run> {
  let next = 0;
  let phase: "warm-up" | "measure" | "done" = "warm-up";
  const latency = new Histogram();
  const errors: Record<string, number> = {};
  let ok = 0;
  let completed = 0;
  async function loop(): Promise<void> {
    while (phase !== "done") {
      const index = next++;
      const started = performance.now();
      // What completes during the measurement counts, whenever it started.
      try {
        await task(index);
        if (phase === "measure") {
          latency.record(performance.now() - started);
          ok++;
        }
      } catch (error) {
        if (phase === "measure") errors[errorName(error)] = (errors[errorName(error)] ?? 0) + 1;
      }
      completed++;
    }
  }
  const loops = Array.from({ length: options.concurrency }, loop);
  // The warm-up lasts warmUpMs, and until every caller has had an answer
  // (a cold start can take longer than a short warm-up).
  await sleep(options.warmUpMs);
  const deadline = performance.now() + 30_000;
  while (completed < options.concurrency && performance.now() < deadline) await sleep(10);
  phase = "measure";
  const started = performance.now();
  await sleep(options.durationMs);
  phase = "done";
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(loops);
  return { ok, errors, seconds, perSecond: ok / seconds, latency };
}

/** Options of openLoop(). */
export interface OpenLoopOptions {
  /** Requests per second to send. */
  rate: number;
  /** How long to send, in milliseconds. */
  durationMs: number;
  /** Requests in flight beyond which sending waits (and the wait counts as latency). Default 512. */
  maxInFlight?: number;
  /** Requests to send first at the same rate without measuring them. Default none. */
  warmUpMs?: number;
}

/**
 * Sends task(i) at `rate` per second for durationMs, each at its intended
 * time t0 + i / rate, without waiting for earlier answers. Latency is from the
 * intended time to the answer, so time spent queued behind a slow system
 * (or behind maxInFlight) counts. Resolves once every request has ended.
 * task receives the intended send time (performance.now() clock).
 */
export async function openLoop(
  task: (index: number, intendedAt: number) => Promise<unknown>,
  options: OpenLoopOptions,
): Promise<Run & { offered: number; sent: number }> {
  const maxInFlight = options.maxInFlight ?? 512;
  const warmUpMs = options.warmUpMs ?? 0;
  const latency = new Histogram();
  const errors: Record<string, number> = {};
  const intervalMs = 1000 / options.rate;
  const total = Math.max(1, Math.round((options.rate * (warmUpMs + options.durationMs)) / 1000));
  const warmUpCount = Math.round((options.rate * warmUpMs) / 1000);
  let ok = 0;
  let inFlight = 0;
  let freed: (() => void) | undefined;
  const pending: Promise<void>[] = [];
  const t0 = performance.now() + 5;
  for (let index = 0; index < total; index++) {
    const intendedAt = t0 + index * intervalMs;
    const now = performance.now();
    if (intendedAt > now + 1) await sleep(Math.max(0, intendedAt - now - 0.5));
    // Behind schedule, yield now and then, so that answers are read meanwhile.
    else if (index % 16 === 0) await sleep(0);
    while (inFlight >= maxInFlight) await new Promise<void>((resolve) => freed = resolve);
    const measured = index >= warmUpCount;
    inFlight++;
    pending.push((async () => {
      try {
        await task(index, intendedAt);
        if (measured) {
          latency.record(Math.max(0, performance.now() - intendedAt));
          ok++;
        }
      } catch (error) {
        if (measured) errors[errorName(error)] = (errors[errorName(error)] ?? 0) + 1;
      } finally {
        inFlight--;
        freed?.();
        freed = undefined;
      }
    })());
  }
  await Promise.all(pending);
  const seconds = options.durationMs / 1000;
  return {
    ok,
    errors,
    seconds,
    perSecond: ok / seconds,
    latency,
    offered: options.rate,
    sent: total - warmUpCount,
  };
}
