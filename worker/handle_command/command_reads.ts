import type { CommandEnvelope } from "@catalog/proto";

/**
 * What a command's decision reads that another command could change, as lock
 * keys: the entity it addresses, the category a product goes to, the category
 * name it claims (names are unique regardless of case) and its idempotency
 * key. A product update that keeps its category reads that category without
 * locking it: while the product is in it, the category cannot be deleted, and
 * renaming it changes nothing the update reads.
 */
export function lockKeys(envelope: CommandEnvelope): string[] {
  const keys = [`entity:${envelope.aggregateId}`];
  const payload = envelope.payload as { categoryId?: unknown; name?: unknown };
  const product = envelope.type === "CreateProduct" || envelope.type === "UpdateProduct";
  if (product && typeof payload.categoryId === "string") keys.push(`entity:${payload.categoryId}`);
  const category = envelope.type === "CreateCategory" || envelope.type === "UpdateCategory";
  if (category && typeof payload.name === "string") keys.push(`name:${payload.name}`);
  if (envelope.idempotencyKey) keys.push(`idempotency:${envelope.idempotencyKey}`);
  return keys;
}

/** The ids and names the decisions of a batch of commands read, by what they are looked up in. */
export interface CommandReads {
  /** Every command's id, to find those handled before. */
  commandIds: string[];
  /** Categories addressed, and those products are to belong to. */
  categoryIds: string[];
  /** Products addressed by updates and deletes. */
  productIds: string[];
  /** Ids of creates, to find those taken. */
  createIds: string[];
  /** Categories deleted, whose products are counted. */
  deletedCategoryIds: string[];
  /** Category names claimed by creates and renames. */
  names: string[];
  /** Idempotency keys, to find the commands they name. */
  keys: string[];
}

/** What the decisions of these commands read, each id or name once. */
export function readsOf(envelopes: readonly CommandEnvelope[]): CommandReads {
  const categoryIds = new Set<string>();
  const productIds = new Set<string>();
  const createIds = new Set<string>();
  const deletedCategoryIds = new Set<string>();
  const names = new Set<string>();
  const keys = new Set<string>();
  for (const { type, aggregateId, payload, idempotencyKey } of envelopes) {
    const { categoryId, name } = payload as { categoryId?: string; name?: string };
    if (idempotencyKey) keys.add(idempotencyKey);
    if (name !== undefined && type.endsWith("Category")) names.add(name);
    if (categoryId !== undefined) categoryIds.add(categoryId);
    if (type === "CreateCategory" || type === "CreateProduct") createIds.add(aggregateId);
    else if (type.endsWith("Category")) categoryIds.add(aggregateId);
    else productIds.add(aggregateId);
    if (type === "DeleteCategory") deletedCategoryIds.add(aggregateId);
  }
  return {
    commandIds: envelopes.map((envelope) => envelope.commandId),
    categoryIds: [...categoryIds],
    productIds: [...productIds],
    createIds: [...createIds],
    deletedCategoryIds: [...deletedCategoryIds],
    names: [...names],
    keys: [...keys],
  };
}
