import assert from "node:assert/strict";
import { freePort } from "./sandbox.ts";

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
