import { onPath } from "./prerequisites.ts";

/**
 * Test helper: where Debian's prometheus package put a program
 * (`prometheus`, `promtool`) on PATH, or a failure saying how to get it.
 */
export function prometheusProgram(name: "prometheus" | "promtool"): string {
  const found = onPath(name);
  if (found) return found;
  throw new Error(
    `Cannot find ${name === "prometheus" ? "Prometheus's server" : name} on PATH: install ` +
      "Debian's prometheus package (apt-get install prometheus), as `deno task test` does where it can",
  );
}
