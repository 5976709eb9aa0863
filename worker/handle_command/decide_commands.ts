import type { CommandEnvelope } from "@catalog/proto";
import { type Command, decide, type RejectionCode } from "../decide.ts";
import type { RecordedEvent } from "../events.ts";
import { type KnownState, remember, stateOf, uuidKey } from "./known_state.ts";

/**
 * Why a command was refused: by the catalog's rules (decide()), or because
 * its idempotency key already names a different request.
 */
export interface CommandRejection {
  code: RejectionCode | "IDEMPOTENCY_KEY_REUSED";
  message: string;
  /** For VERSION_CONFLICT: the version the entity is at; recorded as current_version. */
  currentVersion?: number;
}

/** What handling a command did. */
export type CommandOutcome =
  | { status: "APPLIED"; events: RecordedEvent[] }
  | { status: "REJECTED"; rejection: CommandRejection }
  /** The command id was handled before; nothing was done this time. */
  | { status: "DUPLICATE"; previous: { status: "APPLIED" | "REJECTED"; code: string } };

/** An idempotency key's first use, to record in idempotency_keys. */
export interface IdempotencyKeyRecord {
  key: string;
  commandId: string;
  commandType: string;
  recordedAt: Date;
}

/** A command's outcome, to record in the command log. */
export interface CommandRecord {
  envelope: CommandEnvelope;
  status: "APPLIED" | "REJECTED";
  rejection?: CommandRejection;
  handledAt: Date;
}

/**
 * What a batch of decisions leaves to write, in order: each event (its effect
 * on its entity and its row in the event log), each idempotency key used for
 * the first time, and each outcome. A duplicate leaves nothing.
 */
export interface CommandEffects {
  idempotencyKeys: IdempotencyKeyRecord[];
  events: RecordedEvent[];
  commands: CommandRecord[];
}

/** Options of decideCommands(). */
export interface DecideCommandsOptions {
  /** Stamps each command's outcome, key and events, called once per command. Default: the system clock. */
  clock?: () => Date;
}

/** What decideCommands() decided. */
export interface DecidedCommands {
  /** One per command, in order. */
  outcomes: CommandOutcome[];
  effects: CommandEffects;
}

function keyReused(envelope: CommandEnvelope, owner: string): CommandRejection {
  return {
    code: "IDEMPOTENCY_KEY_REUSED",
    message: `Cannot apply ${envelope.type}: idempotency key "${envelope.idempotencyKey}" was ` +
      `already used by command ${owner} for a different request`,
  };
}

/**
 * Decides commands in order, each on the state the ones before it left, and
 * answers their outcomes and what to write. Pure but for the event ids it
 * draws; `known` is brought up to date with every effect. A command id seen
 * before is a duplicate and decides nothing. An idempotency key names the
 * first command that used it: another command with the same key (a different
 * request, as the command service derives a retry's id from its key and
 * request) is refused, and even a rejected command keeps its key.
 */
export function decideCommands(
  known: KnownState,
  envelopes: readonly CommandEnvelope[],
  options: DecideCommandsOptions = {},
): DecidedCommands {
  const clock = options.clock ?? (() => new Date());
  const effects: CommandEffects = { idempotencyKeys: [], events: [], commands: [] };
  const outcomes = envelopes.map((envelope) => decideOne(known, effects, envelope, clock()));
  return { outcomes, effects };
}

/**
 * Decides one command on what is known, records its effects in `effects` and
 * in `known`, and answers its outcome.
 */
function decideOne(
  known: KnownState,
  effects: CommandEffects,
  envelope: CommandEnvelope,
  now: Date,
): CommandOutcome {
  const commandId = uuidKey(envelope.commandId);
  const previous = known.outcomes.get(commandId);
  if (previous) return { status: "DUPLICATE", previous };

  const key = envelope.idempotencyKey;
  const owner = key ? known.keyOwners.get(key) : undefined;
  let outcome: CommandOutcome;
  if (owner !== undefined && owner !== commandId) {
    outcome = { status: "REJECTED", rejection: keyReused(envelope, owner) };
  } else {
    if (key && owner === undefined) {
      known.keyOwners.set(key, commandId);
      effects.idempotencyKeys.push({
        key,
        commandId: envelope.commandId,
        commandType: envelope.type,
        recordedAt: now,
      });
    }
    const command = {
      type: envelope.type,
      aggregateId: envelope.aggregateId,
      payload: envelope.payload,
    } as Command;
    const state = stateOf(known, command);
    const decision = decide(command, state);
    if ("rejection" in decision) {
      outcome = { status: "REJECTED", rejection: decision.rejection };
    } else {
      // Each event moves the entity one version on from where it stands.
      let version = state.category?.version ?? state.product?.version ?? 0;
      const events = decision.events.map((event) => {
        version += 1;
        const recorded = {
          ...event,
          eventId: crypto.randomUUID(),
          aggregateType: envelope.aggregateType,
          aggregateId: envelope.aggregateId,
          aggregateVersion: version,
          commandId: envelope.commandId,
          occurredAt: now,
          ...(envelope.traceparent ? { traceparent: envelope.traceparent } : {}),
        } as RecordedEvent;
        remember(known, recorded);
        effects.events.push(recorded);
        return recorded;
      });
      outcome = { status: "APPLIED", events };
    }
  }
  const rejection = outcome.status === "REJECTED" ? outcome.rejection : undefined;
  known.outcomes.set(commandId, { status: outcome.status, code: rejection?.code ?? "" });
  effects.commands.push({ envelope, status: outcome.status, rejection, handledAt: now });
  return outcome;
}
