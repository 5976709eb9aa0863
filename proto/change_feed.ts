/**
 * The change feed: what the worker's projector, the query service and the
 * gateway agree on about live updates. The read database's `changes` table
 * (worker/migrations/read/004_change_feed.sql) holds one row per change made
 * readable; the query service streams it with WatchChanges.
 */
import { clientChannelOptions, grpc, queryServiceDefinition } from "./grpc.ts";
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

/** Options of watchChanges(). */
export interface WatchChangesOptions {
  /** Called once with the position the stream starts after. */
  onStart?: (position: string) => void;
  /** Called with each change, in order. */
  onChange: (change: Change) => void;
  /**
   * Called once when the stream ends: with the error that ended it, or with
   * undefined if the server ended it (it is stopping).
   */
  onEnd: (error?: grpc.ServiceError) => void;
}

/** A running WatchChanges call. */
export interface ChangeStream {
  /** Ends the call; onEnd is called with a CANCELLED error. */
  cancel(): void;
}

/** A client of QueryService's WatchChanges: one HTTP/2 connection for any number of calls. */
export interface ChangeFeedClient {
  watch(request: WatchChangesRequest, options: WatchChangesOptions): ChangeStream;
  close(): void;
}

type StreamingMethod = (request: WatchChangesRequest) => grpc.ClientReadableStream<Change>;

/** Connects (lazily) to a query service at host:port, for WatchChanges. */
export function createChangeFeedClient(address: string): ChangeFeedClient {
  const Client = grpc.makeGenericClientConstructor(queryServiceDefinition(), "");
  const client = new Client(address, grpc.credentials.createInsecure(), clientChannelOptions);
  const watchChanges = (client as unknown as Record<string, StreamingMethod>).WatchChanges!
    .bind(client);
  return {
    watch(request, options) {
      const call = watchChanges(request);
      let ended = false;
      const end = (error?: grpc.ServiceError) => {
        if (ended) return;
        ended = true;
        options.onEnd(error);
      };
      call.on("metadata", (metadata: grpc.Metadata) => {
        const [position] = metadata.get(changePositionMetadataKey);
        if (position !== undefined) options.onStart?.(String(position));
      });
      call.on("data", (change: Change) => {
        if (!ended) options.onChange(change);
      });
      call.on("error", (error: grpc.ServiceError) => end(error));
      call.on("end", () => end());
      return { cancel: () => call.cancel() };
    },
    close: () => client.close(),
  };
}
