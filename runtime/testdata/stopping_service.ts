/**
 * A service for run_service_test.ts: runs through runService() and, when
 * STOP_HANGS=true, has a stop step that never finishes.
 */
import { runService } from "../run_service.ts";
import { StopSteps } from "../stop_steps.ts";

const hangs = Deno.env.get("STOP_HANGS") === "true";

await runService({
  service: "stopping",
  label: "the test service",
  parseConfig: () => ({}),
  health: () => ({ host: "127.0.0.1", port: 0, variable: "TEST_HTTP_PORT" }),
  start() {
    const steps = new StopSteps();
    return Promise.resolve({
      get waitingFor() {
        return steps.waitingFor;
      },
      readiness: () => ({}),
      async stop() {
        await steps.step("the queue to drain", () => Promise.resolve());
        if (hangs) await steps.step("the lock nobody releases", () => new Promise(() => {}));
      },
    });
  },
  stopLimitMs: 500,
});
