/**
 * Scenario 3, lag: from a command's acceptance (its receipt's acceptedAt, the
 * command service's clock) to the read database's commit that makes its
 * outcome readable (the notification the projector sends on commit, received
 * here by LISTEN on catalog_command_outcomes), for submitUpdateProduct sent
 * open loop at fixed rates. Then a short ramp of rising rates finds where the
 * backlog starts growing without bound.
 */
import postgres from "postgres";
import { commandOutcomeChannel } from "@catalog/proto";
import { openLoop, sleep } from "./_load.ts";
import type { Catalog } from "./_reads.ts";
import { postGraphql, type System, waitVisible } from "./_system.ts";
import { Histogram, type Percentiles } from "./histogram.ts";

/** Lag at one offered rate. */
export interface LagPoint {
  label: string;
  /** Submits per second offered (open loop). */
  offered: number;
  /** Receipts per second obtained. */
  accepted: number;
  /** Measured commands, and how many of them became visible. */
  commands: number;
  visible: number;
  /** Accepted (receipt's acceptedAt) → visible on the read side. */
  lagMs: Percentiles;
  /** Intended send time → visible: includes the submit path and any queueing before it. */
  sendToVisibleMs: Percentiles;
  /** Intended send time → receipt, open loop. */
  submitMs: Percentiles;
  errors: Record<string, number>;
}

/** One step of the ramp. */
export interface RampStep {
  offered: number;
  /** Outcomes made visible per second over the step's second half. */
  visiblePerSecond: number;
  /** Offered but not yet visible at the step's end. */
  backlog: number;
  /**
   * Whether the system kept up: ≥ 90% of the offered rate visible over the
   * second half, or no more than max(20, a quarter second's worth) left waiting.
   */
  keptUp: boolean;
}

/** What the lag scenario measured. */
export interface LagFigures {
  maxSubmitPerSecond: number;
  points: LagPoint[];
  ramp: RampStep[];
  /** The highest ramp rate the system kept up with; undefined if it kept up with none. */
  sustainablePerSecond?: number;
  /** The first ramp rate it did not keep up with; undefined if it kept up with all. */
  growingFromPerSecond?: number;
  /** Lag at half the sustainable rate, for the target. */
  atHalfSustainable?: LagPoint;
}

const submitMutation = `mutation ($input: UpdateProductInput!) {
  receipt: submitUpdateProduct(input: $input) { commandId acceptedAt }
}`;

function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Runs scenario 3 at fractions of maxSubmitPerSecond (scenario 2's no-wait submit rate). */
export async function runLag(
  system: System,
  catalog: Catalog,
  maxSubmitPerSecond: number,
): Promise<LagFigures> {
  const url = system.stack.graphqlUrl;
  const ids = catalog.productIds;
  const visibleAt = new Map<string, number>();
  let notified = 0;
  const listener = postgres(system.sandbox.env.READ_DATABASE_URL, { max: 1, onnotice: () => {} });
  await listener.listen(commandOutcomeChannel, (payload) => {
    notified++;
    const id = payload.trim().toLowerCase();
    if (!visibleAt.has(id)) visibleAt.set(id, epochNow());
  });
  const warmUpMs = Math.max(100, Math.round(1500 * system.scale));
  const durationMs = Math.max(300, Math.round(6000 * system.scale));
  const stepMs = Math.max(400, Math.round(4000 * system.scale));
  let sequence = 0;

  function submit(index: number) {
    const i = sequence++;
    return postGraphql<{ receipt: { commandId: string; acceptedAt: string } }>(
      url,
      submitMutation,
      { input: { id: ids[i % ids.length], name: `lag ${i}`, price: ((i % 99_999) + 1) / 100 } },
    ).then((data) => {
      system.accepted.count++;
      return { index, ...data.receipt };
    });
  }

  async function point(label: string, rate: number): Promise<LagPoint> {
    const receipts: { index: number; commandId: string; acceptedAt: string; intended: number }[] =
      [];
    const run = await openLoop(async (index, intendedAt) => {
      const receipt = await submit(index);
      receipts.push({ ...receipt, intended: performance.timeOrigin + intendedAt });
    }, { rate, durationMs, warmUpMs });
    await waitVisible(system);
    await sleep(50);
    const warmUpCount = Math.round((rate * warmUpMs) / 1000);
    const lag = new Histogram();
    const sendToVisible = new Histogram();
    let commands = 0;
    for (const receipt of receipts) {
      if (receipt.index < warmUpCount) continue;
      commands++;
      const at = visibleAt.get(receipt.commandId.toLowerCase());
      if (at === undefined) continue;
      lag.record(Math.max(0, at - Date.parse(receipt.acceptedAt)));
      sendToVisible.record(Math.max(0, at - receipt.intended));
    }
    const figures: LagPoint = {
      label,
      offered: Number(rate.toFixed(1)),
      accepted: Number(run.perSecond.toFixed(1)),
      commands,
      visible: lag.count,
      lagMs: lag.summary(),
      sendToVisibleMs: sendToVisible.summary(),
      submitMs: run.latency.summary(),
      errors: run.errors,
    };
    system.log(
      `  ${label}, ${figures.offered}/s offered: lag p50 ${figures.lagMs.p50} ms, ` +
        `p99 ${figures.lagMs.p99} ms; submit p99 ${figures.submitMs.p99} ms`,
    );
    return figures;
  }

  async function step(rate: number): Promise<RampStep> {
    const before = notified;
    let atHalf = 0;
    const half = setTimeout(() => atHalf = notified, stepMs / 2);
    let atEnd = 0;
    const end = setTimeout(() => atEnd = notified, stepMs);
    await openLoop((index) => submit(index), { rate, durationMs: stepMs, maxInFlight: 512 });
    clearTimeout(half);
    clearTimeout(end);
    if (atEnd === 0) atEnd = notified;
    const visiblePerSecond = (atEnd - atHalf) / (stepMs / 2000);
    const figures = {
      offered: Number(rate.toFixed(1)),
      visiblePerSecond: Number(visiblePerSecond.toFixed(1)),
      backlog: Math.max(0, Math.round((rate * stepMs) / 1000) - (atEnd - before)),
      keptUp: true,
    };
    // Behind the offered rate, with more waiting than a quarter second's worth
    // (or 20): a few commands in flight are not a growing backlog.
    figures.keptUp = visiblePerSecond >= 0.9 * rate ||
      figures.backlog <= Math.max(20, rate / 4);
    system.log(
      `  ramp ${figures.offered}/s: ${figures.visiblePerSecond}/s visible, ` +
        `backlog ${figures.backlog}${figures.keptUp ? "" : ", growing"}`,
    );
    await waitVisible(system);
    return figures;
  }

  try {
    const points: LagPoint[] = [];
    for (const fraction of [0.25, 0.5, 0.75]) {
      points.push(
        await point(`${fraction * 100}% of max submit rate`, fraction * maxSubmitPerSecond),
      );
    }
    system.log("Lag: ramp");
    const ramp: RampStep[] = [];
    for (const fraction of [0.2, 0.35, 0.5, 0.65, 0.8, 1, 1.25]) {
      const figures = await step(fraction * maxSubmitPerSecond);
      ramp.push(figures);
      if (!figures.keptUp) break;
    }
    const sustainable = ramp.filter((s) => s.keptUp).at(-1)?.offered;
    const growing = ramp.find((s) => !s.keptUp)?.offered;
    const atHalfSustainable = sustainable === undefined
      ? undefined
      : await point("50% of the sustainable rate", sustainable / 2);
    return {
      maxSubmitPerSecond,
      points,
      ramp,
      sustainablePerSecond: sustainable,
      growingFromPerSecond: growing,
      atHalfSustainable,
    };
  } finally {
    await listener.end({ timeout: 2 });
  }
}
