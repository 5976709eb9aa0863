import type postgres from "postgres";
import type { CommandState, CommandStatus } from "@catalog/proto";

interface CommandRow {
  command_id: string;
  type: string;
  aggregate_id: string;
  status: string;
  code: string;
  message: string;
  accepted_at: Date;
  handled_at: Date;
}

/** A command's status and outcome as the read side knows it, or undefined if it does not. */
export async function findCommandStatus(
  sql: postgres.Sql,
  commandId: string,
): Promise<CommandStatus | undefined> {
  const [row] = await sql<CommandRow[]>`
    select command_id, type, aggregate_id, status, code, message, accepted_at, handled_at
    from command_view
    where command_id = ${commandId}::uuid`;
  if (!row) return undefined;
  return {
    commandId: row.command_id,
    type: row.type,
    aggregateId: row.aggregate_id,
    status: row.status as CommandState,
    code: row.code,
    message: row.message,
    acceptedAt: row.accepted_at.toISOString(),
    handledAt: row.handled_at.toISOString(),
  };
}

/** The answer for a command the read side has not seen applied yet. */
export function pendingStatus(commandId: string): CommandStatus {
  return {
    commandId,
    type: "",
    aggregateId: "",
    status: "PENDING",
    code: "",
    message: "",
    acceptedAt: "",
    handledAt: "",
  };
}
