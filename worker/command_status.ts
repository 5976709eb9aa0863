import type postgres from "postgres";
import { type CommandEnvelope, commandOutcomeChannel } from "@catalog/proto";
import type { Clock } from "./handle_command.ts";

/** A command as its accepted copy names it. */
export interface AcceptedCommand {
  commandId: string;
  type: string;
  aggregateId: string;
  acceptedAt: string;
}

/**
 * Makes commands readable as ACCEPTED. A command the projector has already
 * made APPLIED or REJECTED (or that failed) keeps that status: acceptance
 * only ever fills a gap, so copies arriving late or twice change nothing.
 */
export async function recordAccepted(
  read: postgres.Sql,
  commands: readonly AcceptedCommand[],
): Promise<void> {
  if (commands.length === 0) return;
  const rows = commands.map((command) => ({
    command_id: command.commandId,
    type: command.type,
    aggregate_id: command.aggregateId,
    status: "ACCEPTED",
    accepted_at: command.acceptedAt,
  }));
  await read`
    insert into command_view ${
    read(rows, "command_id", "type", "aggregate_id", "status", "accepted_at")
  }
    on conflict (command_id) do nothing`;
}

/** Code of a command the worker dead-lettered. */
export const DEAD_LETTERED = "DEAD_LETTERED";

/**
 * Makes a command readable as FAILED, with the message its clients see (no
 * more than a reference: the reason stays with the dead letter and the
 * worker's log), and wakes whoever waits for it. Never overwrites an outcome
 * the projector made readable: a command that was applied stays applied.
 */
export async function recordFailed(
  read: postgres.Sql,
  envelope: CommandEnvelope,
  message: string,
  clock: Clock,
): Promise<void> {
  await read.begin(async (tx) => {
    await tx`
      insert into command_view (
        command_id, type, aggregate_id, status, code, message, accepted_at, handled_at
      ) values (
        ${envelope.commandId}, ${envelope.type}, ${envelope.aggregateId}, 'FAILED',
        ${DEAD_LETTERED}, ${message}, ${envelope.issuedAt}, ${clock()}
      )
      on conflict (command_id) do update set
        status = 'FAILED', code = excluded.code, message = excluded.message,
        handled_at = excluded.handled_at
      where command_view.status in ('ACCEPTED', 'FAILED')`;
    await tx`select pg_notify(${commandOutcomeChannel}, ${envelope.commandId})`;
  });
}

/** A command the worker refused (not published by the command service, or not as it publishes). */
export interface RefusedCommand {
  envelope: CommandEnvelope;
  /** What its clients see: no more than a reference. */
  message: string;
  clock: Clock;
}

/**
 * Makes a refused command readable as FAILED, and wakes whoever waits for
 * it, only if the read side knows nothing of its id yet. The id is the
 * refused message's word, not the command service's: it must not turn a real
 * command's status to FAILED. A real command with the same id still gets
 * applied, since nothing of the refused one reaches the write database, and
 * its outcome then replaces this status.
 */
export async function recordRefused(read: postgres.Sql, refused: RefusedCommand): Promise<void> {
  const { envelope, message, clock } = refused;
  await read.begin(async (tx) => {
    const inserted = await tx`
      insert into command_view (
        command_id, type, aggregate_id, status, code, message, accepted_at, handled_at
      ) values (
        ${envelope.commandId}, ${envelope.type}, ${envelope.aggregateId}, 'FAILED',
        ${DEAD_LETTERED}, ${message}, ${envelope.issuedAt}, ${clock()}
      )
      on conflict (command_id) do nothing
      returning command_id`;
    if (inserted.length > 0) {
      await tx`select pg_notify(${commandOutcomeChannel}, ${envelope.commandId})`;
    }
  });
}
