/**
 * `deno task test`: every test, in two runs of `deno test`.
 *
 * The tests that run alone, one file at a time, are those that start a whole
 * stack (they measure latency, throughput and recovery, which a neighbour's
 * load would change), change what every test shares (`deno task dev`'s test
 * turns RabbitMQ's consistent-hash plugin off, the readiness test raises
 * RabbitMQ's memory alarm), or assert what one projection pass takes (a
 * transaction of another database on the shared server, open at that moment,
 * holds a pass back; the worker runs another, a test that calls project()
 * once cannot). Every other test works in a sandbox of its own, and those run
 * two files at a time (`deno test --parallel`, one per core), which halves
 * their time. With arguments (`deno task test e2e/`, say), one run of
 * `deno test` with them, one file at a time.
 *
 * Deno's test runner has no per-file say in --parallel, so the split is kept
 * here, in one list.
 */

/** Run one file at a time, after the others: see above. */
export const alone = [
  "e2e",
  "fault_suite",
  "bench",
  "dev",
  "worker/project_integration_test.ts",
  "worker/handle_command_integration_test.ts",
];

async function denoTest(args: string[]): Promise<boolean> {
  const { success } = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", ...args],
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return success;
}

if (import.meta.main) {
  if (Deno.args.length > 0) Deno.exit(await denoTest(Deno.args) ? 0 : 1);
  const shared = await denoTest(["--parallel", `--ignore=${alone.join(",")}`]);
  const apart = await denoTest(alone);
  if (!shared || !apart) Deno.exit(1);
}
