import type postgres from "postgres";
import {
  type Category,
  type Change,
  type ChangeEntityType,
  changeFeedChannel,
  type ChangeKind,
  changePositionMetadataKey,
  type CommandState,
  type CommandStatus,
  grpc,
  type Product,
  type WatchChangesRequest,
} from "@catalog/proto";
import { InvalidArgumentError, OutOfRangeError } from "./errors.ts";
import { Listener } from "./listener.ts";

/** Options of ChangeFeed. */
export interface ChangeFeedOptions {
  /** The pool that reads the changes table. */
  sql: postgres.Sql;
  /**
   * Opens the pool that carries the one LISTEN; called again to start over
   * with a fresh connection after the database was away.
   */
  connect: () => postgres.Sql;
  /**
   * Longest time a stream waits for a notification before it reads the table
   * anyway, in case a notification was lost. Default 2000 ms.
   */
  pollMs?: number;
  /** How many changes one read takes. Default 500. */
  batchSize?: number;
}

interface ChangeRow {
  position: string;
  entity_type: ChangeEntityType;
  entity_id: string;
  kind: ChangeKind;
  entity: Record<string, unknown>;
  command_id: string | null;
  at: Date;
  traceparent: string | null;
}

/** A timestamp of a view row as to_jsonb() writes it, as the query service answers it. */
function isoOf(value: unknown): string {
  return typeof value === "string" ? new Date(value).toISOString() : "";
}

function categoryOf(row: Record<string, unknown>): Category {
  return {
    id: String(row.id),
    name: String(row.name),
    version: Number(row.version),
    productCount: Number(row.product_count),
    createdAt: isoOf(row.created_at),
    updatedAt: isoOf(row.updated_at),
  };
}

function productOf(row: Record<string, unknown>): Product {
  return {
    id: String(row.id),
    name: String(row.name),
    // The projector writes it as a string, so it never passes through a float.
    price: String(row.price),
    categoryId: String(row.category_id),
    categoryName: String(row.category_name),
    version: Number(row.version),
    createdAt: isoOf(row.created_at),
    updatedAt: isoOf(row.updated_at),
  };
}

function commandOf(row: Record<string, unknown>): CommandStatus {
  const status: CommandStatus = {
    commandId: String(row.command_id),
    type: String(row.type),
    aggregateId: String(row.aggregate_id),
    status: String(row.status) as CommandState,
    code: String(row.code ?? ""),
    message: String(row.message ?? ""),
    acceptedAt: isoOf(row.accepted_at),
    handledAt: isoOf(row.handled_at),
  };
  if (typeof row.current_version === "number") status.currentVersion = row.current_version;
  return status;
}

/** A row of the changes table as the Change message. */
export function changeOf(row: ChangeRow): Change {
  const change: Change = {
    position: row.position,
    entityType: row.entity_type,
    entityId: row.entity_id,
    kind: row.kind,
    commandId: row.command_id ?? "",
    at: row.at.toISOString(),
  };
  if (row.traceparent) change.traceparent = row.traceparent;
  if (row.entity_type === "CATEGORY") change.category = categoryOf(row.entity);
  if (row.entity_type === "PRODUCT") change.product = productOf(row.entity);
  if (row.entity_type === "COMMAND") change.command = commandOf(row.entity);
  return change;
}

function positionOf(request: WatchChangesRequest): bigint | undefined {
  const value = request.afterPosition;
  if (value === undefined || value === null) return undefined;
  if (!/^\d{1,19}$/.test(String(value))) {
    throw new InvalidArgumentError("watch changes", [
      { field: "afterPosition", message: "Must be a position of 0 or more" },
    ]);
  }
  return BigInt(value);
}

/** Waits until the stream can take more, or has ended. */
function drained(call: grpc.ServerWritableStream<unknown, unknown>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off("drain", done);
      call.off("cancelled", done);
      call.off("close", done);
      resolve();
    };
    call.on("drain", done);
    call.on("cancelled", done);
    call.on("close", done);
  });
}

/**
 * Serves WatchChanges: each call reads the changes table after its position,
 * in order, and whenever the one LISTEN on changeFeedChannel hears that
 * changes were appended, reads again. Because positions commit in order (see
 * 004_change_feed.sql), reading "after the last position sent" never skips a
 * change, whatever notifications were lost: a call also reads every pollMs.
 * A call writes no faster than its caller reads (gRPC flow control), so a slow
 * caller slows only itself.
 */
export class ChangeFeed {
  readonly #sql: postgres.Sql;
  readonly #listener: Listener;
  readonly #pollMs: number;
  readonly #batchSize: number;
  #appended = Promise.withResolvers<void>();
  readonly #calls = new Set<grpc.ServerWritableStream<WatchChangesRequest, Change>>();
  #closed = false;

  constructor(options: ChangeFeedOptions) {
    this.#sql = options.sql;
    this.#listener = new Listener({
      connect: options.connect,
      channel: changeFeedChannel,
      onnotify: () => this.#wake(),
      // On every (re)LISTEN too: appends may have been missed while there was none.
      onlisten: () => this.#wake(),
    });
    this.#pollMs = options.pollMs ?? 2000;
    this.#batchSize = options.batchSize ?? 500;
  }

  /** How many WatchChanges calls are running. */
  get watching(): number {
    return this.#calls.size;
  }

  /** Makes sure the LISTEN is in place; rejects if the database cannot be reached. */
  listen(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("Cannot listen: the change feed is closed"));
    return this.#listener.listen();
  }

  /** Drops the LISTEN connection and opens a new one (after the database was away). */
  restart(): Promise<void> {
    return this.#listener.restart();
  }

  /**
   * Runs one WatchChanges call until the caller cancels it or the feed
   * closes. Rejects, before anything is sent, with InvalidArgumentError for a
   * malformed position and OutOfRangeError for one the feed cannot resume
   * from; later failures (the database away) end the call with the error.
   */
  async watch(call: grpc.ServerWritableStream<WatchChangesRequest, Change>): Promise<void> {
    if (this.#closed) throw new Error("Cannot watch changes: the query service is stopping");
    let after = await this.#start(positionOf(call.request));
    let ended = call.cancelled;
    const end = () => {
      ended = true;
      this.#wake();
    };
    call.on("cancelled", end);
    call.on("close", end);
    this.#calls.add(call);
    try {
      const metadata = new grpc.Metadata();
      metadata.set(changePositionMetadataKey, after.toString());
      call.sendMetadata(metadata);
      // Not awaited: a database that is away now is retried by the poll.
      this.listen().catch(() => {});
      while (!ended && !this.#closed) {
        const appended = this.#appended.promise;
        // With the next changes, how far the feed has been pruned: a stream
        // that fell behind the pruning has lost changes, and ends saying so
        // rather than skipping them.
        const found = await this.#sql<(ChangeRow & { pruned_up_to: string })[]>`
          select pruned.up_to::text as pruned_up_to, next.*
          from changes_pruned pruned left join lateral (
            select position::text as position, entity_type, entity_id, kind, entity, command_id, at,
              traceparent
            from changes
            where changes.position > ${after.toString()}
            order by changes.position
            limit ${this.#batchSize}
          ) next on true`;
        if (found[0] && BigInt(found[0].pruned_up_to) > after) {
          throw new OutOfRangeError(
            `Cannot go on watching changes after position ${after}: changes up to ${
              found[0].pruned_up_to
            } were pruned`,
          );
        }
        const rows = found.filter((row) => row.position !== null);
        for (const row of rows) {
          if (ended) break;
          if (!call.write(changeOf(row))) await drained(call);
          after = BigInt(row.position);
        }
        if (rows.length === this.#batchSize) continue;
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          appended,
          new Promise<void>((resolve) => timer = setTimeout(resolve, this.#pollMs)),
        ]);
        clearTimeout(timer);
      }
      if (!ended) call.end();
    } finally {
      call.off("cancelled", end);
      call.off("close", end);
      this.#calls.delete(call);
    }
  }

  /** Ends every call (each caller sees its stream end) and closes the LISTEN connection. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake();
    await this.#listener.close();
  }

  /** The position a call starts after, checked against what the table still holds. */
  async #start(requested: bigint | undefined): Promise<bigint> {
    const [feed] = await this.#sql<{ last: string; prunedUpTo: string }[]>`
      select
        (select case when is_called then last_value else last_value - 1 end
          from changes_position_seq)::text as last,
        (select up_to from changes_pruned)::text as "prunedUpTo"`;
    const last = BigInt(feed!.last);
    if (requested === undefined) return last;
    const prunedUpTo = BigInt(feed!.prunedUpTo);
    if (requested < prunedUpTo) {
      throw new OutOfRangeError(
        `Cannot watch changes after position ${requested}: changes up to ${prunedUpTo} were pruned`,
      );
    }
    if (requested > last) {
      throw new OutOfRangeError(
        `Cannot watch changes after position ${requested}: the feed has reached only ${last}`,
      );
    }
    return requested;
  }

  #wake(): void {
    this.#appended.resolve();
    this.#appended = Promise.withResolvers<void>();
  }
}
