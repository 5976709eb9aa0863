import assert from "node:assert/strict";
import { StopSteps } from "./stop_steps.ts";

Deno.test("StopSteps names the step that runs, and nothing between steps", async () => {
  const steps = new StopSteps();
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  const running = steps.step("the calls in hand", () => held);
  assert.equal(steps.waitingFor, "the calls in hand");
  release();
  await running;
  assert.equal(steps.waitingFor, undefined);
});

Deno.test("StopSteps forgets a step that failed, and passes its error on", async () => {
  const steps = new StopSteps();
  await assert.rejects(
    steps.step("the RabbitMQ connection to close", () => Promise.reject(new Error("gone"))),
    /gone/,
  );
  assert.equal(steps.waitingFor, undefined);
});
