/**
 * Scenario: three times the stack's capacity, offered open loop (runOverload()
 * of the test kit) to the second gateway, the one with the default admission
 * bounds: goodput, the p99 of the mutations admitted and of the refusals, and
 * that gateway's peak RSS. The capacity and the latency at half of it are
 * measured through the first gateway, whose bounds are out of the way.
 */
import { percentile, runOverload, writerToken } from "@catalog/testkit";
import type { Catalog } from "./_reads.ts";
import type { System } from "./_system.ts";

/** What runOverloadRow() measured. */
export interface OverloadFigures {
  capacityPerSecond: number;
  offeredPerSecond: number;
  seconds: number;
  goodputPerSecond: number;
  admittedP99Ms: number;
  halfCapacityP99Ms: number;
  refusedP99Ms: number;
  refused: number;
  /** Answers that were neither the product nor a refusal. */
  otherwise: Record<string, number>;
  gatewayPeakMb: number;
  gatewayAfterMb: number;
  /** Event-loop lag during the overload (runOverload()'s lagMs). */
  lagMs: { gatewayMedian: number; gatewayWorst: number; client: number };
}

export async function runOverloadRow(system: System, catalog: Catalog): Promise<OverloadFigures> {
  // 30 s at scale 1; issue 32 measures 60 s (--only=overload --scale=2).
  const seconds = Math.max(2, Math.round(30 * system.scale));
  const run = await runOverload({
    stack: system.stack,
    gateway: "gateway-2",
    probeGateway: "gateway",
    token: writerToken,
    categoryId: catalog.categoryIds[0]!,
    seconds: { capacity: Math.min(10, seconds), half: Math.min(10, seconds), overload: seconds },
    log: (line) => system.log(`  ${line}`),
  });
  const products = run.answers.filter((answer) => answer.kind === "product");
  const refusals = run.answers.filter((answer) => answer.kind === "overloaded");
  const otherwise: Record<string, number> = {};
  for (const answer of run.answers) {
    if (answer.kind === "product" || answer.kind === "overloaded") continue;
    const key = `${answer.kind}${answer.code ? ` ${answer.code}` : ""}`;
    otherwise[key] = (otherwise[key] ?? 0) + 1;
  }
  return {
    capacityPerSecond: Math.round(run.capacity),
    offeredPerSecond: run.offered,
    seconds,
    goodputPerSecond: Math.round(products.length / seconds),
    admittedP99Ms: percentile(products.map((answer) => answer.ms), 99),
    halfCapacityP99Ms: run.halfP99,
    refusedP99Ms: percentile(refusals.map((answer) => answer.ms), 99),
    refused: refusals.length,
    otherwise,
    gatewayPeakMb: Math.round(run.gatewayMb.peak),
    gatewayAfterMb: Math.round(run.gatewayMb.after),
    lagMs: run.lagMs,
  };
}
