import type postgres from "postgres";
import type { CommandEnvelope } from "@catalog/proto";
import { type CommandOutcome, decideCommands } from "./handle_command/decide_commands.ts";
import { loadState } from "./handle_command/load_state.ts";
import { ConcurrentDuplicate, writeEffects } from "./handle_command/write_effects.ts";

export type { CommandOutcome, CommandRejection } from "./handle_command/decide_commands.ts";
export { lockKeys } from "./handle_command/command_reads.ts";

/** Answers the current time; injected so tests are deterministic. */
export type Clock = () => Date;

/** Options of handleCommand(). */
export interface HandleCommandOptions {
  /** Stamps handled_at, occurred_at and the entity's timestamps. Default: the system clock. */
  clock?: Clock;
}

/**
 * Handles one command in one write-database transaction: skips it if its id
 * was seen before, refuses it if its idempotency key names a different
 * command, loads what the decision needs, decides, writes the entity, appends
 * the events and records the outcome. A rejection is an outcome, not an
 * error; errors are faults (the database, a bug) and roll everything back.
 * It is handleCommands() with one command.
 */
export async function handleCommand(
  sql: postgres.Sql,
  envelope: CommandEnvelope,
  options: HandleCommandOptions = {},
): Promise<CommandOutcome> {
  const [outcome] = await handleCommands(sql, [envelope], options);
  return outcome!;
}

/**
 * Handles commands in order, in one write-database transaction, with the
 * outcome each would have had alone, one after the other: the second sees
 * what the first wrote. The transaction costs the same few round trips
 * whatever the number of commands: one that locks and reads everything the
 * decisions need (loadState()), one that writes every effect (writeEffects()),
 * and the commit. Decisions are made in between, in memory, each on the state
 * the ones before it left (decideCommands()). A fault rolls every command of
 * the call back.
 *
 * Commands for different entities run side by side. The projector reads the
 * logs in transaction-id order, and a transaction gets its id at its first
 * write, not when it commits; so a transaction must never depend on one with
 * a higher id. Two rules make that hold:
 *
 * 1. Before anything else, the transaction takes an advisory lock on each
 *    thing its decisions read and another command could change (see
 *    lockKeys()), in one global order, so two transactions that touch the
 *    same entity, name or idempotency key run one after the other, and no two
 *    wait on each other in a cycle.
 * 2. It reads everything it needs before its first write, so any transaction
 *    whose rows it read had committed, and so had its id, before this one
 *    gets its own.
 *
 * Two deliveries of one command lock the same aggregate, so the second sees
 * the first's outcome instead of its writes.
 */
export async function handleCommands(
  sql: postgres.Sql,
  envelopes: readonly CommandEnvelope[],
  options: HandleCommandOptions = {},
): Promise<CommandOutcome[]> {
  if (envelopes.length === 0) return [];
  const clock = options.clock ?? (() => new Date());
  try {
    return await sql.begin(async (tx) => {
      const known = await loadState(tx, envelopes);
      const { outcomes, effects } = decideCommands(known, envelopes, { clock });
      // Every read is done: the first write gives the transaction its id.
      await writeEffects(tx, effects);
      return outcomes;
    });
  } catch (error) {
    if (!(error instanceof ConcurrentDuplicate)) throw error;
    if (envelopes.length > 1) {
      // Which command another transaction recorded is unknown: one at a time.
      const outcomes: CommandOutcome[] = [];
      for (const envelope of envelopes) outcomes.push(await handleCommand(sql, envelope, options));
      return outcomes;
    }
    const [row] = await sql<{ status: "APPLIED" | "REJECTED"; code: string }[]>`
      select status, code from commands where command_id = ${envelopes[0]!.commandId}`;
    if (!row) throw new Error(`Cannot handle command ${envelopes[0]!.commandId}: it vanished`);
    return [{ status: "DUPLICATE", previous: { status: row.status, code: row.code } }];
  }
}
