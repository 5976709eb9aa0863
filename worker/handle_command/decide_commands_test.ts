import assert from "node:assert/strict";
import type { CommandEnvelope } from "@catalog/proto";
import { commandEnvelope, steppingClock } from "../_testing.ts";
import type { CategoryState, ProductState } from "../decide.ts";
import { readsOf } from "./command_reads.ts";
import { type CommandOutcome, decideCommands, type DecidedCommands } from "./decide_commands.ts";
import { type KnownState, knownStateOf, type LoadedRows } from "./known_state.ts";
import { games, gamesId, kite, kiteId, missingId, toys, toysId } from "../_catalog_fixture.ts";

const ballId = "0a4f0c1e-1b1a-4c3e-9a57-3f0a1d1f7a04";
const otherCommandId = "0a4f0c1e-1b1a-4c3e-9a57-3f0a1d1f7c01";

const at = new Date("2025-02-03T04:05:06.000Z");

/** What the write database holds, as far as the tests need it. */
interface WriteModel {
  categories?: CategoryState[];
  products?: ProductState[];
  /** Ids of entities that existed once and were deleted: still taken. */
  deleted?: string[];
  /** Commands handled before. */
  handled?: { commandId: string; status: "APPLIED" | "REJECTED"; code: string }[];
  /** Idempotency keys recorded before, with the command each names. */
  keys?: { key: string; commandId: string }[];
}

/** What loadState() would answer for these commands from this write model. */
function loaded(model: WriteModel, envelopes: readonly CommandEnvelope[]): LoadedRows {
  const reads = readsOf(envelopes);
  const categories = model.categories ?? [];
  const products = model.products ?? [];
  const ids = new Set([...categories, ...products].map((entity) => entity.id));
  for (const id of model.deleted ?? []) ids.add(id);
  return {
    // The database compares UUIDs regardless of case, and answers them lower-cased.
    outcomes: (model.handled ?? []).filter((row) =>
      reads.commandIds.some((id) => id.toLowerCase() === row.commandId)
    ),
    keyOwners: (model.keys ?? []).filter((row) => reads.keys.includes(row.key)),
    categories: categories.map((category) => ({ ...category, key: category.name.toLowerCase() })),
    nameKeys: reads.names.map((name) => ({ name, key: name.toLowerCase() })),
    products,
    taken: reads.createIds.filter((id) => ids.has(id)).map((id) => ({ id })),
    deletedCategoryIds: reads.deletedCategoryIds,
    productCounts: reads.deletedCategoryIds.flatMap((id) => {
      const count = products.filter((product) => product.categoryId === id).length;
      return count === 0 ? [] : [{ id, count }];
    }),
  };
}

/** An outcome without its events' ids, which are random. */
function comparable(outcome: CommandOutcome): unknown {
  if (outcome.status !== "APPLIED") return outcome;
  return { ...outcome, events: outcome.events.map(({ eventId: _, ...event }) => event) };
}

/** The code of an outcome: its rejection's, or its status. */
function codeOf(outcome: CommandOutcome): string {
  return outcome.status === "REJECTED" ? outcome.rejection.code : outcome.status;
}

/**
 * given(model).when(...commands) decides the commands as one batch on what
 * the model holds, to be checked with then…(); `decided` and `known` are the
 * result and the state it left.
 */
function given(model: WriteModel) {
  return {
    when(...envelopes: CommandEnvelope[]) {
      const known: KnownState = knownStateOf(loaded(model, envelopes));
      const decided: DecidedCommands = decideCommands(known, envelopes, { clock: () => at });
      return {
        decided,
        known,
        /** Each command's outcome, its events' ids left out. */
        thenOutcomes(...expected: unknown[]) {
          assert.deepEqual(decided.outcomes.map(comparable), expected);
        },
        /** Each command's rejection code, or its status when it was not rejected. */
        thenCodes(...expected: string[]) {
          assert.deepEqual(decided.outcomes.map(codeOf), expected);
        },
      };
    },
  };
}

Deno.test("decideCommands() applies a command, leaving its event, key and outcome to write", () => {
  const rename = commandEnvelope("UpdateCategory", toysId, { id: toysId, name: "Fun" }, {
    idempotencyKey: "rename-1",
  });
  const { decided } = given({ categories: [toys] }).when(rename);
  const event = {
    type: "CategoryUpdated",
    data: { name: "Fun" },
    aggregateType: "category",
    aggregateId: toysId,
    aggregateVersion: 2,
    commandId: rename.commandId,
    occurredAt: at,
  };
  assert.deepEqual(decided.outcomes.map(comparable), [{ status: "APPLIED", events: [event] }]);
  assert.deepEqual(decided.effects.events.map(({ eventId: _, ...recorded }) => recorded), [event]);
  assert.equal(decided.effects.events[0], (decided.outcomes[0] as { events: unknown[] }).events[0]);
  assert.deepEqual(decided.effects.idempotencyKeys, [
    { key: "rename-1", commandId: rename.commandId, commandType: "UpdateCategory", recordedAt: at },
  ]);
  assert.deepEqual(decided.effects.commands, [
    { envelope: rename, status: "APPLIED", rejection: undefined, handledAt: at },
  ]);
});

Deno.test("decideCommands() records a domain rejection as an outcome with its code", () => {
  const remove = commandEnvelope("DeleteCategory", missingId, { id: missingId });
  const { decided } = given({}).when(remove);
  const rejection = {
    code: "NOT_FOUND",
    message: `Cannot delete category "${missingId}": it does not exist`,
  };
  assert.deepEqual(decided.outcomes, [{ status: "REJECTED", rejection }]);
  assert.deepEqual(decided.effects, {
    idempotencyKeys: [],
    events: [],
    commands: [{ envelope: remove, status: "REJECTED", rejection, handledAt: at }],
  });
});

Deno.test("decideCommands() answers a command id handled before as a duplicate and writes nothing", () => {
  const create = commandEnvelope("CreateCategory", toysId, { name: "Toys" });
  const { decided } = given({
    categories: [toys],
    handled: [{ commandId: create.commandId, status: "APPLIED", code: "" }],
  }).when(create);
  assert.deepEqual(decided.outcomes, [
    { status: "DUPLICATE", previous: { status: "APPLIED", code: "" } },
  ]);
  assert.deepEqual(decided.effects, { idempotencyKeys: [], events: [], commands: [] });
});

Deno.test("decideCommands() answers a command delivered twice in one batch as a duplicate the second time", () => {
  const remove = commandEnvelope("DeleteCategory", missingId, { id: missingId });
  const { decided } = given({}).when(remove, remove);
  assert.deepEqual(decided.outcomes.map(codeOf), ["NOT_FOUND", "DUPLICATE"]);
  assert.deepEqual(decided.outcomes[1], {
    status: "DUPLICATE",
    previous: { status: "REJECTED", code: "NOT_FOUND" },
  });
  assert.equal(decided.effects.commands.length, 1);
});

Deno.test("decideCommands() matches command ids regardless of case", () => {
  const create = commandEnvelope("CreateCategory", toysId, { name: "Toys" }, {
    commandId: otherCommandId.toUpperCase(),
  });
  given({ handled: [{ commandId: otherCommandId, status: "REJECTED", code: "ALREADY_EXISTS" }] })
    .when(create)
    .thenOutcomes({
      status: "DUPLICATE",
      previous: { status: "REJECTED", code: "ALREADY_EXISTS" },
    });
});

Deno.test("decideCommands() answers a retry with the same key and request (the same command id) as a duplicate", () => {
  // The command service derives a retry's command id from its key and request.
  const rename = commandEnvelope("UpdateCategory", toysId, { id: toysId, name: "Fun" }, {
    idempotencyKey: "rename-1",
  });
  given({
    categories: [toys],
    handled: [{ commandId: rename.commandId, status: "APPLIED", code: "" }],
    keys: [{ key: "rename-1", commandId: rename.commandId }],
  })
    .when(rename)
    .thenOutcomes({ status: "DUPLICATE", previous: { status: "APPLIED", code: "" } });
});

Deno.test("decideCommands() does not record again a key that already names the command", () => {
  const rename = commandEnvelope("UpdateCategory", toysId, { id: toysId, name: "Fun" }, {
    idempotencyKey: "rename-1",
  });
  const { decided } = given({
    categories: [toys],
    keys: [{ key: "rename-1", commandId: rename.commandId }],
  }).when(rename);
  assert.deepEqual(decided.outcomes.map(codeOf), ["APPLIED"]);
  assert.deepEqual(decided.effects.idempotencyKeys, []);
});

Deno.test("decideCommands() refuses a key reused by a different request, and neither decides nor records the key", () => {
  const different = commandEnvelope("UpdateCategory", toysId, { id: toysId, name: "Kites" }, {
    idempotencyKey: "rename-1",
  });
  const { decided, known } = given({
    categories: [toys],
    keys: [{ key: "rename-1", commandId: otherCommandId }],
  }).when(different);
  const rejection = {
    code: "IDEMPOTENCY_KEY_REUSED",
    message: `Cannot apply UpdateCategory: idempotency key "rename-1" was already used by ` +
      `command ${otherCommandId} for a different request`,
  };
  assert.deepEqual(decided.outcomes, [{ status: "REJECTED", rejection }]);
  assert.deepEqual(decided.effects, {
    idempotencyKeys: [],
    events: [],
    commands: [{ envelope: different, status: "REJECTED", rejection, handledAt: at }],
  });
  assert.equal(known.keyOwners.get("rename-1"), otherCommandId);
  assert.equal(known.categories.get(toysId)?.state.name, "Toys");
});

Deno.test("decideCommands() keeps the key of a rejected command, so a later different request with it is refused", () => {
  const rejected = commandEnvelope("DeleteCategory", missingId, { id: missingId }, {
    idempotencyKey: "key-1",
  });
  const different = commandEnvelope("CreateCategory", toysId, { name: "Toys" }, {
    idempotencyKey: "key-1",
  });
  const { decided } = given({}).when(rejected, different);
  assert.deepEqual(decided.outcomes.map(codeOf), ["NOT_FOUND", "IDEMPOTENCY_KEY_REUSED"]);
  assert.match(
    (decided.outcomes[1] as { rejection: { message: string } }).rejection.message,
    new RegExp(`already used by command ${rejected.commandId} `),
  );
  assert.deepEqual(decided.effects.idempotencyKeys.map((row) => row.commandId), [
    rejected.commandId,
  ]);
});

Deno.test("decideCommands() decides each command of a batch on the state the ones before it left", () => {
  given({})
    .when(
      commandEnvelope("CreateCategory", toysId, { name: "Toys" }),
      commandEnvelope("CreateProduct", kiteId, { name: "Kite", price: "5.00", categoryId: toysId }),
      commandEnvelope("DeleteCategory", toysId, { id: toysId }),
      commandEnvelope("DeleteProduct", kiteId, { id: kiteId }),
      commandEnvelope("DeleteCategory", toysId, { id: toysId }),
      commandEnvelope("UpdateCategory", toysId, { id: toysId, name: "Fun" }),
    )
    .thenCodes("APPLIED", "APPLIED", "CATEGORY_NOT_EMPTY", "APPLIED", "APPLIED", "NOT_FOUND");
});

Deno.test("decideCommands() counts a category's products as the batch moves, creates and deletes them", () => {
  const { decided } = given({ categories: [toys, games], products: [kite] }).when(
    commandEnvelope("UpdateProduct", kiteId, { id: kiteId, categoryId: gamesId }),
    commandEnvelope("DeleteCategory", toysId, { id: toysId }),
    commandEnvelope("CreateProduct", ballId, { name: "Ball", price: "2.00", categoryId: gamesId }),
    commandEnvelope("DeleteCategory", gamesId, { id: gamesId }),
  );
  assert.deepEqual(decided.outcomes.map(codeOf), [
    "APPLIED",
    "APPLIED",
    "APPLIED",
    "CATEGORY_NOT_EMPTY",
  ]);
  assert.equal(
    (decided.outcomes[3] as { rejection: { message: string } }).rejection.message,
    'Cannot delete category "Games": it still has 2 products',
  );
});

Deno.test("decideCommands() moves each event's version one on from where its entity stands", () => {
  const { decided } = given({ categories: [toys], products: [kite] }).when(
    commandEnvelope("UpdateProduct", kiteId, { id: kiteId, price: "1.00" }),
    commandEnvelope("UpdateProduct", kiteId, { id: kiteId, price: "2.00", expectedVersion: 3 }),
    commandEnvelope("UpdateProduct", kiteId, { id: kiteId, price: "3.00", expectedVersion: 3 }),
    commandEnvelope("CreateCategory", gamesId, { name: "Games" }),
  );
  const versions = decided.effects.events.map((
    event,
  ) => [event.aggregateId, event.aggregateVersion]);
  assert.deepEqual(versions, [[kiteId, 3], [kiteId, 4], [gamesId, 1]]);
  assert.deepEqual(decided.outcomes[2], {
    status: "REJECTED",
    rejection: {
      code: "VERSION_CONFLICT",
      message: `Cannot update product "${kiteId}": expected version 3, but it is at version 4`,
      currentVersion: 4,
    },
  });
});

Deno.test("decideCommands() frees a category's name once the batch renames or deletes it", () => {
  given({ categories: [toys, games] })
    .when(
      commandEnvelope("CreateCategory", ballId, { name: "GAMES" }),
      commandEnvelope("UpdateCategory", gamesId, { id: gamesId, name: "Board games" }),
      commandEnvelope("CreateCategory", ballId, { name: "games" }),
      commandEnvelope("CreateCategory", kiteId, { name: "Board Games" }),
      commandEnvelope("DeleteCategory", toysId, { id: toysId }),
      commandEnvelope("UpdateCategory", gamesId, { id: gamesId, name: "TOYS" }),
    )
    .thenCodes(
      "CATEGORY_NAME_TAKEN",
      "APPLIED",
      "APPLIED",
      "CATEGORY_NAME_TAKEN",
      "APPLIED",
      "APPLIED",
    );
});

Deno.test("decideCommands() refuses a create whose id an entity has, or once had", () => {
  given({ deleted: [kiteId] })
    .when(
      commandEnvelope("CreateCategory", toysId, { name: "Toys" }),
      commandEnvelope("DeleteCategory", toysId, { id: toysId }),
      commandEnvelope("CreateCategory", toysId, { name: "Toys" }),
      commandEnvelope("CreateProduct", kiteId, { name: "Kite", price: "1.00", categoryId: toysId }),
    )
    .thenCodes("APPLIED", "APPLIED", "ALREADY_EXISTS", "ALREADY_EXISTS");
});

Deno.test("decideCommands() stamps each command with one reading of the clock, duplicates too", () => {
  const create = commandEnvelope("CreateCategory", toysId, { name: "Toys" });
  const envelopes = [
    create,
    create,
    commandEnvelope("UpdateCategory", toysId, { id: toysId, name: "Fun" }),
  ];
  const known = knownStateOf(loaded({}, envelopes));
  const decided = decideCommands(known, envelopes, { clock: steppingClock() });
  assert.deepEqual(decided.effects.commands.map((row) => row.handledAt.toISOString()), [
    "2025-01-01T00:00:00.000Z",
    "2025-01-01T00:00:02.000Z",
  ]);
  assert.deepEqual(decided.effects.events.map((event) => event.occurredAt.toISOString()), [
    "2025-01-01T00:00:00.000Z",
    "2025-01-01T00:00:02.000Z",
  ]);
});
