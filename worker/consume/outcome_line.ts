import type { CommandEnvelope } from "@catalog/proto";
import type { CommandOutcome } from "../handle_command.ts";

/** An id cut to its first 8 characters, as log lines show it. */
export function shortId(id: string): string {
  return id.length > 8 ? `${id.slice(0, 8)}…` : id;
}

/** A command as log lines name it: its type and short id, "CreateCategory 3f2a9c1e…". */
export function commandLabel(envelope: CommandEnvelope): string {
  return `${envelope.type} ${shortId(envelope.commandId)}`;
}

/** The log line of a handled command: what became of it. */
export function outcomeLine(envelope: CommandEnvelope, outcome: CommandOutcome): string {
  const command = commandLabel(envelope);
  switch (outcome.status) {
    case "APPLIED":
      return `applied ${command} (${envelope.aggregateType} ${shortId(envelope.aggregateId)})`;
    case "REJECTED":
      return `rejected ${command}: ${outcome.rejection.code} ${outcome.rejection.message}`;
    case "DUPLICATE":
      return `skipped ${command}: already ${outcome.previous.status.toLowerCase()}`;
  }
}
