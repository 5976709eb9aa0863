/**
 * The operators' tools for the dead-letter queue (the work is in dlq.ts):
 *
 *   deno task dlq:list                             what waits there, and why
 *   deno task dlq:replay -- --all                  send every dead letter back to the commands
 *   deno task dlq:replay -- <command-id> [...]     send those back
 *
 * Reads AMQP_URL as the worker does. Exits 0 when everything asked for was
 * done; 1 when RabbitMQ could not be used, a command id was not found or a
 * dead letter could not be replayed; 2 on a usage mistake. Expected failures
 * print one `Cannot …` line, no stack trace.
 */
import { ConfigError, topology } from "@catalog/proto";
import {
  type DeadLetter,
  DeadLetterError,
  listDeadLetters,
  parseDeadLetterConfig,
  replayDeadLetters,
} from "./dlq.ts";

const USAGE = `Usage:
  deno task dlq:list
  deno task dlq:replay -- --all
  deno task dlq:replay -- <command-id> [<command-id> ...]`;

type Invocation =
  | { tool: "list" }
  | { tool: "replay"; select: "all" | string[] }
  | { tool: "help" }
  | { mistake: string };

/** Reads the tool (set by the deno.json task) and its arguments; `--` may appear anywhere. */
function parseArgs(args: readonly string[]): Invocation {
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

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

function describe(deadLetter: DeadLetter): string {
  return [
    deadLetter.commandId ?? "(no command id)",
    deadLetter.type ?? "(no type)",
    `aggregate ${deadLetter.aggregateId ?? "(none)"}`,
  ].join("  ");
}

async function list(amqpUrl: string): Promise<number> {
  const deadLetters = await listDeadLetters(amqpUrl);
  for (const deadLetter of deadLetters) {
    const when = deadLetter.deadLetteredAt?.toISOString() ?? "(time unknown)";
    console.log(`${describe(deadLetter)}  ${when}  ${deadLetter.reason}`);
  }
  console.log(`${plural(deadLetters.length, "dead letter")} in ${topology.deadLetterQueue}`);
  return 0;
}

async function replay(amqpUrl: string, select: "all" | string[]): Promise<number> {
  const report = await replayDeadLetters(amqpUrl, { select });
  for (const deadLetter of report.replayed) {
    console.log(
      `replayed ${
        describe(deadLetter)
      }  to ${topology.commandsExchange} as ${deadLetter.routingKey}`,
    );
  }
  for (const { deadLetter, why } of report.failed) {
    console.error(
      `Cannot replay ${deadLetter.commandId ?? "a message without command id"}: ${why}; ` +
        `it stays in ${topology.deadLetterQueue}`,
    );
  }
  for (const id of report.notFound) {
    console.error(`Cannot replay ${id}: no dead letter has that command id`);
  }
  console.log(
    `replayed ${plural(report.replayed.length, "dead letter")} to ${topology.commandsExchange}; ` +
      `${report.remaining} ${
        report.remaining === 1 ? "stays" : "stay"
      } in ${topology.deadLetterQueue}`,
  );
  return report.failed.length > 0 || report.notFound.length > 0 ? 1 : 0;
}

const invocation = parseArgs(Deno.args);
if ("mistake" in invocation) {
  console.error(`${invocation.mistake}\n${USAGE}`);
  Deno.exit(2);
}
if (invocation.tool === "help") {
  console.log(USAGE);
  Deno.exit(0);
}
try {
  const { amqpUrl } = parseDeadLetterConfig(Deno.env.toObject());
  const code = invocation.tool === "list"
    ? await list(amqpUrl)
    : await replay(amqpUrl, invocation.select);
  Deno.exit(code);
} catch (error) {
  if (!(error instanceof DeadLetterError || error instanceof ConfigError)) throw error;
  console.error(error.message);
  Deno.exit(1);
}
