import { GraphQLError } from "graphql";
import type { Change, CommandStatus } from "@catalog/proto";
import type { ChangeSource } from "./change_feed.ts";
import { commandOf } from "./command.ts";
import type { GatewayContext } from "./context.ts";
import { invalidArguments, uuidOf } from "./validation.ts";

/**
 * How many changes a subscription may have waiting for its client by default.
 * One that falls further behind is ended with SUBSCRIBER_TOO_SLOW.
 */
export const SUBSCRIPTION_BUFFER = 256;

/** Options of subscriptionResolvers(). */
export interface SubscriptionOptions {
  /** Where the changes come from. Without one, subscribing fails with UNAVAILABLE. */
  changes?: ChangeSource;
  /** Changes a subscription may have waiting; see SUBSCRIPTION_BUFFER. */
  bufferSize?: number;
}

/** What a subscription yields: a change, or the error that ends it. */
type Payload = { change: Change } | { error: GraphQLError };

function tooSlow(limit: number): GraphQLError {
  return new GraphQLError(
    `Cannot keep up the subscription: the client fell ${limit} changes behind; subscribe again and read the current state`,
    { extensions: { code: "SUBSCRIBER_TOO_SLOW" } },
  );
}

/**
 * The changes that pass the filter, from the moment of the call, as an async
 * iterator with a bounded buffer. Adding to it never waits: a client that lets
 * more than `limit` changes pile up gets the SUBSCRIBER_TOO_SLOW error as its
 * last event and nothing after, and the changes are dropped from memory at
 * once. Returning (the client went away) removes the listener.
 */
export function changesOf(
  source: ChangeSource,
  options: { filter: (change: Change) => boolean; limit: number },
): AsyncIterableIterator<Payload> {
  const queue: Payload[] = [];
  let waiting: PromiseWithResolvers<IteratorResult<Payload>> | undefined;
  let finished = false;
  let stopListening = () => {};

  function push(payload: Payload): void {
    if (finished) return;
    if (waiting) {
      waiting.resolve({ value: payload, done: false });
      waiting = undefined;
    } else queue.push(payload);
  }

  /** Ends after what is queued, with one last error event. */
  function fail(error: GraphQLError): void {
    if (finished) return;
    stopListening();
    queue.length = 0;
    push({ error });
    finished = true;
  }

  stopListening = source.listen({
    change(change) {
      if (!options.filter(change)) return;
      if (queue.length >= options.limit) fail(tooSlow(options.limit));
      else push({ change });
    },
    lost(error) {
      fail(new GraphQLError(error.message, { extensions: { code: "CHANGES_LOST" } }));
    },
    end() {
      finished = true;
      stopListening();
      waiting?.resolve({ value: undefined, done: true });
      waiting = undefined;
    },
  });

  const iterator: AsyncIterableIterator<Payload> = {
    next() {
      const value = queue.shift();
      if (value) return Promise.resolve({ value, done: false });
      if (finished) return Promise.resolve({ value: undefined, done: true });
      waiting = Promise.withResolvers();
      return waiting.promise;
    },
    return() {
      finished = true;
      queue.length = 0;
      stopListening();
      waiting?.resolve({ value: undefined, done: true });
      waiting = undefined;
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

/** The change of an event; the error that ends a subscription, thrown. */
function changeOf(payload: Payload, context: GatewayContext): Change {
  if ("error" in payload) throw payload.error;
  // Each event is resolved afresh: nothing loaded for an earlier one is reused.
  context.loaders.clearAll();
  return payload.change;
}

function idArgument(id: string | null | undefined): string | undefined {
  if (id === null || id === undefined) return undefined;
  const uuid = uuidOf(id);
  if (!uuid) throw invalidArguments([{ field: "id", message: "Must be a UUID" }]);
  return uuid;
}

/**
 * The Subscription resolvers: the seed's six (each change of a category or
 * product, once the read model shows it) and commandUpdated(id).
 */
export function subscriptionResolvers(options: SubscriptionOptions) {
  const limit = options.bufferSize ?? SUBSCRIPTION_BUFFER;

  async function source(): Promise<ChangeSource> {
    const changes = options.changes;
    if (!changes) {
      throw new GraphQLError("Cannot subscribe: this gateway has no change feed", {
        extensions: { code: "SERVICE_UNAVAILABLE" },
      });
    }
    try {
      await changes.ready();
    } catch (error) {
      throw new GraphQLError(error instanceof Error ? error.message : String(error), {
        extensions: { code: "SERVICE_UNAVAILABLE" },
      });
    }
    return changes;
  }

  /** A subscription to one kind of change of one entity type, optionally of one id. */
  function entityChanges(
    entityType: "CATEGORY" | "PRODUCT",
    kind: Change["kind"],
    entity: (change: Change) => unknown,
  ) {
    return {
      async subscribe(_: unknown, args: { id?: string | null }) {
        const id = idArgument(args.id);
        return changesOf(await source(), {
          filter: (change) =>
            change.entityType === entityType && change.kind === kind &&
            (id === undefined || change.entityId === id),
          limit,
        });
      },
      resolve: (payload: Payload, _args: unknown, context: GatewayContext) =>
        entity(changeOf(payload, context)),
    };
  }

  const category = (change: Change) => change.category;
  const product = (change: Change) => change.product;

  return {
    Subscription: {
      categoryCreated: entityChanges("CATEGORY", "CREATED", category),
      categoryUpdated: entityChanges("CATEGORY", "UPDATED", category),
      categoryDeleted: entityChanges("CATEGORY", "DELETED", category),
      productCreated: entityChanges("PRODUCT", "CREATED", product),
      productUpdated: entityChanges("PRODUCT", "UPDATED", product),
      productDeleted: entityChanges("PRODUCT", "DELETED", product),
      commandUpdated: {
        async subscribe(_: unknown, args: { id: string }, context: GatewayContext) {
          const id = idArgument(args.id)!;
          // Listen before reading the status: a change made in between is
          // seen twice rather than missed, and commandUpdates() skips the repeat.
          const changes = changesOf(await source(), {
            filter: (change) => change.entityType === "COMMAND" && change.entityId === id,
            limit,
          });
          return commandUpdates(changes, () => currentStatus(context, id));
        },
        resolve(payload: CommandPayload, _args: unknown, context: GatewayContext) {
          return commandOf(
            "status" in payload ? payload.status : changeOf(payload, context).command!,
          );
        },
      },
    },
  };
}

type CommandPayload = Payload | { status: CommandStatus };

/**
 * A command's status as it is now (if the read side knows it), then each new
 * one; ends after APPLIED or REJECTED. A FAILED command may still be replayed
 * and applied, so it keeps the subscription open.
 */
async function* commandUpdates(
  changes: AsyncIterableIterator<Payload>,
  current: () => Promise<CommandStatus | undefined>,
): AsyncGenerator<CommandPayload> {
  let last: string | undefined;
  const fresh = (status: CommandStatus) => {
    const key = JSON.stringify(commandOf(status));
    if (key === last) return false;
    last = key;
    return true;
  };
  const done = (status: CommandStatus) =>
    status.status === "APPLIED" || status.status === "REJECTED";
  try {
    let status: CommandStatus | undefined;
    try {
      status = await current();
    } catch (error) {
      yield { error: error instanceof GraphQLError ? error : new GraphQLError(String(error)) };
      return;
    }
    if (status && fresh(status)) yield { status };
    if (status && done(status)) return;
    for await (const payload of changes) {
      if ("error" in payload) {
        yield payload;
        return;
      }
      const status = payload.change.command;
      if (!status || !fresh(status)) continue;
      yield { status };
      if (done(status)) return;
    }
  } finally {
    await changes.return?.();
  }
}

/** The command's status now, or undefined if the read side does not know it yet. */
async function currentStatus(
  context: GatewayContext,
  commandId: string,
): Promise<CommandStatus | undefined> {
  try {
    const status = await context.queries.GetCommand({ commandId });
    return status.status === "PENDING" ? undefined : status;
  } catch (error) {
    if (error instanceof GraphQLError && error.extensions.code === "NOT_FOUND") return undefined;
    throw error;
  }
}
