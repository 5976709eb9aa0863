import assert from "node:assert/strict";
import { runDeno } from "./run_deno.ts";
import { onPath } from "./prerequisites.ts";

Deno.test("the test prerequisites' check, on a PATH without Prometheus and Chromium, says in its first lines what to install", async () => {
  // A PATH with Deno alone: no prometheus, promtool, chromium, nor apt-get to install them.
  const bare = await Deno.makeTempDir({ prefix: "catalog-bare-path-" });
  try {
    await Deno.symlink(Deno.execPath(), `${bare}/deno`);
    assert.equal(onPath("chromium", bare), undefined);
    const { code, stdout, stderr } = await runDeno(
      ["run", "--allow-all", "testkit/prerequisites_main.ts"],
      { PATH: bare },
    );
    assert.equal(code, 1, stdout + stderr);
    const lines = stderr.split("\n");
    assert.equal(lines[0], "Cannot run the tests: this machine lacks what they need.");
    assert.match(
      lines[1] ?? "",
      /^ {2}- missing on PATH: prometheus \(.+\), promtool \(.+\), chromium \(.+\)$/,
    );
    assert.ok(lines.slice(0, 8).includes("  sudo apt-get install prometheus chromium"), stderr);
    // PostgreSQL and RabbitMQ answer here: they are not named.
    assert.doesNotMatch(stderr, /PostgreSQL|RabbitMQ/);
  } finally {
    await Deno.remove(bare, { recursive: true });
  }
});

Deno.test("the test prerequisites' check passes on this machine, where the tests run", async () => {
  const { code, stdout, stderr } = await runDeno(
    ["run", "--allow-all", "testkit/prerequisites_main.ts", "--no-install"],
    {},
  );
  assert.equal(code, 0, stdout + stderr);
  assert.equal(stderr, "");
});
