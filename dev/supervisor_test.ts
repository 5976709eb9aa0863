import assert from "node:assert/strict";
import { Supervisor } from "./supervisor.ts";

const killed: Deno.CommandStatus = { success: false, code: 137, signal: "SIGKILL" };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("Supervisor restarts an exited process after a backoff that doubles, saying how it exited", async () => {
  const restarted: string[] = [];
  const lines: string[] = [];
  const supervisor = new Supervisor<"query">({
    restart: (process) => {
      restarted.push(process);
      return Promise.resolve();
    },
    giveUp: () => assert.fail("it gave up"),
    log: (line) => lines.push(line),
    firstDelayMs: 10,
  });
  supervisor.exited("query", killed);
  assert.deepEqual(restarted, []);
  await sleep(40);
  assert.deepEqual(restarted, ["query"]);
  supervisor.exited("query", { success: false, code: 1, signal: null });
  await sleep(40);
  assert.deepEqual(restarted, ["query", "query"]);
  assert.deepEqual(lines, [
    "query exited by itself (signal SIGKILL); restarting it in 10 ms (restart 1 of at most 5 within 300 s)",
    "query is back",
    "query exited by itself (exit code 1); restarting it in 20 ms (restart 2 of at most 5 within 300 s)",
    "query is back",
  ]);
  supervisor.stop();
});

Deno.test("Supervisor gives up on a process that exits more often than its limit, and forgets old exits", async () => {
  let now = 0;
  const reasons: string[] = [];
  let restarts = 0;
  const supervisor = new Supervisor<"worker">({
    restart: () => {
      restarts++;
      return Promise.resolve();
    },
    giveUp: (reason) => reasons.push(reason),
    log: () => {},
    firstDelayMs: 1,
    limit: 2,
    windowMs: 1000,
    now: () => now,
  });
  const exit = async () => {
    supervisor.exited("worker", killed);
    await sleep(10);
  };
  await exit();
  await exit();
  // Long ago by the time of the third: the window has moved on.
  now = 5000;
  await exit();
  await exit();
  assert.deepEqual(reasons, []);
  await exit();
  assert.deepEqual(reasons, [
    "worker exited by itself (signal SIGKILL) 3 times within 1 s; not restarting it again. Its last lines above say why",
  ]);
  assert.equal(restarts, 4);
  // Nothing more once it has given up.
  supervisor.exited("worker", killed);
  assert.equal(reasons.length, 1);
});

Deno.test("Supervisor counts a restart that fails as another exit", async () => {
  const lines: string[] = [];
  let attempts = 0;
  const supervisor = new Supervisor<"command">({
    restart: () => {
      attempts++;
      return attempts === 1 ? Promise.reject(new Error("it exited")) : Promise.resolve();
    },
    giveUp: () => assert.fail("it gave up"),
    log: (line) => lines.push(line),
    firstDelayMs: 5,
  });
  supervisor.exited("command", killed);
  await sleep(60);
  assert.equal(attempts, 2);
  assert.equal(lines[1], "Cannot restart command: it exited");
  assert.match(
    lines[2]!,
    /^command exited by itself \(exit code 1\); restarting it in 10 ms \(restart 2/,
  );
  assert.equal(lines[3], "command is back");
  supervisor.stop();
});
