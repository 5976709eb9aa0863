import assert from "node:assert/strict";
import { byFolder, coverageTable, folderOf, leastCovered, parseLcov } from "./coverage_report.ts";

const lcov = [
  "SF:/repo/worker/decide.ts",
  "FNF:3",
  "BRF:10",
  "BRH:8",
  "LF:100",
  "LH:90",
  "end_of_record",
  "SF:/repo/worker/consume/read_message.ts",
  "BRF:4",
  "BRH:1",
  "LF:40",
  "LH:10",
  "end_of_record",
  "SF:/repo/runtime/env.ts",
  "BRF:0",
  "BRH:0",
  "LF:50",
  "LH:50",
  "end_of_record",
].join("\n");

Deno.test("parseLcov() reads each file's lines and branches, relative to the root", () => {
  const files = parseLcov(lcov, "/repo");
  assert.deepEqual(files.map((file) => file.path), [
    "worker/decide.ts",
    "worker/consume/read_message.ts",
    "runtime/env.ts",
  ]);
  assert.deepEqual(files[0], {
    path: "worker/decide.ts",
    lines: { found: 100, hit: 90 },
    branches: { found: 10, hit: 8 },
  });
});

Deno.test("folderOf() counts a file under its folder, and a subfolder on its own", () => {
  assert.equal(folderOf("worker/decide.ts"), "worker");
  assert.equal(folderOf("worker/consume/read_message.ts"), "worker/consume");
  assert.equal(folderOf("worker/project/products/steps.ts"), "worker/project");
  assert.equal(folderOf("main.ts"), ".");
});

Deno.test("byFolder() sums per folder, sorted, with the total last", () => {
  const rows = byFolder(parseLcov(lcov, "/repo/"));
  assert.deepEqual(rows.map(([name]) => name), ["runtime", "worker", "worker/consume", "total"]);
  assert.deepEqual(rows.at(-1)![1], {
    lines: { found: 190, hit: 150 },
    branches: { found: 14, hit: 9 },
  });
  const table = coverageTable(rows);
  assert.match(table, /^worker\/consume\s+25\.0 % \(10\/40\)\s+25\.0 % \(1\/4\)$/m);
  assert.match(table, /^runtime\s+100\.0 % \(50\/50\)\s+- \(0\/0\)$/m);
});

Deno.test("leastCovered() lists the files with the lowest line coverage first", () => {
  const files = leastCovered(parseLcov(lcov, "/repo"), 2);
  assert.deepEqual(files.map((file) => file.path), [
    "worker/consume/read_message.ts",
    "worker/decide.ts",
  ]);
});
