import type postgres from "postgres";
import { commandOutcomeChannel } from "@catalog/proto";
import type { CommandRow } from "./read_batch.ts";

/**
 * The statements that make command outcomes readable in command_view and
 * announce each on commandOutcomeChannel when the transaction commits, not
 * yet sent (postgres.js sends a statement once it is awaited; see
 * pipelined()). None for no outcome.
 */
export function writeCommandView(
  tx: postgres.TransactionSql,
  commands: readonly CommandRow[],
): postgres.PendingQuery<postgres.Row[]>[] {
  if (commands.length === 0) return [];
  const ids = commands.map((row) => row.commandId);
  return [
    // The write model's outcome is the truth: it replaces whatever row the
    // command has here, ACCEPTED (seen, not handled yet) or FAILED (dead-
    // lettered, then replayed), column by column, so nothing stale remains.
    tx`
      insert into command_view (
        command_id, type, aggregate_id, status, code, message, current_version, accepted_at,
        handled_at
      )
      select command_id, type, aggregate_id, status, code, message, current_version,
        accepted_at::timestamptz, handled_at::timestamptz
      from unnest(
        ${commands.map((row) => row.commandId)}::uuid[],
        ${commands.map((row) => row.type)}::text[],
        ${commands.map((row) => row.aggregateId)}::uuid[],
        ${commands.map((row) => row.status)}::text[],
        ${commands.map((row) => row.code)}::text[],
        ${commands.map((row) => row.message)}::text[],
        ${commands.map((row) => row.currentVersion)}::integer[],
        ${commands.map((row) => row.acceptedAt.toISOString())}::text[],
        ${commands.map((row) => row.handledAt.toISOString())}::text[]
      ) with ordinality as row (
        command_id, type, aggregate_id, status, code, message, current_version, accepted_at,
        handled_at, ordinality
      )
      order by ordinality
      on conflict (command_id) do update set
        type = excluded.type, aggregate_id = excluded.aggregate_id, status = excluded.status,
        code = excluded.code, message = excluded.message,
        current_version = excluded.current_version, accepted_at = excluded.accepted_at,
        handled_at = excluded.handled_at`,
    tx`select pg_notify(${commandOutcomeChannel}, id) from unnest(${ids}::text[]) as id`,
  ];
}
