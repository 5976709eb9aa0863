import assert from "node:assert/strict";
import denoConfig from "../../deno.json" with { type: "json" };
import { parseCommandConfig } from "../../command/config.ts";
import { parseConfig as parseGatewayConfig } from "../../gateway/config.ts";
import { parseQueryConfig } from "../../query/config.ts";
import { parseWorkerConfig } from "../../worker/config.ts";

const unit = new URL("./catalog@.service", import.meta.url);
const services = ["worker", "query", "command", "gateway"] as const;

Deno.test("catalog@.service is a unit systemd accepts for each of the four services", async () => {
  const text = await Deno.readTextFile(unit);
  const dir = await Deno.makeTempDir({ prefix: "catalog-units-" });
  try {
    for (const service of services) {
      const path = `${dir}/catalog@${service}.service`;
      await Deno.writeTextFile(path, text);
      const { success, stdout, stderr } = await new Deno.Command("systemd-analyze", {
        args: ["verify", path],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
      assert.ok(success, `systemd-analyze verify catalog@${service}.service: ${said}`);
      assert.equal(said.trim(), "", `systemd-analyze had remarks on catalog@${service}.service`);
      // What it starts is the service's own task.
      assert.match(
        String((denoConfig.tasks as Record<string, unknown>)[service] ?? ""),
        new RegExp(`^deno run .* ${service}/main\\.ts$`),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("catalog@.service names the health ports the services listen on by default", async () => {
  const text = await Deno.readTextFile(unit);
  const ports = {
    gateway: parseGatewayConfig({}).port,
    command: parseCommandConfig({}).httpPort,
    query: parseQueryConfig({}).httpPort,
    worker: parseWorkerConfig({}).httpPort,
  };
  assert.match(
    text,
    new RegExp(
      `gateway ${ports.gateway}, command ${ports.command}, query ${ports.query}, worker ${ports.worker}`,
    ),
  );
  assert.match(text, /^Restart=on-failure$/m);
  assert.match(text, /^ExecStart=\/usr\/bin\/env deno task %i$/m);
});
