/**
 * Collects each scenario's figures into results.json and results.md beside
 * this file. Every scenario replaces its own entry, so running one file
 * updates its row and keeps the others from their last run.
 */
import { formatGenerated } from "../format.ts";

/** One scenario's outcome. */
export interface ScenarioResult {
  /** Orders the table: 1 to 7. */
  number: number;
  /** Short name, such as "worker SIGKILL x5". */
  name: string;
  /** Whether every check of the scenario held. */
  passed: boolean;
  /** The one-line summary the scenario printed. */
  summary: string;
  /** Wall-clock time of the scenario, stack start and teardown included, in seconds. */
  seconds: number;
  /** The figures behind the summary. */
  figures: Record<string, unknown>;
}

interface ResultsFile {
  updatedAt: string;
  scenarios: Record<string, ScenarioResult & { ranAt: string }>;
}

const jsonFile = new URL("./results.json", import.meta.url);
const markdownFile = new URL("./results.md", import.meta.url);

async function readResults(): Promise<ResultsFile> {
  try {
    return JSON.parse(await Deno.readTextFile(jsonFile));
  } catch {
    return { updatedAt: "", scenarios: {} };
  }
}

function markdownOf(results: ResultsFile): string {
  const rows = Object.values(results.scenarios).sort((a, b) => a.number - b.number);
  const escape = (text: string) => text.replaceAll("|", "\\|");
  return [
    "# Fault suite results",
    "",
    "Written by `deno task test:faults` (dev/fault_suite/); each row is the last run of its scenario.",
    "",
    "| # | Scenario | Result | Figures | Time | Run at |",
    "| - | -------- | ------ | ------- | ---- | ------ |",
    ...rows.map((row) =>
      `| ${row.number} | ${escape(row.name)} | ${row.passed ? "pass" : "**FAIL**"} | ${
        escape(row.summary)
      } | ${row.seconds.toFixed(0)} s | ${row.ranAt} |`
    ),
    "",
  ].join("\n");
}

/** Prints the scenario's summary line and stores its result in results.json and results.md. */
export async function recordResult(result: ScenarioResult): Promise<void> {
  console.log(`faults: ${result.summary}`);
  const results = await readResults();
  const ranAt = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  results.scenarios[String(result.number)] = { ...result, ranAt };
  results.updatedAt = ranAt;
  await Deno.writeTextFile(jsonFile, JSON.stringify(results, null, 2) + "\n");
  await Deno.writeTextFile(markdownFile, markdownOf(results));
  await formatGenerated(jsonFile.pathname, markdownFile.pathname);
}

/** Measures a scenario's wall-clock time. */
export function stopwatch(): () => number {
  const started = performance.now();
  return () => (performance.now() - started) / 1000;
}

/**
 * The checks of a scenario, by name. Every check is recorded before any is
 * asserted, so a failing scenario still writes its figures.
 */
export class Checks {
  readonly #results: [string, boolean][] = [];

  /** Records whether `what` held. */
  check(what: string, held: boolean): void {
    this.#results.push([what, held]);
  }

  get passed(): boolean {
    return this.#results.every(([, held]) => held);
  }

  /** The names of the checks that failed. */
  get failed(): string[] {
    return this.#results.filter(([, held]) => !held).map(([what]) => what);
  }
}

/** The processes of a stack that exited without being stopped: "worker (code 1)", or "none did". */
export function crashesOf(
  stack: { crashes: readonly { process: string; status: Deno.CommandStatus }[] },
): string {
  return stack.crashes.map(({ process, status }) =>
    `${process} (${status.signal ?? `code ${status.code}`})`
  ).join(", ") || "none did";
}
