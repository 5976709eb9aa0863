/**
 * The change feed: what the worker's projector, the query service and the
 * gateway agree on about live updates. The read database's `changes` table
 * (worker/migrations/read/004_change_feed.sql) holds one row per change made
 * readable; the query service streams it with WatchChanges.
 */
import type { Category, CommandStatus, Product } from "./catalog.ts";

/**
 * PostgreSQL NOTIFY channel on the read database, notified (with an empty
 * payload) by every transaction that appends to the changes table. The
 * trigger in 004_change_feed.sql spells it out too.
 */
export const changeFeedChannel = "catalog_changes";

/**
 * Key of the transaction-level advisory lock every writer of the changes
 * table holds from its insert to its commit, so that positions commit in
 * order. The trigger in 004_change_feed.sql spells it out too.
 */
export const changeFeedLock = 4_711_002_026;

/**
 * Response metadata key of WatchChanges: the position the stream starts
 * after, sent before the first change. A caller that asked for "from now on"
 * resumes from it if the stream breaks before any change came.
 */
export const changePositionMetadataKey = "x-change-position";

export type ChangeEntityType = "CATEGORY" | "PRODUCT" | "COMMAND";
export type ChangeKind = "CREATED" | "UPDATED" | "DELETED";

/** A change as query.proto's Change message presents it (int64 as a decimal string). */
export interface Change {
  position: string;
  entityType: ChangeEntityType;
  entityId: string;
  kind: ChangeKind;
  /** Empty when no command caused it. */
  commandId: string;
  /** When it became readable, ISO-8601. */
  at: string;
  /** The W3C trace context of the command that caused it, when it was traced. */
  traceparent?: string;
  /** Which of category, product and command is set. */
  entity?: "category" | "product" | "command";
  category?: Category | null;
  product?: Product | null;
  command?: CommandStatus | null;
}

export interface WatchChangesRequest {
  /** The last position seen, a decimal string; absent for "from now on". */
  afterPosition?: string;
}
