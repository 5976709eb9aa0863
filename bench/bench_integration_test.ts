import assert from "node:assert/strict";
import { runBench } from "./main.ts";
import type { Report } from "./_report.ts";
import type { Percentiles } from "./histogram.ts";

function assertSane(what: string, latency: Percentiles): void {
  assert.ok(latency.count > 0, `${what}: no samples`);
  assert.ok(latency.p50 <= latency.p90, `${what}: p50 ${latency.p50} > p90 ${latency.p90}`);
  assert.ok(latency.p90 <= latency.p99, `${what}: p90 ${latency.p90} > p99 ${latency.p99}`);
  assert.ok(latency.p99 <= latency.max, `${what}: p99 ${latency.p99} > max ${latency.max}`);
}

Deno.test({
  name: "runBench() at scale 0.01 writes latest.json and latest.md with every scenario",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const outDir = await Deno.makeTempDir({ prefix: "bench_test_" });
    try {
      await runBench({ scale: 0.01, outDir, log: () => {} });
      const report: Report = JSON.parse(await Deno.readTextFile(`${outDir}/latest.json`));
      const markdown = await Deno.readTextFile(`${outDir}/latest.md`);

      assert.equal(report.scale, 0.01);
      assert.equal(report.reads.products, 100);
      for (const m of [...report.reads.composite, ...report.reads.product, report.reads.echo]) {
        assert.ok(m.ok > 0 && m.perSecond > 0, `${m.name}: nothing completed`);
        assertSane(m.name, m.latencyMs);
      }
      assert.equal(report.reads.composite.length, 4);
      assert.equal(report.reads.product.length, 4);
      assert.equal(report.reads.halfRate.length, 2);
      for (const m of report.reads.halfRate) assertSane(m.name, m.latencyMs);

      assert.equal(report.writes.mutations.length, 2);
      for (const m of report.writes.mutations) {
        assert.ok(m.ok > 0, `${m.name}: nothing completed`);
        assertSane(m.name, m.latencyMs);
      }
      assert.deepEqual(report.writes.drains.map((d) => d.workers), [1, 2]);
      for (const d of report.writes.drains) {
        assert.equal(d.count, 200, `${d.name}: handled ${d.count} of 200`);
        assert.ok(d.perSecond > 0, `${d.name}: no rate`);
      }
      assert.equal(report.writes.baselines.length, 4);
      for (const b of report.writes.baselines) {
        assert.ok(b.count === 200 && b.perSecond > 0, `${b.name}: ${b.count} at ${b.perSecond}/s`);
      }

      assert.equal(report.lag.points.length, 3);
      for (const point of report.lag.points) {
        assert.ok(point.visible > 0, `${point.label}: nothing visible`);
        assertSane(point.label, point.lagMs);
      }
      assert.ok(report.lag.ramp.length > 0);

      const measured = report.memory.map((m) => m.name);
      for (const service of ["gateway", "command", "query", "worker"]) {
        assert.ok(measured.includes(service), `no memory figure for ${service}`);
      }
      for (const m of report.memory) assert.ok(m.peakMb > 0, `${m.name}: no peak`);
      assert.equal(report.documents.failed, 0, "distinct documents: some failed");
      assert.deepEqual(report.documents.services.map((d) => d.name), [
        "gateway",
        "command",
        "query",
        "worker",
      ]);
      for (const d of report.documents.services) {
        assert.ok(d.beforeMb > 0 && d.afterMb > 0, `${d.name}: no RSS before or after`);
      }
      assert.ok(markdown.includes("Growth per 10,000 documents"));
      const cpu = report.documentCpu;
      assert.equal(cpu.failed, 0, "CPU by document shape: some mutations failed");
      assert.equal(cpu.inlineMs.length, 3);
      assert.equal(cpu.variablesMs.length, 3);
      for (const ms of [...cpu.inlineMs, ...cpu.variablesMs]) {
        assert.ok(ms > 0, `CPU by document shape: a block measured ${ms} ms per mutation`);
      }
      assert.ok(markdown.includes("## 5. CPU per mutation by document shape"));
      assert.ok(report.overload.capacityPerSecond > 0, "overload: no capacity measured");
      assert.ok(markdown.includes("## 6. Overload"));
      assert.equal(report.targets.length, 11);

      for (
        const heading of ["## Targets", "## 1. Reads", "## 2. Writes", "## 3. Lag", "## 4. Memory"]
      ) {
        assert.ok(markdown.includes(heading), `latest.md lacks "${heading}"`);
      }
    } finally {
      await Deno.remove(outDir, { recursive: true });
    }
  },
});
