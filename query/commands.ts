import type postgres from "postgres";
import type { CommandState, CommandStatus } from "@catalog/proto";

interface CommandRow {
  command_id: string;
  type: string;
  aggregate_id: string;
  status: string;
  code: string;
  message: string;
  current_version: number | null;
  accepted_at: Date;
  handled_at: Date | null;
}

/**
 * A command's status and outcome as the read side knows it (ACCEPTED,
 * APPLIED, REJECTED or FAILED), or undefined if it does not know the command.
 */
export async function findCommandStatus(
  sql: postgres.Sql,
  commandId: string,
): Promise<CommandStatus | undefined> {
  const [row] = await sql<CommandRow[]>`
    select command_id, type, aggregate_id, status, code, message, current_version, accepted_at,
      handled_at
    from command_view
    where command_id = ${commandId}::uuid`;
  if (!row) return undefined;
  const status: CommandStatus = {
    commandId: row.command_id,
    type: row.type,
    aggregateId: row.aggregate_id,
    status: row.status as CommandState,
    code: row.code,
    message: row.message,
    acceptedAt: row.accepted_at.toISOString(),
    // An ACCEPTED command has not been handled yet.
    handledAt: row.handled_at?.toISOString() ?? "",
  };
  if (row.current_version !== null) status.currentVersion = row.current_version;
  return status;
}

/** The answer for a command the read side has not heard of. */
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
