/**
 * Test helper: where Debian's prometheus package put a program
 * (`prometheus`, `promtool`) on PATH, or a failure saying how to get it.
 */
export function prometheusProgram(name: "prometheus" | "promtool"): string {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    const candidate = `${dir}/${name}`;
    try {
      if (Deno.statSync(candidate).isFile) return candidate;
    } catch {
      // Not in this directory.
    }
  }
  throw new Error(
    `Cannot find ${name === "prometheus" ? "Prometheus's server" : name} on PATH: install ` +
      "Debian's prometheus package (apt-get install prometheus), as .ci/run does",
  );
}
