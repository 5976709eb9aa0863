/**
 * Load past what the stack can carry, for the fault suite's overload
 * scenario and the benchmark's overload row: the stack's capacity measured
 * with a closed loop of waiting createProduct mutations, its latency at half
 * of it, then a multiple of it offered open loop (each request leaves on
 * schedule, answered or not), every answer kept as its client saw it.
 */
import { residentMbOf } from "./distinct_documents.ts";
import { scrapeMetrics } from "./metrics.ts";
import type { ProcessName, Stack } from "@catalog/dev";

/** One request, as its client saw it. */
export interface Answer {
  /** The product name it sent, unique in the run: the write database can be asked about it. */
  name: string;
  /** "product", "overloaded", "error with commandId", "error", "transport" or "timeout". */
  kind: string;
  status: number;
  ms: number;
  code?: string;
  commandId?: string;
  retryAfter?: string | null;
}

/** The nearest-rank percentile of values, rounded; 0 for none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)]!);
}

const createProduct =
  "mutation ($input: CreateProductInput!) { createProduct(input: $input) { id name } }";

/** Sends one createProduct and says how it ended; never throws. */
export async function createAnswer(
  url: string,
  token: string,
  input: { name: string; categoryId: string },
): Promise<Answer> {
  const { name } = input;
  const started = performance.now();
  const signal = AbortSignal.timeout(30_000);
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({ query: createProduct, variables: { input: { ...input, price: 1 } } }),
      signal,
    });
    const body = await response.json() as {
      data?: { createProduct?: { id: string } | null } | null;
      errors?: { extensions?: { code?: string; commandId?: string } }[];
    };
    const ms = performance.now() - started;
    const error = body.errors?.[0];
    const status = response.status;
    if (!error && body.data?.createProduct) return { name, kind: "product", status, ms };
    const code = error?.extensions?.code;
    const commandId = error?.extensions?.commandId;
    return {
      name,
      kind: code === "OVERLOADED" ? "overloaded" : commandId ? "error with commandId" : "error",
      status,
      ms,
      ...(code ? { code } : {}),
      ...(commandId ? { commandId } : {}),
      retryAfter: response.headers.get("retry-after"),
    };
  } catch (error) {
    return {
      name,
      kind: signal.aborted ? "timeout" : "transport",
      status: 0,
      ms: performance.now() - started,
      code: error instanceof Error ? error.message : String(error),
    };
  }
}

/** Sends request(0), request(1), … at perSecond for seconds, each on schedule; answers them all. */
export async function openLoop<T>(
  perSecond: number,
  seconds: number,
  request: (index: number) => Promise<T>,
): Promise<T[]> {
  const started = performance.now();
  const total = Math.round(perSecond * seconds);
  const answers: Promise<T>[] = [];
  for (let index = 0; index < total; index++) {
    const wait = started + index * 1000 / perSecond - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    answers.push(request(index));
  }
  return await Promise.all(answers);
}

/** Options of runOverload(). */
export interface OverloadOptions {
  stack: Stack;
  /** The gateway process to load. Default "gateway". */
  gateway?: ProcessName;
  /**
   * The gateway that the capacity and the half-capacity latency are measured
   * through: one whose admission bound is out of the way, so that the bound
   * under test never caps the capacity it is judged against. Default: gateway.
   */
  probeGateway?: ProcessName;
  token: string;
  categoryId: string;
  /** Seconds of the capacity measurement, of the half-capacity run and of the overload. */
  seconds: { capacity: number; half: number; overload: number };
  /** The overload as a multiple of the capacity. Default 3. */
  factor?: number;
  /** Requests in flight while the capacity is measured. Default 24. */
  closedLoop?: number;
  /** How long after the last answer the gateway's RSS is read again, in ms. Default 3000. */
  settleMs?: number;
  /** Where to say what happens. Default: nowhere. */
  log?: (line: string) => void;
}

/** What runOverload() measured. */
export interface OverloadRun {
  /** Waiting createProduct mutations per second, closed loop. */
  capacity: number;
  /** p99 of the products answered at half the capacity, in ms. */
  halfP99: number;
  offered: number;
  /** Every answer of the overload, in the order sent. */
  answers: Answer[];
  /** Seconds from the first request of the overload to its last answer. */
  answeredAfter: number;
  /** The gateway's RSS before the overload, its peak (sampled every 250 ms), and once it ended. */
  gatewayMb: { start: number; peak: number; after: number };
  /**
   * Event-loop lag during the overload, in ms: the gateway's (the p99 of each
   * 250 ms between scrapes: their median and the worst) and this process's,
   * which sends the load and times the answers (the p99 of a 10 ms timer's
   * lateness), so that a latency can be told apart from the client's own.
   */
  lagMs: { gatewayMedian: number; gatewayWorst: number; client: number };
}

/** Measures the capacity, the latency at half of it, then offers factor × capacity. */
export async function runOverload(options: OverloadOptions): Promise<OverloadRun> {
  const { stack, token, categoryId, seconds } = options;
  const process = options.gateway ?? "gateway";
  const url = `${stack.healthUrl(process)}/graphql`;
  const probeUrl = `${stack.healthUrl(options.probeGateway ?? process)}/graphql`;
  const log = options.log ?? (() => {});
  const send = (name: string) => createAnswer(url, token, { name, categoryId });
  const probe = (name: string) => createAnswer(probeUrl, token, { name, categoryId });
  let done = 0;
  let next = 0;
  const until = performance.now() + seconds.capacity * 1000;
  await Promise.all(Array.from({ length: options.closedLoop ?? 24 }, async () => {
    while (performance.now() < until) {
      if ((await probe(`capacity-${next++}`)).kind === "product") done++;
    }
  }));
  const capacity = done / seconds.capacity;
  log(`capacity ${capacity.toFixed(0)} createProduct/s`);
  const half = await openLoop(capacity / 2, seconds.half, (index) => probe(`half-${index}`));
  const halfP99 = percentile(half.filter((a) => a.kind === "product").map((a) => a.ms), 99);

  const scrapeGateway = () => scrapeMetrics(`${stack.healthUrl(process)}/metrics`);
  const start = residentMbOf(await scrapeGateway());
  let peak = start;
  const gatewayLags: number[] = [];
  const sampling = setInterval(() => {
    scrapeGateway().then((scrape) => {
      peak = Math.max(peak, residentMbOf(scrape));
      gatewayLags.push(scrape.value("catalog_nodejs_eventloop_lag_p99_seconds") * 1000);
    }, () => {});
  }, 250);
  const clientLags: number[] = [];
  let tick = performance.now();
  const ticking = setInterval(() => {
    const now = performance.now();
    clientLags.push(Math.max(0, now - tick - 10));
    tick = now;
  }, 10);
  const offered = Math.round(capacity * (options.factor ?? 3));
  log(`offering ${offered}/s for ${seconds.overload} s`);
  const started = performance.now();
  let answers: Answer[];
  try {
    answers = await openLoop(offered, seconds.overload, (index) => send(`overload-${index}`));
  } finally {
    clearInterval(sampling);
    clearInterval(ticking);
  }
  const answeredAfter = (performance.now() - started) / 1000;
  await new Promise((resolve) => setTimeout(resolve, options.settleMs ?? 3000));
  return {
    capacity,
    halfP99,
    offered,
    answers,
    answeredAfter,
    gatewayMb: { start, peak, after: residentMbOf(await scrapeGateway()) },
    lagMs: {
      gatewayMedian: percentile(gatewayLags, 50),
      gatewayWorst: percentile(gatewayLags, 100),
      client: percentile(clientLags, 99),
    },
  };
}
