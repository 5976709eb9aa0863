import type postgres from "postgres";
import type { Mark } from "./mark.ts";

/** Where the projection stands in each log. */
export interface Checkpoints {
  events: Mark;
  commands: Mark;
}

/** Options of readCheckpoints(). */
export interface ReadCheckpointsOptions {
  /**
   * Locks the checkpoint rows until the transaction ends, which serialises
   * concurrent projectors. Default false.
   */
  lock?: boolean;
}

/** Reads where the projection stands, from the read database's projection_checkpoints. */
export async function readCheckpoints(
  sql: postgres.Sql | postgres.TransactionSql,
  options: ReadCheckpointsOptions = {},
): Promise<Checkpoints> {
  const rows = options.lock
    ? await sql<{ name: string; transactionId: string; position: string }[]>`
      select name, transaction_id::text as "transactionId", position::text as position
      from projection_checkpoints where name in ('events', 'commands') order by name for update`
    : await sql<{ name: string; transactionId: string; position: string }[]>`
      select name, transaction_id::text as "transactionId", position::text as position
      from projection_checkpoints where name in ('events', 'commands')`;
  const mark = (name: string): Mark => {
    const row = rows.find((candidate) => candidate.name === name);
    if (!row) throw new Error(`Cannot project: the read database has no "${name}" checkpoint`);
    return { transactionId: BigInt(row.transactionId), position: BigInt(row.position) };
  };
  return { events: mark("events"), commands: mark("commands") };
}

/** Where the checkpoints move to: the last row applied of each log, if any. */
export interface CheckpointAdvance {
  events?: Mark;
  commands?: Mark;
  /** Stamps updated_at. */
  at: Date;
}

/**
 * The statement that moves the checkpoints to the rows given, not yet sent
 * (postgres.js sends a statement once it is awaited), or none if no log
 * moves.
 */
export function advanceCheckpoints(
  tx: postgres.TransactionSql,
  advance: CheckpointAdvance,
): postgres.PendingQuery<postgres.Row[]> | undefined {
  const advanced = [
    { name: "events", last: advance.events },
    { name: "commands", last: advance.commands },
  ].flatMap(({ name, last }) => last ? [{ name, last }] : []);
  if (advanced.length === 0) return undefined;
  return tx`
    update projection_checkpoints c
    set transaction_id = m.transaction_id::xid8, position = m.position, updated_at = ${advance.at}
    from unnest(
      ${advanced.map(({ name }) => name)}::text[],
      ${advanced.map(({ last }) => String(last.transactionId))}::text[],
      ${advanced.map(({ last }) => String(last.position))}::bigint[]
    ) as m (name, transaction_id, position)
    where c.name = m.name`;
}
