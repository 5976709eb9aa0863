/** The dead-letter tools' command line where no RabbitMQ is needed; the rest is in dlq_integration_test.ts. */
import assert from "node:assert/strict";
import { type DenoRun, freePort, runDeno } from "@catalog/testkit";

/** Runs worker/dlq_main.ts as `deno task dlq:<tool>` does. */
function runTool(amqpUrl: string, args: string[]): Promise<DenoRun> {
  const script = ["run", "--allow-net", "--allow-env", "--allow-read", "--allow-sys"];
  return runDeno([...script, "worker/dlq_main.ts", ...args], { AMQP_URL: amqpUrl });
}

Deno.test("deno task dlq:list explains an unreachable RabbitMQ in one line, and dlq:replay its usage", async () => {
  const port = freePort();
  const unreachable = await runTool(`amqp://guest:secret@127.0.0.1:${port}`, ["list"]);
  assert.equal(unreachable.code, 1);
  assert.equal(unreachable.stdout, "");
  assert.equal(
    unreachable.stderr,
    `Cannot list dead letters: RabbitMQ at amqp://guest:***@127.0.0.1:${port} refused the connection\n`,
  );

  const usage = await runTool(`amqp://guest:secret@127.0.0.1:${port}`, ["replay"]);
  assert.equal(usage.code, 2);
  assert.match(
    usage.stderr,
    /^Cannot replay dead letters: name the command ids to replay, or --all\n/,
  );
  assert.match(usage.stderr, /deno task dlq:replay -- --all/);
});
