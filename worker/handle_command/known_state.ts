import type { CategoryState, Command, DecisionState, ProductState } from "../decide.ts";
import type { DomainEvent } from "../events.ts";

/** A category as known, with its name as the unique index compares it. */
export interface KnownCategory {
  state: CategoryState;
  /** lower(name), computed by the database as the index computes it. */
  key: string;
}

/**
 * What the write model holds that the commands of one transaction read,
 * loaded at its start and then kept up to date with each decision's effects
 * (see remember()), so every decision sees the state the ones before it left.
 * UUIDs are keyed lower-cased, as the database answers them.
 */
export interface KnownState {
  /** Outcomes of command ids already handled. */
  outcomes: Map<string, { status: "APPLIED" | "REJECTED"; code: string }>;
  /** The command id each idempotency key names. */
  keyOwners: Map<string, string>;
  categories: Map<string, KnownCategory>;
  /** Category id by name key, for the names the commands claim and the categories known. */
  categoryByName: Map<string, string>;
  /** The name key of each name the commands claim. */
  nameKeys: Map<string, string>;
  products: Map<string, ProductState>;
  /** Ids of creates that name, or once named, a category or a product. */
  taken: Set<string>;
  /** Products per category, for the categories the commands delete. */
  productCounts: Map<string, number>;
}

/** What the write database answered for the commands of one transaction (see loadState()). */
export interface LoadedRows {
  /** Commands among them handled before. */
  outcomes: readonly { commandId: string; status: "APPLIED" | "REJECTED"; code: string }[];
  /** Idempotency keys among theirs already recorded, with the command each names. */
  keyOwners: readonly { key: string; commandId: string }[];
  /** Categories addressed, holding a product addressed, or holding a name claimed. */
  categories: readonly (CategoryState & { key: string })[];
  /** Each name claimed, with its key as the unique index computes it. */
  nameKeys: readonly { name: string; key: string }[];
  products: readonly ProductState[];
  /** Ids of creates that name, or once named, an entity. */
  taken: readonly { id: string }[];
  /** The categories deleted, each counted 0 unless productCounts says otherwise. */
  deletedCategoryIds: readonly string[];
  /** Products per deleted category that has any. */
  productCounts: readonly { id: string; count: number }[];
}

/** An id as the database answers it, and as the state keys it. */
export function uuidKey(id: string): string {
  return id.toLowerCase();
}

/** The state the commands of a transaction start from, made of what the database answered. */
export function knownStateOf(rows: LoadedRows): KnownState {
  const known: KnownState = {
    outcomes: new Map(
      rows.outcomes.map((row) => [row.commandId, { status: row.status, code: row.code }]),
    ),
    keyOwners: new Map(rows.keyOwners.map((row) => [row.key, row.commandId])),
    categories: new Map(),
    categoryByName: new Map(),
    nameKeys: new Map(rows.nameKeys.map((row) => [row.name, row.key])),
    products: new Map(rows.products.map((row) => [row.id, row])),
    taken: new Set(rows.taken.map((row) => row.id)),
    productCounts: new Map(rows.deletedCategoryIds.map((id) => [uuidKey(id), 0])),
  };
  for (const { key, ...state } of rows.categories) {
    known.categories.set(state.id, { state, key });
    known.categoryByName.set(key, state.id);
  }
  for (const row of rows.productCounts) known.productCounts.set(row.id, row.count);
  return known;
}

/** The state decide() reads for this command, as the commands before it left it. */
export function stateOf(known: KnownState, command: Command): DecisionState {
  const id = uuidKey(command.aggregateId);
  const category = (categoryId: string) => known.categories.get(uuidKey(categoryId))?.state;
  const namedLike = (name: string) => {
    const owner = known.categoryByName.get(known.nameKeys.get(name)!);
    return owner === undefined || owner === id ? undefined : known.categories.get(owner)?.state;
  };
  switch (command.type) {
    case "CreateCategory":
      return {
        idTaken: known.taken.has(id),
        categoryWithSameName: namedLike(command.payload.name),
      };
    case "UpdateCategory":
      return { category: category(id), categoryWithSameName: namedLike(command.payload.name) };
    case "DeleteCategory":
      return { category: category(id), productCount: known.productCounts.get(id) ?? 0 };
    case "CreateProduct":
      return {
        idTaken: known.taken.has(id),
        productCategory: category(command.payload.categoryId),
      };
    case "UpdateProduct": {
      const addressed = known.products.get(id);
      if (!addressed) return {};
      const categoryId = command.payload.categoryId ?? addressed.categoryId;
      return { product: addressed, productCategory: category(categoryId) };
    }
    case "DeleteProduct":
      return { product: known.products.get(id) };
  }
}

/** Moves a category's product count, if it is one the commands count (one they delete). */
function countProduct(known: KnownState, categoryId: string, by: number): void {
  const key = uuidKey(categoryId);
  const count = known.productCounts.get(key);
  if (count !== undefined) known.productCounts.set(key, count + by);
}

/** An event with the aggregate it happened to and the version it left that at. */
export type VersionedEvent = DomainEvent & { aggregateId: string; aggregateVersion: number };

/** Brings what is known up to date with an event a command caused. */
export function remember(known: KnownState, event: VersionedEvent): void {
  const id = uuidKey(event.aggregateId);
  const version = event.aggregateVersion;
  switch (event.type) {
    case "CategoryCreated":
    case "CategoryUpdated": {
      const before = known.categories.get(id);
      if (before) known.categoryByName.delete(before.key);
      const key = known.nameKeys.get(event.data.name)!;
      known.categories.set(id, { state: { id, name: event.data.name, version }, key });
      known.categoryByName.set(key, id);
      known.taken.add(id);
      break;
    }
    case "CategoryDeleted": {
      const before = known.categories.get(id);
      if (before) known.categoryByName.delete(before.key);
      known.categories.delete(id);
      break;
    }
    case "ProductCreated":
    case "ProductUpdated": {
      const before = known.products.get(id);
      const { name, price, categoryId } = event.data;
      known.products.set(id, { id, name, price, categoryId: uuidKey(categoryId), version });
      known.taken.add(id);
      if (before?.categoryId !== uuidKey(categoryId)) {
        if (before) countProduct(known, before.categoryId, -1);
        countProduct(known, categoryId, 1);
      }
      break;
    }
    case "ProductDeleted": {
      const before = known.products.get(id);
      known.products.delete(id);
      if (before) countProduct(known, before.categoryId, -1);
      break;
    }
  }
}
