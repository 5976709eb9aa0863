/**
 * The benchmark harness of issue 6: starts the services in a throwaway
 * sandbox, runs each scenario after a warm-up, with its baselines in the same
 * run, and writes bench/results/latest.json and latest.md.
 *
 *   deno task bench                       # the full run, a few minutes
 *   deno task bench --scale=0.01          # a smoke run, well under a minute
 *   deno task bench --out=/tmp/results    # write the files elsewhere
 *   deno task bench --only=reads          # scenario 1 alone, printed, no files written
 *   deno task bench --only=documents      # scenarios 4 (documents) and 5 alone, the same way
 *   deno task bench --only=overload --scale=2   # scenario 6 alone, 3 × capacity for 60 s
 *
 * BENCH_SCALE and BENCH_RESULTS_DIR do the same as the flags; BENCH_LOGS=1
 * prints every service line. Needs the developer's PostgreSQL and RabbitMQ
 * (the same variables as the services and tests).
 */
import { runDocumentCpu } from "./_document_cpu.ts";
import { runDocuments } from "./_documents.ts";
import { runLag } from "./_lag.ts";
import { runOverloadRow } from "./_overload.ts";
import { MemorySampler } from "./_memory.ts";
import { runReads, seedCatalog } from "./_reads.ts";
import {
  documentCpuTargetOf,
  markdownOf,
  overloadTargetOf,
  readTargetsOf,
  type Report,
  targetLine,
  targetsOf,
} from "./_report.ts";
import { startSystem } from "./_system.ts";
import { runWrites } from "./_writes.ts";
import { formatGenerated } from "@catalog/testkit";

/** Options of runBench(). */
export interface BenchOptions {
  /** Scales counts and durations. Default 1 (the full run). */
  scale?: number;
  /** Folder the files go to. Default bench/results. */
  outDir?: string;
  /** Receives each progress line. Default console.log. */
  log?: (line: string) => void;
  /** Receives every service line. Default: none. */
  onServiceLine?: (line: string) => void;
}

/** The scenarios that run alone with --only, for working on one path. */
export const SOLO_SCENARIOS = ["reads", "documents", "overload"] as const;

/**
 * Runs one scenario alone: "reads" (scenario 1), "documents" (memory
 * under distinct documents and CPU per mutation by document shape, 4 and 5),
 * or "overload" (6); prints its figures and its targets, writes no file.
 */
export async function runOnly(
  scenario: (typeof SOLO_SCENARIOS)[number],
  options: Omit<BenchOptions, "outDir"> = {},
): Promise<void> {
  const scale = options.scale ?? 1;
  if (!(scale > 0 && scale <= 10)) {
    throw new RangeError(`Cannot run the benchmark: scale must be in (0, 10], not ${scale}`);
  }
  const log = options.log ?? console.log;
  const memory = new MemorySampler();
  memory.start();
  try {
    log(`Starting the services in a sandbox (scale ${scale})`);
    await using system = await startSystem({ scale, log, onServiceLine: options.onServiceLine });
    const catalog = await seedCatalog(system, { categories: 10, products: 100 });
    if (scenario === "reads") {
      const reads = await runReads(system, catalog);
      log("");
      for (const target of readTargetsOf(reads)) log(targetLine(target));
    } else if (scenario === "overload") {
      log("Three times the capacity");
      const overload = await runOverloadRow(system, catalog);
      log(`  ${JSON.stringify(overload)}`);
      log("");
      log(targetLine(overloadTargetOf(overload)));
    } else {
      log("Distinct documents");
      const documents = await runDocuments(system, catalog);
      for (const service of documents.services) {
        log(
          `  ${service.name}: ${service.beforeMb} → ${service.afterMb} MB, ` +
            `${service.growthPer10kMb} MB per 10,000 documents`,
        );
      }
      log("CPU per mutation by document shape");
      const cpu = await runDocumentCpu(system, catalog);
      log("");
      log(targetLine(documentCpuTargetOf(cpu)));
    }
    for (const peak of memory.stop()) log(`peak RSS ${peak.name}: ${peak.peakMb} MB`);
  } finally {
    memory.stop();
  }
}

/** Runs every scenario and writes latest.json and latest.md; answers the report. */
export async function runBench(options: BenchOptions = {}): Promise<Report> {
  const scale = options.scale ?? 1;
  if (!(scale > 0 && scale <= 10)) {
    throw new RangeError(`Cannot run the benchmark: scale must be in (0, 10], not ${scale}`);
  }
  const log = options.log ?? console.log;
  const outDir = options.outDir ?? new URL("./results/", import.meta.url).pathname;
  const started = performance.now();
  const memory = new MemorySampler();
  const recent = new Map<string, string[]>();
  const onServiceLine = (line: string) => {
    options.onServiceLine?.(line);
    const process = line.slice(0, line.indexOf(" "));
    const lines = recent.get(process) ?? [];
    lines.push(line);
    if (lines.length > 5) lines.shift();
    recent.set(process, lines);
  };
  memory.start();
  let peaks;
  let figures: Omit<Report, "targets">;
  try {
    log(`Starting the services in a sandbox (scale ${scale})`);
    await using system = await startSystem({
      scale,
      log,
      onServiceLine,
    });
    const catalog = await seedCatalog(system, { categories: 10, products: 100 });
    log(`Seeded ${catalog.categoryIds.length} categories, ${catalog.productIds.length} products`);
    const reads = await runReads(system, catalog);
    const writes = await runWrites(system, catalog);
    log("Lag");
    const lag = await runLag(system, catalog, writes.maxSubmitPerSecond);
    log("Distinct documents");
    const documents = await runDocuments(system, catalog);
    log("CPU per mutation by document shape");
    const documentCpu = await runDocumentCpu(system, catalog);
    log("Overload: three times the capacity");
    const overload = await runOverloadRow(system, catalog);
    peaks = memory.stop();
    const crashes = system.stack.crashes.map((crash) => ({
      process: crash.process,
      code: crash.status.code,
      signal: crash.status.signal,
      at: crash.at.toISOString(),
      lastLines: recent.get(crash.process) ?? [],
    }));
    figures = {
      measuredAt: new Date().toISOString(),
      scale,
      machine: {
        cores: navigator.hardwareConcurrency,
        deno: Deno.version.deno,
        os: `${Deno.build.os} ${Deno.build.arch}`,
      },
      seconds: 0,
      reads,
      writes,
      lag,
      documents,
      documentCpu,
      overload,
      memory: peaks,
      crashes,
    };
  } finally {
    memory.stop();
  }
  figures.seconds = Math.round((performance.now() - started) / 1000);
  const report: Report = { ...figures, targets: targetsOf(figures) };
  await Deno.mkdir(outDir, { recursive: true });
  await Deno.writeTextFile(`${outDir}/latest.json`, `${JSON.stringify(report, null, 2)}\n`);
  await Deno.writeTextFile(`${outDir}/latest.md`, markdownOf(report));
  await formatGenerated(`${outDir}/latest.md`, `${outDir}/latest.json`);
  log(`Figures written to ${outDir}/latest.md and latest.json (${figures.seconds} s)`);
  return report;
}

function flag(name: string): string | undefined {
  const prefix = `--${name}=`;
  return Deno.args.find((arg) => arg.startsWith(prefix))?.slice(prefix.length);
}

if (import.meta.main && flag("only") !== undefined) {
  const only = flag("only") as (typeof SOLO_SCENARIOS)[number];
  if (!SOLO_SCENARIOS.includes(only)) {
    const choices = SOLO_SCENARIOS.map((scenario) => `"${scenario}"`).join(" or ");
    console.error(`Cannot run the benchmark: --only takes ${choices}, not "${only}"`);
    Deno.exit(2);
  }
  await runOnly(only, {
    scale: Number(flag("scale") ?? Deno.env.get("BENCH_SCALE") ?? 1),
    onServiceLine: Deno.env.get("BENCH_LOGS") === "1" ? (line) => console.log(line) : undefined,
  });
} else if (import.meta.main) {
  const report = await runBench({
    scale: Number(flag("scale") ?? Deno.env.get("BENCH_SCALE") ?? 1),
    outDir: flag("out") ?? Deno.env.get("BENCH_RESULTS_DIR") ?? undefined,
    onServiceLine: Deno.env.get("BENCH_LOGS") === "1" ? (line) => console.log(line) : undefined,
  });
  console.log("");
  for (const crash of report.crashes) {
    console.log(`CRASHED ${crash.process} (code ${crash.code}): ${crash.lastLines.at(-1) ?? ""}`);
  }
  for (const target of report.targets) console.log(targetLine(target));
}
