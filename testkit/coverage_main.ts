/**
 * `deno task coverage [-- test paths]`: runs the tests (all of them, or the
 * paths given) with Deno's built-in coverage, the services the tests start
 * included (DENO_COVERAGE_DIR reaches every `deno run` they spawn), then
 * prints line and branch coverage per folder and the least-covered files,
 * and writes an HTML report to .coverage/html/ and lcov to .coverage/lcov.info.
 */
import { byFolder, coverageTable, leastCovered, parseLcov, percent } from "./coverage_report.ts";

const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const output = `${root}/.coverage`;
const profiles = `${output}/profiles`;
/** Test code and harnesses: not what the figures are about. */
const exclude = String
  .raw`(_test\.ts$|/testdata/|^file://${root}/(testkit|e2e|fault_suite|bench)/)`;

async function deno(args: string[], env: Record<string, string> = {}): Promise<number> {
  const { code } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    env,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return code;
}

await Deno.remove(output, { recursive: true }).catch(() => {});
await Deno.mkdir(profiles, { recursive: true });
const tested = await deno(
  ["test", "--allow-all", `--coverage=${profiles}`, "--coverage-raw-data-only", ...Deno.args],
  { DENO_COVERAGE_DIR: profiles },
);
const lcovFile = `${output}/lcov.info`;
const reported = await deno([
  "coverage",
  profiles,
  "--quiet",
  `--exclude=${exclude}`,
  "--lcov",
  `--output=${lcovFile}`,
]);
if (reported !== 0) {
  console.error("Cannot report coverage: deno coverage failed");
  Deno.exit(reported);
}
await deno(["coverage", profiles, "--quiet", `--exclude=${exclude}`, `--html`]);
// deno coverage --html writes into the profiles folder: move it beside the rest.
await Deno.rename(`${profiles}/html`, `${output}/html`).catch(() => {});

const files = parseLcov(await Deno.readTextFile(lcovFile), root);
console.log(
  `\nCoverage of ${files.length} source files (tests, test kit and harnesses left out):\n`,
);
console.log(coverageTable(byFolder(files)));
console.log("\nLeast covered:");
for (const file of leastCovered(files, 10)) {
  console.log(`  ${percent(file.lines).padStart(7)}  ${file.path} (${file.lines.found} lines)`);
}
console.log(`\nHTML report: .coverage/html/index.html; lcov: .coverage/lcov.info`);
Deno.exit(tested);
