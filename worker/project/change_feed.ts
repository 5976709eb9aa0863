import type postgres from "postgres";
import { changeFeedChannel, changeFeedLock } from "@catalog/proto";
import type { Change } from "./change_of.ts";
import { pipelined } from "./pipelined.ts";

/**
 * Appends the changes to the change feed and announces them on
 * changeFeedChannel. The lock (see 004_change_feed.sql) makes positions
 * commit in order; it is taken last, so the transaction holds it only while it
 * commits. The pruner (retention.ts) removes them once they are old.
 */
export async function appendChanges(
  tx: postgres.TransactionSql,
  changes: Change[],
): Promise<void> {
  if (changes.length === 0) return;
  const locked = tx`select pg_advisory_xact_lock(${changeFeedLock})`;
  const appending = tx`
    insert into changes (entity_type, entity_id, kind, entity, command_id, traceparent)
    select entity_type, entity_id, kind, entity.value::jsonb, command_id, traceparent
    from unnest(
      ${changes.map((change) => change.entityType)}::text[],
      ${changes.map((change) => change.entityId)}::uuid[],
      ${changes.map((change) => change.kind)}::text[],
      ${changes.map((change) => change.commandId)}::uuid[],
      ${changes.map((change) => change.traceparent ?? null)}::text[]
    ) with ordinality as change (entity_type, entity_id, kind, command_id, traceparent, ordinality)
    -- The rows' JSON texts come as one JSON array of strings: quicker to write than an array.
    join jsonb_array_elements_text(
      (${JSON.stringify(changes.map((change) => change.entity))}::text)::jsonb
    ) with ordinality as entity (value, ordinality) using (ordinality)
    order by ordinality`;
  const notified = tx`select pg_notify(${changeFeedChannel}, '')`;
  await pipelined([locked, appending, notified]);
}
