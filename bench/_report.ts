/**
 * The run's figures as JSON and as a Markdown report: one table per
 * scenario, each with the ratio to its baseline, and the issue's targets
 * with the figures beside them (met or not met; nothing is asserted).
 */
import type { DocumentCpuFigures } from "./_document_cpu.ts";
import type { DocumentFigures } from "./_documents.ts";
import type { LagFigures, LagPoint } from "./_lag.ts";
import type { OverloadFigures } from "./_overload.ts";
import type { MemoryPeak } from "./_memory.ts";
import type { Measurement, ReadFigures } from "./_reads.ts";
import type { WriteFigures } from "./_writes.ts";

/** Everything one run measured. */
export interface Report {
  measuredAt: string;
  /** 1 for the full run; smaller for a smoke test. */
  scale: number;
  machine: { cores: number; deno: string; os: string };
  /** Wall time of the whole run, start-up included, in seconds. */
  seconds: number;
  reads: ReadFigures;
  writes: WriteFigures;
  lag: LagFigures;
  documents: DocumentFigures;
  documentCpu: DocumentCpuFigures;
  overload: OverloadFigures;
  memory: MemoryPeak[];
  /** Service processes that exited by themselves during the run (a crash), with their last lines. */
  crashes: {
    process: string;
    code: number;
    signal: string | null;
    at: string;
    lastLines: string[];
  }[];
  targets: Target[];
}

/** One of the issue's targets, with the figure this run measured. */
export interface Target {
  target: string;
  figure: string;
  /** Undefined when the run could not measure it. */
  met?: boolean;
}

const services = ["gateway", "command", "query", "worker"];

function ratio(value: number, baseline: number): number {
  return baseline > 0 ? Number((value / baseline).toFixed(2)) : 0;
}

/** The read targets of issue 6 against the reads scenario's figures. */
export function readTargetsOf(reads: ReadFigures): Target[] {
  const targets: Target[] = [];
  for (const [label, rows] of [["composite", reads.composite], ["product(id)", reads.product]]) {
    const full = (rows as Measurement[])[0]!;
    const yoga = (rows as Measurement[]).find((m) => m.name.includes("graphql-yoga"))!;
    const r = ratio(full.perSecond, yoga.perSecond);
    targets.push({
      target: `Full-stack reads (${label}) ≥ 0.5 × static-resolver Yoga, concurrency 50`,
      figure: `${full.perSecond}/s vs ${yoga.perSecond}/s = ${r} ×`,
      met: r >= 0.5,
    });
  }
  for (const half of reads.halfRate) {
    targets.push({
      target: `Read p99 ≤ 50 ms at half the maximum rate (${half.name})`,
      figure: `p99 ${half.latencyMs.p99} ms at ${half.mode.replace("open loop, ", "")}`,
      met: half.latencyMs.p99 <= 50,
    });
  }
  return targets;
}

/** The targets of issue 6 against this run's figures. */
export function targetsOf(figures: Omit<Report, "targets">): Target[] {
  const { reads, writes, lag, memory } = figures;
  const targets = readTargetsOf(reads);
  const several = writes.drains.filter((d) => d.workers > 1);
  const best = [...writes.drains].sort((a, b) => b.perSecond - a.perSecond)[0];
  const bestSeveral = several.sort((a, b) => b.perSecond - a.perSecond)[0];
  if (bestSeveral) {
    targets.push({
      target: "Worker drain ≥ 5,000 commands/s with several workers",
      figure: `${bestSeveral.perSecond}/s with ${bestSeveral.workers} workers`,
      met: bestSeveral.perSecond >= 5000,
    });
  }
  const combined = writes.baselines.find((b) => b.name.includes("consume +"));
  if (best && combined) {
    const r = ratio(best.perSecond, combined.perSecond);
    targets.push({
      target: "Worker drain ≥ 0.3 × raw consume + batched-insert baseline",
      figure: `${best.perSecond}/s vs ${combined.perSecond}/s = ${r} ×`,
      met: r >= 0.3,
    });
  }
  const half = lag.atHalfSustainable;
  targets.push({
    target: "Lag p99 ≤ 50 ms at half the sustainable command rate",
    figure: half
      ? `p99 ${half.lagMs.p99} ms at ${half.offered}/s (sustainable ${lag.sustainablePerSecond}/s)`
      : "not measured: no ramp step was sustained",
    met: half ? half.lagMs.p99 <= 50 : undefined,
  });
  const growth = figures.documents.services;
  const worst = [...growth].sort((a, b) => b.growthPer10kMb - a.growthPer10kMb)[0];
  targets.push({
    target: "Memory growth per 10,000 distinct documents ≤ 5 MB, every service",
    figure: worst
      ? `highest: ${worst.name} ${worst.growthPer10kMb} MB (` +
        growth.map((g) => `${g.name} ${g.growthPer10kMb}`).join(", ") + ")"
      : "not measured",
    met: worst ? growth.every((g) => g.growthPer10kMb <= 5) : undefined,
  });
  targets.push(documentCpuTargetOf(figures.documentCpu));
  targets.push(overloadTargetOf(figures.overload));
  const peaks = memory.filter((m) => services.includes(m.name));
  const top = peaks[0];
  targets.push({
    target: "No service above 150 MB RSS",
    figure: top ? `highest: ${top.name} ${top.peakMb} MB` : "not measured (no /proc)",
    met: top ? peaks.every((m) => m.peakMb <= 150) : undefined,
  });
  return targets;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Issue 29's CPU target against the document-shape scenario's figures. */
/** The overload row's target: issue 32's figures at 3 × capacity. */
export function overloadTargetOf(overload: OverloadFigures): Target {
  return {
    target: "At 3 × capacity: goodput ≥ 90 % of capacity, admitted p99 ≤ 2 × its p99 at half, " +
      "refusals p99 ≤ 50 ms, gateway peak ≤ 300 MB",
    figure: `goodput ${overload.goodputPerSecond}/s of ${overload.capacityPerSecond}/s, ` +
      `admitted p99 ${overload.admittedP99Ms} ms (half ${overload.halfCapacityP99Ms} ms), ` +
      `refusals p99 ${overload.refusedP99Ms} ms, peak ${overload.gatewayPeakMb} MB`,
    met: overload.goodputPerSecond >= 0.9 * overload.capacityPerSecond &&
      overload.admittedP99Ms <= 2 * overload.halfCapacityP99Ms &&
      overload.refusedP99Ms <= 50 && overload.gatewayPeakMb <= 300,
  };
}

export function documentCpuTargetOf(cpu: DocumentCpuFigures): Target {
  const inline = median(cpu.inlineMs);
  const variables = median(cpu.variablesMs);
  const r = ratio(inline, variables);
  return {
    target: "Gateway CPU per mutation with inline values ≤ 1.15 × with variables (medians)",
    figure: `${inline} ms (${Math.min(...cpu.inlineMs)}–${Math.max(...cpu.inlineMs)}) vs ` +
      `${variables} ms (${Math.min(...cpu.variablesMs)}–${Math.max(...cpu.variablesMs)}) = ${r} ×`,
    met: r <= 1.15,
  };
}

/** A target as one line of text: met, NOT MET or – (not measured), then what and the figure. */
export function targetLine(target: Target): string {
  const verdict = target.met === undefined ? "–" : target.met ? "met" : "NOT MET";
  return `${verdict.padEnd(7)} ${target.target}: ${target.figure}`;
}

function row(cells: (string | number)[]): string {
  return `| ${cells.join(" | ")} |`;
}

function errorsOf(m: { errors: Record<string, number> }): string {
  const total = Object.values(m.errors).reduce((a, b) => a + b, 0);
  return total === 0 ? "0" : `${total}`;
}

function measurementTable(rows: Measurement[], baselineName?: string): string[] {
  const full = rows[0]!;
  const lines = [
    row([
      "Measured",
      "Mode",
      "OK",
      "Errors",
      "req/s",
      "p50",
      "p90",
      "p99",
      "max",
      "Full stack ÷ this",
    ]),
    row(["---", "---", "--:", "--:", "--:", "--:", "--:", "--:", "--:", "--:"]),
  ];
  for (const m of rows) {
    const l = m.latencyMs;
    const r = m === full ? "1" : `${ratio(full.perSecond, m.perSecond)}`;
    const bold = baselineName && m.name.includes(baselineName) ? `**${r}**` : r;
    lines.push(
      row([m.name, m.mode, m.ok, errorsOf(m), m.perSecond, l.p50, l.p90, l.p99, l.max, bold]),
    );
  }
  return lines;
}

function lagRow(p: LagPoint): string {
  return row([
    p.label,
    p.offered,
    p.accepted,
    `${p.visible}/${p.commands}`,
    p.lagMs.p50,
    p.lagMs.p90,
    p.lagMs.p99,
    p.lagMs.max,
    p.sendToVisibleMs.p99,
    p.submitMs.p50,
    p.submitMs.p99,
  ]);
}

/** The Markdown report. */
export function markdownOf(report: Report): string {
  const { reads, writes, lag, memory } = report;
  const combined = writes.baselines.find((b) => b.name.includes("consume +"));
  const out: string[] = [
    "# Benchmark",
    "",
    `Run ${report.measuredAt} on ${report.machine.cores} cores (${report.machine.os}, Deno ` +
    `${report.machine.deno}), shared by the services, PostgreSQL, RabbitMQ and the load ` +
    `generator; scale ${report.scale}; ${report.seconds} s in all. Everything on loopback, in a ` +
    "throwaway sandbox (databases and vhost). Latencies in ms. Absolute figures drift from run " +
    "to run on this machine; the ratios to the baselines measured in the same run are what hold.",
    "",
    ...(report.crashes.length === 0 ? [] : [
      "**Service crashes during the run** (the stack does not restart them; figures after a " +
      "crash are of a degraded system):",
      "",
      ...report.crashes.map((c) =>
        `- ${c.at}: ${c.process} exited with code ${c.code}${c.signal ? ` (${c.signal})` : ""}; ` +
        `last line: \`${(c.lastLines.at(-1) ?? "").replaceAll("`", "'").slice(0, 200)}\``
      ),
      "",
    ]),
    "## Targets (issue 6), not asserted",
    "",
    row(["Target", "This run", "Met"]),
    row(["---", "---", ":-:"]),
    ...report.targets.map((t) =>
      row([t.target, t.figure, t.met === undefined ? "–" : t.met ? "met" : "**not met**"])
    ),
    "",
    `## 1. Reads: ${reads.categories} categories, ${reads.products} products`,
    "",
    "Closed loop: 50 callers, each sending its next request when the previous one is answered " +
    "(after a warm-up). Baselines: graphql-yoga with the gateway's schema and static resolvers " +
    "answering the same data, served by Deno.serve (as the gateway is) in a child process; a bare " +
    "grpc-js unary echo in a child process; the query service's own handler functions (the same " +
    "SQL) on a postgres.js pool of 10 (as the query service's) in the load generator's process.",
    "",
    "Seed composite query `{ categories { id name } products { id name price category { id name } } }`:",
    "",
    ...measurementTable(reads.composite, "graphql-yoga"),
    "",
    "`product(id) { id name price categoryId }`:",
    "",
    ...measurementTable(reads.product, "graphql-yoga"),
    "",
    "Bare grpc-js unary echo, the floor of one gRPC hop:",
    "",
    ...measurementTable([reads.echo]).slice(0, 3),
    "",
    "The full stack open loop at half the rate it reached above (latency from the intended send " +
    "time):",
    "",
    ...measurementTable(reads.halfRate).map((line) => line.replace(/\| [^|]+ \|$/, "|")),
    "",
    "## 2. Writes",
    "",
    "Mutations updating 100 products (name and price), closed loop, 50 callers, one worker:",
    "",
    ...measurementTable(writes.mutations).map((line) => line.replace(/\| [^|]+ \|$/, "|")),
    "",
    "Drain of a backlog: workers stopped, UpdateProduct envelopes published to `catalog.commands` " +
    "as the command service publishes them, then the workers started; the rate is over the write " +
    "database's handled_at, first to last (wall: from starting the workers until the read side " +
    "shows every outcome). Baselines: the same messages on a scratch quorum queue, and the rows " +
    "the worker writes for them (event and command log rows; command view row) in scratch tables.",
    "",
    row(["Drain or baseline", "Commands", "Seconds", "Commands/s", "Wall s", "÷ consume + insert"]),
    row(["---", "--:", "--:", "--:", "--:", "--:"]),
    ...writes.drains.map((d) =>
      row([
        d.name,
        d.count,
        d.seconds,
        d.perSecond,
        d.wallSeconds,
        combined ? ratio(d.perSecond, combined.perSecond) : "–",
      ])
    ),
    ...writes.baselines.map((b) =>
      row([
        `baseline: ${b.name}`,
        b.count,
        b.seconds,
        b.perSecond,
        "",
        combined ? ratio(b.perSecond, combined.perSecond) : "–",
      ])
    ),
    "",
    "## 3. Lag, accepted → visible",
    "",
    `submitUpdateProduct open loop at fixed rates (max submit rate ${lag.maxSubmitPerSecond}/s ` +
    "from scenario 2), one worker. Lag is from the receipt's acceptedAt (the command service's " +
    "clock, ms) to the notification the projector sends when its read-DB transaction commits; " +
    "send → visible is from the intended send time; submit is intended send → receipt.",
    "",
    row([
      "Rate",
      "Offered/s",
      "Accepted/s",
      "Visible",
      "Lag p50",
      "p90",
      "p99",
      "max",
      "Send → visible p99",
      "Submit p50",
      "Submit p99",
    ]),
    row(["---", "--:", "--:", "--:", "--:", "--:", "--:", "--:", "--:", "--:", "--:"]),
    ...lag.points.map(lagRow),
    ...(lag.atHalfSustainable ? [lagRow(lag.atHalfSustainable)] : []),
    "",
    "Ramp (each step open loop; kept up = at least 90% of the offered rate made visible over the " +
    "step's second half, or at most max(20, a quarter second's worth) still waiting at its end):",
    "",
    row(["Offered/s", "Visible/s (2nd half)", "Backlog at end", "Kept up"]),
    row(["--:", "--:", "--:", ":-:"]),
    ...lag.ramp.map((s) =>
      row([s.offered, s.visiblePerSecond, s.backlog, s.keptUp ? "yes" : "no"])
    ),
    "",
    `Sustainable: ${lag.sustainablePerSecond ?? "none of the steps"}/s; the backlog grows ` +
    `without bound from ${lag.growingFromPerSecond ?? "beyond the last step"}` +
    `${lag.growingFromPerSecond ? "/s" : ""}.`,
    "",
    "## 4. Memory",
    "",
    "Peak resident memory (VmHWM from /proc, sampled every 250 ms) of each kind of process " +
    "during the run; several processes of a kind (workers restarted for the drains) count by the " +
    "highest.",
    "",
    row(["Process", "Processes", "Peak RSS MB", "Highest sampled RSS MB"]),
    row(["---", "--:", "--:", "--:"]),
    ...memory.map((m) => row([m.name, m.processes, m.peakMb, m.sampledMb])),
    "",
    `Then ${report.documents.documents} distinct documents (a quarter createProduct mutations, the ` +
    `others reads of one product, values inline), after a warm-up of a fifth as many, in ` +
    `${report.documents.seconds} s (${report.documents.failed} failed): each service's RSS ` +
    "from its own /metrics before and after them (the end of the run).",
    "",
    row(["Service", "RSS before MB", "RSS after MB", "Growth per 10,000 documents MB"]),
    row(["---", "--:", "--:", "--:"]),
    ...report.documents.services.map((d) => row([d.name, d.beforeMb, d.afterMb, d.growthPer10kMb])),
    "",
    "## 5. CPU per mutation by document shape",
    "",
    `createProduct at ${report.documentCpu.perSecond}/s, open loop, in blocks of ` +
    `${report.documentCpu.perBlock} that alternate: each mutation a document of its own with its ` +
    "values inline, then one document with variables. The gateway's CPU from its own /metrics " +
    `before and after each block (${report.documentCpu.failed} failed).`,
    "",
    row(["Block", "Inline values ms", "Variables ms"]),
    row(["--:", "--:", "--:"]),
    ...report.documentCpu.inlineMs.map((inline, i) =>
      row([i + 1, inline, report.documentCpu.variablesMs[i] ?? ""])
    ),
    "",
    "## 6. Overload",
    "",
    `createProduct mutations (variables, waiting until readable) at ${report.overload.offeredPerSecond}/s ` +
    `for ${report.overload.seconds} s, open loop, to the gateway with the default admission ` +
    "bounds: three times the capacity measured just before through the other gateway " +
    `(${report.overload.capacityPerSecond}/s, a closed loop of 24).`,
    "",
    row([
      "Goodput /s",
      "Admitted p99 ms",
      "At half capacity p99 ms",
      "Refused",
      "Refusal p99 ms",
      "Other answers",
      "Gateway peak MB",
      "Gateway after MB",
    ]),
    row(["--:", "--:", "--:", "--:", "--:", "---", "--:", "--:"]),
    row([
      report.overload.goodputPerSecond,
      report.overload.admittedP99Ms,
      report.overload.halfCapacityP99Ms,
      report.overload.refused,
      report.overload.refusedP99Ms,
      Object.entries(report.overload.otherwise).map(([k, v]) => `${k} ${v}`).join(", ") || "none",
      report.overload.gatewayPeakMb,
      report.overload.gatewayAfterMb,
    ]),
    "",
    `Event-loop lag during the overload: the gateway's p99 per 250 ms, median ` +
    `${report.overload.lagMs.gatewayMedian} ms and worst ${report.overload.lagMs.gatewayWorst} ms; ` +
    `the load generator's own p99 ${report.overload.lagMs.client} ms (it times every answer).`,
    "",
  ];
  return out.join("\n");
}
