import assert from "node:assert/strict";
import { eventually, TcpProxy, withSystem } from "@catalog/testkit";
import { sandboxBehindProxies } from "../fault_suite/_databases.ts";
import { mutations, send } from "../fault_suite/_load.ts";
import type { ProcessName, Stack } from "@catalog/dev";

interface Readiness {
  status: number;
  notReady: string[];
  checks: Record<string, { status: string; detail?: string }>;
}

async function readiness(stack: Stack, process: ProcessName): Promise<Readiness> {
  const response = await fetch(`${stack.healthUrl(process)}/ready`);
  const body = await response.json();
  return { status: response.status, notReady: body.notReady ?? [], checks: body.checks ?? {} };
}

/** Waits until each process's /ready answers as `expected` says: 200, or 503 naming those checks. */
async function becomes(
  stack: Stack,
  expected: Partial<Record<ProcessName, string[]>>,
  what: string,
): Promise<void> {
  await eventually(what, async () => {
    for (const [process, notReady] of Object.entries(expected)) {
      const now = await readiness(stack, process as ProcessName);
      const wanted = notReady!.length === 0 ? 200 : 503;
      if (now.status !== wanted || !notReady!.every((check) => now.notReady.includes(check))) {
        // Thrown, so that a timeout says what it saw last.
        throw new Error(`${process} answers ${now.status} ${JSON.stringify(now.checks)}`);
      }
    }
    return true;
  }, 30_000);
}

const allReady = { worker: [], query: [], command: [], gateway: [] };

/** RabbitMQ's memory high watermark as rabbitmqctl sets it: "0.4", or "{absolute,…}". */
async function rabbitmqctl(...args: string[]): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command("rabbitmqctl", {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout).trim();
  assert.ok(success, `rabbitmqctl ${args.join(" ")} failed: ${new TextDecoder().decode(stderr)}`);
  return text;
}

Deno.test("every service's /ready goes not-ready and back when what it needs goes away and comes back", async (t) => {
  let postgres: TcpProxy | undefined;
  let rabbitmq: TcpProxy | undefined;
  await withSystem(
    async ({ stack }) => {
      await becomes(stack, allReady, "every service to be ready");

      await t.step("PostgreSQL away: the query service and the worker are not ready", async () => {
        await postgres!.cut();
        await becomes(
          stack,
          {
            query: ["readDatabase"],
            worker: ["writeDatabase", "readDatabase"],
            gateway: ["query"],
            command: [],
          },
          "the database's users to say it is down",
        );
        postgres!.open();
        await becomes(stack, allReady, "every service to be ready again");
      });

      await t.step("RabbitMQ away: the command service and the worker are not ready", async () => {
        await rabbitmq!.cut();
        await becomes(
          stack,
          { command: ["rabbitmq"], worker: ["rabbitmq"], gateway: ["command"], query: [] },
          "RabbitMQ's users to say it is down",
        );
        rabbitmq!.open();
        await becomes(stack, allReady, "every service to be ready again");
      });

      await t.step(
        "RabbitMQ blocking publishers: the command service is not ready and refuses at once",
        async () => {
          const watermark = await rabbitmqctl(
            "eval",
            "vm_memory_monitor:get_vm_memory_high_watermark().",
          );
          try {
            await rabbitmqctl("set_vm_memory_high_watermark", "0.0000001");
            await becomes(
              stack,
              { command: ["rabbitmq"], gateway: ["command"] },
              "the command service to say RabbitMQ blocks it",
            );
            const { checks } = await readiness(stack, "command");
            assert.equal(checks.rabbitmq?.status, "blocked");
            assert.match(checks.rabbitmq?.detail ?? "", /^it blocks publishers: /);
            const started = performance.now();
            const refused = await send(stack.graphqlUrl, mutations.createCategory("Blocked"));
            const elapsed = performance.now() - started;
            assert.equal(refused.kind, "error");
            assert.equal(refused.kind === "error" && refused.code, "SERVICE_UNAVAILABLE");
            assert.match(
              refused.kind === "error" ? refused.message : "",
              /RabbitMQ blocks publishers/,
            );
            assert.ok(elapsed < 1000, `refused after ${elapsed.toFixed(0)} ms, not at once`);
          } finally {
            await rabbitmqctl(
              "set_vm_memory_high_watermark",
              ...(watermark.startsWith("{absolute,")
                ? ["absolute", watermark.slice("{absolute,".length, -1)]
                : [watermark]),
            );
          }
          await becomes(stack, allReady, "every service to be ready again");
          const accepted = await send(stack.graphqlUrl, mutations.createCategory("Unblocked"));
          assert.equal(accepted.kind, "ok", JSON.stringify(accepted));
        },
      );

      await t.step("no worker consuming: the gateway is not ready", async () => {
        await stack.stop("worker");
        await becomes(
          stack,
          { gateway: ["workers"], command: [], query: [] },
          "the gateway to miss the workers",
        );
        const { checks } = await readiness(stack, "gateway");
        assert.deepEqual(checks.workers, {
          status: "missing",
          detail: "commands are accepted but not applied",
        });
        await stack.start("worker");
        await becomes(stack, allReady, "every service to be ready again");
      });
    },
    {},
    {
      envFor(sandbox) {
        const proxied = sandboxBehindProxies(sandbox);
        postgres = proxied.postgres;
        rabbitmq = proxied.rabbitmq;
        return proxied.env;
      },
    },
  ).finally(async () => {
    await postgres?.cut();
    await rabbitmq?.cut();
  });
});
