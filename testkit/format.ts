/**
 * Formats generated files (results tables, reports) as `deno fmt` would, so
 * that committing them keeps `deno fmt --check` (deno task ok) quiet.
 */
export async function formatGenerated(...paths: string[]): Promise<void> {
  await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", ...paths],
    stdout: "null",
    stderr: "null",
  }).output();
}
