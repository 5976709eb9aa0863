import assert from "node:assert/strict";
import { createSandbox, eventually, freePort } from "@catalog/testkit";

async function createDisposableSandbox() {
  const sandbox = await createSandbox();
  return Object.assign(sandbox, { [Symbol.asyncDispose]: () => sandbox.dispose() });
}

Deno.test("deno task dev says exactly what is missing when RabbitMQ does not answer", async () => {
  const closedPort = freePort();
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("./main.ts", import.meta.url).pathname],
    // No docker on PATH, so it cannot start the infrastructure itself.
    env: { PATH: "", NO_COLOR: "1", AMQP_URL: `amqp://guest:guest@127.0.0.1:${closedPort}` },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.equal(code, 1, output);
  assert.match(output, /Cannot start the catalog: the infrastructure it needs is not answering/);
  assert.match(
    output,
    new RegExp(`RabbitMQ at amqp://guest:\\*\\*\\*@127\\.0\\.0\\.1:${closedPort}`),
  );
  assert.doesNotMatch(output, /PostgreSQL at/);
  assert.match(output, /docker compose up --detach --wait/);
});

/** A running `deno task dev`, read line by line. */
interface Dev {
  lines: string[];
  /** Resolves with the first line (from `from` on) matching pattern; rejects after timeoutMs. */
  waitFor(pattern: RegExp, timeoutMs?: number, from?: number): Promise<string>;
  child: Deno.ChildProcess;
  stop(): Promise<Deno.CommandStatus>;
}

function startDev(env: Record<string, string>): Dev {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("./main.ts", import.meta.url).pathname],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const read = async (stream: ReadableStream<Uint8Array>) => {
    let rest = "";
    const decoder = new TextDecoder();
    for await (const bytes of stream) {
      const text = decoder.decode(bytes, { stream: true });
      const parts = (rest + text).split("\n");
      rest = parts.pop() ?? "";
      lines.push(...parts);
    }
    if (rest) lines.push(rest);
  };
  const reading = Promise.all([read(child.stdout), read(child.stderr)]);
  return {
    lines,
    child,
    async waitFor(pattern, timeoutMs = 60_000, from = 0) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const found = lines.slice(from).find((line) => pattern.test(line));
        if (found) return found;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`No line matching ${pattern} within ${timeoutMs} ms:\n${lines.join("\n")}`);
    },
    async stop() {
      try {
        child.kill("SIGINT");
      } catch {
        // Already gone.
      }
      const status = await child.status;
      await reading;
      return status;
    },
  };
}

function devPorts(): Record<string, string> {
  return Object.fromEntries(
    [
      "GATEWAY_PORT",
      "COMMAND_GRPC_PORT",
      "QUERY_GRPC_PORT",
      "COMMAND_HTTP_PORT",
      "QUERY_HTTP_PORT",
      "WORKER_HTTP_PORT",
    ].map((name) => [name, String(freePort())]),
  );
}

async function consistentHashPlugin(action: "enable" | "disable"): Promise<void> {
  const { success, stderr } = await new Deno.Command("rabbitmq-plugins", {
    args: [action, "rabbitmq_consistent_hash_exchange"],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(success, `rabbitmq-plugins ${action} failed: ${new TextDecoder().decode(stderr)}`);
}

Deno.test("deno task dev explains the missing consistent-hash plugin, or enables it, and brings a killed service back", async () => {
  await using sandbox = await createDisposableSandbox();
  const ports = devPorts();
  await consistentHashPlugin("disable");
  try {
    // Without rabbitmq-plugins at hand it can only say what to run.
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", new URL("./main.ts", import.meta.url).pathname],
      env: { PATH: "", NO_COLOR: "1", ...sandbox.env, ...ports },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    assert.equal(code, 1, output);
    assert.match(
      output,
      /Cannot start the catalog: RabbitMQ at amqp:\/\/guest:\*\*\*@localhost:5672\/\S+ answers, but its rabbitmq_consistent_hash_exchange plugin is not enabled\./,
    );
    assert.match(
      output,
      /\n {2}rabbitmq-plugins enable rabbitmq_consistent_hash_exchange rabbitmq_management\n/,
    );
    assert.doesNotMatch(output, /^\s+at /m, "no stack trace");

    // With it, on a local broker, it enables the plugin and starts.
    const dev = startDev({ ...sandbox.env, ...ports, PATH: Deno.env.get("PATH") ?? "" });
    try {
      await dev.waitFor(/enabling it: rabbitmq-plugins enable rabbitmq_consistent_hash_exchange/);
      await dev.waitFor(/^The catalog is running:/, 120_000);

      // A service killed as a crash would be comes back by itself.
      const started = await dev.waitFor(/^query +\| started \(pid (\d+)\)/);
      const pid = Number(started.match(/pid (\d+)/)![1]);
      const mark = dev.lines.length;
      Deno.kill(pid, "SIGKILL");
      await dev.waitFor(
        /^query exited by itself \(signal SIGKILL\); restarting it in 1000 ms \(restart 1 of at most 5 within 300 s\)$/,
        10_000,
        mark,
      );
      const again = await dev.waitFor(/^query +\| started \(pid (\d+)\)/, 30_000, mark);
      assert.notEqual(Number(again.match(/pid (\d+)/)![1]), pid);
      await dev.waitFor(/^query is back$/, 30_000, mark);
      const gateway = `http://localhost:${ports.GATEWAY_PORT}`;
      await eventually("the gateway to be ready again", async () => {
        const response = await fetch(`${gateway}/ready`);
        await response.body?.cancel();
        return response.ok;
      });
      const answer = await fetch(`${gateway}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "{ categories { name } }" }),
      });
      const body = await answer.json();
      assert.equal(body.data.categories.length, 4, JSON.stringify(body));
    } finally {
      const status = await dev.stop();
      assert.equal(status.code, 0, dev.lines.slice(-30).join("\n"));
    }
  } finally {
    await consistentHashPlugin("enable");
  }
});
