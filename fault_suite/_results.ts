/**
 * Collects each scenario's figures into results/latest.json and
 * results/latest.md beside this file (ignored by git: a plain test run never
 * changes the tracked tree; docs/guarantees.md quotes a run on purpose).
 * Every scenario replaces its own entry, so running one file updates its row
 * and keeps the others from their last run.
 */
import { formatGenerated } from "@catalog/testkit";

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

const resultsFolder = new URL("./results/", import.meta.url);
const jsonFile = new URL("latest.json", resultsFolder);
const markdownFile = new URL("latest.md", resultsFolder);

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
    "Written by `deno task test:faults` (fault_suite/); each row is the last run of its scenario.",
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

/** Prints the scenario's summary line and stores its result in results/latest.{json,md}. */
export async function recordResult(result: ScenarioResult): Promise<void> {
  console.log(`faults: ${result.summary}`);
  await Deno.mkdir(resultsFolder, { recursive: true });
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
