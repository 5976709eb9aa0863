/**
 * The operators' tools for the dead-letter queue (the work is in dlq/):
 *
 *   deno task dlq:list                             what waits there, and why
 *   deno task dlq:replay -- --all                  send every dead letter back to the commands
 *   deno task dlq:replay -- <command-id> [...]     send those back
 *
 * Reads AMQP_URL and COMMAND_PUBLISHER_USER as the worker does: a replay
 * sends back only what that user published, as that user. Exits 0 when
 * everything asked for was done; 1 when RabbitMQ could not be used, a command
 * id was not found or a dead letter could not be replayed; 2 on a usage
 * mistake. Expected failures print one `Cannot …` line, no stack trace.
 */
import { topology } from "@catalog/proto";
import { ConfigError } from "@catalog/runtime";
import { type DeadLetterConfig, parseDeadLetterConfig } from "./dlq/config.ts";
import { DeadLetterError } from "./dlq/dead_letter_error.ts";
import { dlqUsage, parseDlqArgs } from "./dlq/dlq_args.ts";
import { listDeadLetters } from "./dlq/list_dead_letters.ts";
import type { DeadLetter } from "./dlq/read_dead_letter.ts";
import { replayDeadLetters } from "./dlq/replay_dead_letters.ts";

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

async function replay(config: DeadLetterConfig, select: "all" | string[]): Promise<number> {
  const report = await replayDeadLetters(config.amqpUrl, {
    select,
    publisherUser: config.commandPublisherUser,
  });
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

/** Runs the tool the command line names and answers the exit code. */
async function main(args: readonly string[]): Promise<number> {
  const invocation = parseDlqArgs(args);
  if ("mistake" in invocation) {
    console.error(`${invocation.mistake}\n${dlqUsage}`);
    return 2;
  }
  if (invocation.tool === "help") {
    console.log(dlqUsage);
    return 0;
  }
  try {
    const config = parseDeadLetterConfig(Deno.env.toObject());
    return invocation.tool === "list"
      ? await list(config.amqpUrl)
      : await replay(config, invocation.select);
  } catch (error) {
    if (!(error instanceof DeadLetterError || error instanceof ConfigError)) throw error;
    console.error(error.message);
    return 1;
  }
}

// Only when run: a test that imports the module (or `deno test worker/`) must not exit.
if (import.meta.main) Deno.exit(await main(Deno.args));
