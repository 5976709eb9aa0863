/**
 * `deno task test`: every test, in two runs of `deno test`.
 *
 * Most tests work in a sandbox of their own (databases, a vhost, ports), and
 * assert what happened, not how fast: those run several files at a time
 * (`deno test --parallel`, one more than the cores, since much of their time
 * waits on a stack starting or on PostgreSQL; DENO_JOBS overrides it), which
 * more than halves their time. The rest run after them, one file at a time:
 *
 * - those that measure latency, throughput or recovery, which a neighbour's
 *   load would change: the fault suite, the circuit breaker's refusal time,
 *   readiness (which also raises RabbitMQ's memory alarm, for every vhost),
 *   and the memory soak, which keeps both cores busy for a minute and more
 *   (the benchmark's smoke run measures too, but asserts only that each
 *   figure is there and sane, so it runs with the others, as does the alerts'
 *   test, which waits up to a minute for what takes seconds);
 * - those whose own process speaks gRPC (a service started in the test, or a
 *   client of one): Deno's node:http2 can abort a whole process inside
 *   nghttp2 when a session receives a GOAWAY (denoland/deno#36788), and a test
 *   that closes a gRPC server or client in its process sends one. The services
 *   never do (see runtime/grpc_server.ts), so a test that only drives a stack
 *   of child processes over HTTP is safe beside others (a parallel run that
 *   held these too was aborted so, once);
 * - `deno task dev`'s test, which turns RabbitMQ's consistent-hash plugin off;
 * - those that call project() themselves and assert what one pass did: a
 *   transaction of another database on the shared server, ending at that
 *   moment, can hold a pass back (the worker then runs another; a test that
 *   calls project() once cannot).
 *
 * Deno's test runner has no per-file say in --parallel, so the split is kept
 * here, in one list. The workspace is type-checked once first, as `deno check
 * .` does (a cache hit after `deno task ok` or CI's own check), and neither
 * run checks again. With arguments (`deno task test e2e/`, say), one run of
 * `deno test` with them, one file at a time, checked as usual.
 */

/** Run one file at a time, after the others: see above. */
export const alone = [
  "fault_suite",
  "e2e/breaker_test.ts",
  "e2e/readiness_test.ts",
  "e2e/memory_test.ts",
  "command/service_integration_test.ts",
  "query/service_integration_test.ts",
  "query/change_feed_integration_test.ts",
  "query/limits_integration_test.ts",
  "query/pages_integration_test.ts",
  "query/statistics_integration_test.ts",
  "runtime/grpc_server_access_test.ts",
  "e2e/batched_reads_test.ts",
  "e2e/commands_test.ts",
  "e2e/security_test.ts",
  "dev/main_integration_test.ts",
  "worker/project_integration_test.ts",
  "worker/handle_command_integration_test.ts",
  "worker/rebuild_integration_test.ts",
  "worker/retention_integration_test.ts",
  "worker/verify_integration_test.ts",
];

async function deno(args: string[], env: Record<string, string> = {}): Promise<boolean> {
  const { success } = await new Deno.Command(Deno.execPath(), {
    args,
    env,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return success;
}

if (import.meta.main) {
  if (Deno.args.length > 0) Deno.exit(await deno(["test", "--allow-all", ...Deno.args]) ? 0 : 1);
  if (!await deno(["check", "."])) {
    console.error("Cannot run the tests: the type check failed");
    Deno.exit(1);
  }
  const test = ["test", "--allow-all", "--no-check"];
  const jobs = Deno.env.get("DENO_JOBS") || String(navigator.hardwareConcurrency + 1);
  const shared = await deno([...test, "--parallel", `--ignore=${alone.join(",")}`], {
    DENO_JOBS: jobs,
  });
  const apart = await deno([...test, ...alone]);
  if (!shared || !apart) Deno.exit(1);
}
