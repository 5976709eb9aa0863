/** The dead-letter tools' usage, as a mistake prints it. */
export const dlqUsage = `Usage:
  deno task dlq:list
  deno task dlq:replay -- --all
  deno task dlq:replay -- <command-id> [<command-id> ...]`;

/** What the command line asks for, or the mistake in it. */
export type DlqInvocation =
  | { tool: "list" }
  | { tool: "replay"; select: "all" | string[] }
  | { tool: "help" }
  | { mistake: string };

/**
 * Reads the tool (set by the deno.json task: "list" or "replay") and its
 * arguments; `--` may appear anywhere.
 */
export function parseDlqArgs(args: readonly string[]): DlqInvocation {
  const [tool, ...rest] = args;
  const words = rest.filter((word) => word !== "--");
  if (words.includes("--help") || words.includes("-h")) return { tool: "help" };
  const unknown = words.find((word) => word.startsWith("-") && word !== "--all");
  if (unknown !== undefined) {
    return { mistake: `Cannot ${tool ?? "run"}: unknown option ${unknown}` };
  }
  switch (tool) {
    case "list":
      if (words.length > 0) return { mistake: "Cannot list dead letters: list takes no arguments" };
      return { tool: "list" };
    case "replay": {
      const all = words.includes("--all");
      const ids = words.filter((word) => word !== "--all");
      if (all && ids.length > 0) {
        return {
          mistake: "Cannot replay dead letters: give either --all or command ids, not both",
        };
      }
      if (!all && ids.length === 0) {
        return { mistake: "Cannot replay dead letters: name the command ids to replay, or --all" };
      }
      return { tool: "replay", select: all ? "all" : ids };
    }
    default:
      return { mistake: `Cannot run the dead-letter tools: unknown tool "${tool ?? ""}"` };
  }
}
