/**
 * The alert rules of ops/prometheus/alerts.yml, evaluated by a real
 * Prometheus (Debian's `prometheus` package) scraping a running stack: with
 * the worker stopped and commands queued, the command-lag and no-worker
 * alerts go pending, then firing once their `for` has passed if the test
 * waits that long.
 */
import assert from "node:assert/strict";
import {
  eventually,
  freePort,
  graphql,
  prometheusProgram,
  withSystem,
  writerToken,
} from "@catalog/testkit";
import type { Stack } from "@catalog/dev";

const rules = new URL("../ops/prometheus/alerts.yml", import.meta.url).pathname;

function hostPort(url: string): string {
  return new URL(url).host;
}

/** A Prometheus configuration scraping the stack every second, with the catalog's rules. */
function configFor(stack: Stack): string {
  const jobs = {
    "catalog-gateway": stack.healthUrl("gateway"),
    "catalog-command": stack.healthUrl("command"),
    "catalog-query": stack.healthUrl("query"),
    "catalog-worker": stack.healthUrl("worker"),
  };
  return [
    "global:",
    "  scrape_interval: 1s",
    "  evaluation_interval: 1s",
    "rule_files:",
    `  - ${JSON.stringify(rules)}`,
    "scrape_configs:",
    ...Object.entries(jobs).flatMap(([job, url]) => [
      `  - job_name: ${job}`,
      "    static_configs:",
      `      - targets: [${JSON.stringify(hostPort(url))}]`,
    ]),
    "",
  ].join("\n");
}

interface Alert {
  labels: Record<string, string>;
  state: "pending" | "firing";
}

async function alertsOf(api: string): Promise<Alert[]> {
  const response = await fetch(`${api}/api/v1/alerts`, { signal: AbortSignal.timeout(2000) });
  const body = await response.json() as { data: { alerts: Alert[] } };
  return body.data.alerts;
}

Deno.test("Prometheus sees the command-lag and no-worker alerts once the worker stops with commands queued", async () => {
  const binary = prometheusProgram("prometheus");
  await withSystem(async ({ stack }) => {
    const dir = await Deno.makeTempDir({ prefix: "catalog-prometheus-" });
    const port = freePort();
    const api = `http://127.0.0.1:${port}`;
    await Deno.writeTextFile(`${dir}/prometheus.yml`, configFor(stack));
    const server = new Deno.Command(binary, {
      args: [
        `--config.file=${dir}/prometheus.yml`,
        `--storage.tsdb.path=${dir}/data`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const output = new Response(server.stderr).text();
    try {
      // Every target scraped and healthy, and no alert yet.
      await eventually("every target up", async () => {
        const response = await fetch(`${api}/api/v1/targets`);
        const { data } = await response.json() as {
          data: { activeTargets: { health: string }[] };
        };
        const targets = data.activeTargets;
        return targets.length === 4 && targets.every((target) => target.health === "up");
      }, 30_000);
      // The rules evaluated at least once on scrapes of every target.
      const allUp = Date.now();
      await eventually("the rules evaluated with every target up", async () => {
        const response = await fetch(`${api}/api/v1/rules`);
        const { data } = await response.json() as {
          data: { groups: { lastEvaluation: string }[] };
        };
        return data.groups.length > 0 &&
          data.groups.every((group) => Date.parse(group.lastEvaluation) > allUp + 1000);
      }, 30_000);
      const quiet = await alertsOf(api);
      assert.deepEqual(quiet.map((alert) => alert.labels.alertname), [], "no alert while healthy");

      await stack.stop("worker");
      const submitted = 60;
      for (let i = 0; i < submitted; i++) {
        const answer = await graphql(
          stack.graphqlUrl,
          `mutation ($name: String!) { submitCreateCategory(input: { name: $name }) { commandId } }`,
          { name: `queued-${i}` },
          { token: writerToken },
        );
        assert.equal(answer.errors, undefined, JSON.stringify(answer.errors));
      }

      let raised = new Map<string, string>();
      await eventually("the lag and no-worker alerts", async () => {
        const alerts = await alertsOf(api);
        raised = new Map(alerts.map((alert) => [alert.labels.alertname!, alert.state]));
        return raised.has("CatalogCommandLagHigh") && raised.has("CatalogNoWorkerConsuming");
      }, 60_000);
      for (const name of ["CatalogCommandLagHigh", "CatalogNoWorkerConsuming"]) {
        assert.ok(
          ["pending", "firing"].includes(raised.get(name)!),
          `${name}: ${raised.get(name)}`,
        );
      }

      // Once a worker is back, the queue drains and both alerts clear.
      await stack.start("worker");
      await eventually("the alerts to clear", async () => {
        const names = (await alertsOf(api)).map((alert) => alert.labels.alertname);
        return !names.includes("CatalogCommandLagHigh") &&
          !names.includes("CatalogNoWorkerConsuming");
      }, 60_000);
    } finally {
      server.kill("SIGTERM");
      const status = await server.status;
      const errors = await output;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      assert.ok(status.success || status.signal === "SIGTERM", errors);
    }
  });
});
