import assert from "node:assert/strict";

const service = new URL("./testdata/stopping_service.ts", import.meta.url).pathname;

/** Starts the test service, sends it SIGTERM once it serves its health port, and waits for its exit. */
async function stopService(env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", service],
    env: { ...env, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout: string[] = [];
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  while (!stdout.join("").includes("Health of the test service")) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout.push(value);
  }
  child.kill("SIGTERM");
  const reading = (async () => {
    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      stdout.push(next.value);
    }
  })();
  const stderr = new Response(child.stderr).text();
  const { code } = await child.status;
  await reading;
  return { code, stdout: stdout.join(""), stderr: await stderr };
}

Deno.test("runService() exits 0 once a service's stop finishes", async () => {
  const { code, stdout, stderr } = await stopService({ STOP_HANGS: "false" });
  assert.equal(code, 0, stderr);
  assert.match(stdout, /SIGTERM: stopping the test service/);
  assert.equal(stderr, "");
});

Deno.test("runService() exits 1 naming what it gave up on when a stop cannot finish in time", async () => {
  const { code, stderr } = await stopService({ STOP_HANGS: "true" });
  assert.equal(code, 1);
  assert.match(
    stderr,
    /^Cannot stop the test service within 500 ms: gave up waiting for the lock nobody releases$/m,
  );
});
