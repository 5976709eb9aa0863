import type { CommandPayloads, CommandType } from "@catalog/proto";
import type { DomainEvent } from "./events.ts";

/** A command as the domain sees it: what to do, to which aggregate. */
export type Command = {
  [T in CommandType]: { type: T; aggregateId: string; payload: CommandPayloads[T] };
}[CommandType];

/** A category as the write model holds it. */
export interface CategoryState {
  id: string;
  name: string;
  version: number;
}

/** A product as the write model holds it; price as a two-decimal string. */
export interface ProductState {
  id: string;
  name: string;
  price: string;
  categoryId: string;
  version: number;
}

/**
 * What the write model knows that a decision needs. The handler loads only
 * the fields the command at hand reads; an absent field means "none".
 */
export interface DecisionState {
  /** Creates: whether the command's id names, or once named, a category or a product. */
  idTaken?: boolean;
  /** Category updates and deletes: the category addressed. */
  category?: CategoryState;
  /** Category creates and renames: a category whose name equals the new one, ignoring case. */
  categoryWithSameName?: CategoryState;
  /** Category deletes: how many products still belong to the category. */
  productCount?: number;
  /** Product updates and deletes: the product addressed. */
  product?: ProductState;
  /** Product creates and updates: the category the product is to belong to. */
  productCategory?: CategoryState;
}

/** Stable codes of the domain's refusals; clients see them as error codes. */
export type RejectionCode =
  | "ALREADY_EXISTS"
  | "NOT_FOUND"
  | "CATEGORY_NAME_TAKEN"
  | "CATEGORY_NOT_FOUND"
  | "CATEGORY_NOT_EMPTY"
  | "VERSION_CONFLICT";

/** Why the domain refused a command. */
export interface Rejection {
  code: RejectionCode;
  message: string;
  /** For VERSION_CONFLICT: the version the entity is at, so the client can reread and retry. */
  currentVersion?: number;
}

/** The events a command causes, or why it causes none. */
export type Decision = { events: DomainEvent[] } | { rejection: Rejection };

function reject(code: RejectionCode, message: string): Decision {
  return { rejection: { code, message } };
}

/**
 * The refusal of a change that expected its entity at another version than
 * the one it is at, or undefined when it expected none or the right one.
 * `action` names the change for the message ("update product").
 */
function versionConflict(
  action: string,
  id: string,
  expected: number | undefined,
  current: number,
): Decision | undefined {
  if (expected === undefined || expected === current) return undefined;
  return {
    rejection: {
      code: "VERSION_CONFLICT",
      message:
        `Cannot ${action} "${id}": expected version ${expected}, but it is at version ${current}`,
      currentVersion: current,
    },
  };
}

/** The state's name match counts unless it is the category being renamed (a change of case). */
function nameTaken(command: Command, state: DecisionState): boolean {
  const other = state.categoryWithSameName;
  return other !== undefined && other.id !== command.aggregateId;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/**
 * Applies the catalog's rules to a command, given the state it addresses. Pure.
 * An entity that does not exist is NOT_FOUND whatever version was expected; a
 * stale expected version is refused before any other rule, since the client
 * decided on a state that is gone.
 */
export function decide(command: Command, state: DecisionState): Decision {
  const id = command.aggregateId;
  switch (command.type) {
    case "CreateCategory": {
      const { name } = command.payload;
      if (state.idTaken) {
        return reject("ALREADY_EXISTS", `Cannot create category "${name}": id "${id}" is taken`);
      }
      if (nameTaken(command, state)) {
        return reject(
          "CATEGORY_NAME_TAKEN",
          `Cannot create category "${name}": a category named "${state.categoryWithSameName?.name}" already exists`,
        );
      }
      return { events: [{ type: "CategoryCreated", data: { name } }] };
    }
    case "UpdateCategory": {
      const { name } = command.payload;
      const category = state.category;
      if (!category) {
        return reject("NOT_FOUND", `Cannot update category "${id}": it does not exist`);
      }
      const conflict = versionConflict(
        "update category",
        id,
        command.payload.expectedVersion,
        category.version,
      );
      if (conflict) return conflict;
      if (nameTaken(command, state)) {
        return reject(
          "CATEGORY_NAME_TAKEN",
          `Cannot rename category "${category.name}" to "${name}": a category named "${state.categoryWithSameName?.name}" already exists`,
        );
      }
      return { events: [{ type: "CategoryUpdated", data: { name } }] };
    }
    case "DeleteCategory": {
      const category = state.category;
      if (!category) {
        return reject("NOT_FOUND", `Cannot delete category "${id}": it does not exist`);
      }
      const conflict = versionConflict(
        "delete category",
        id,
        command.payload.expectedVersion,
        category.version,
      );
      if (conflict) return conflict;
      const count = state.productCount ?? 0;
      if (count > 0) {
        return reject(
          "CATEGORY_NOT_EMPTY",
          `Cannot delete category "${category.name}": it still has ${plural(count, "product")}`,
        );
      }
      return { events: [{ type: "CategoryDeleted", data: {} }] };
    }
    case "CreateProduct": {
      const { name, price, categoryId } = command.payload;
      if (state.idTaken) {
        return reject("ALREADY_EXISTS", `Cannot create product "${name}": id "${id}" is taken`);
      }
      if (state.productCategory?.id !== categoryId) {
        return reject(
          "CATEGORY_NOT_FOUND",
          `Cannot create product "${name}": category "${categoryId}" does not exist`,
        );
      }
      return { events: [{ type: "ProductCreated", data: { name, price, categoryId } }] };
    }
    case "UpdateProduct": {
      const product = state.product;
      if (!product) {
        return reject("NOT_FOUND", `Cannot update product "${id}": it does not exist`);
      }
      const conflict = versionConflict(
        "update product",
        id,
        command.payload.expectedVersion,
        product.version,
      );
      if (conflict) return conflict;
      const { name = product.name, price = product.price, categoryId = product.categoryId } =
        command.payload;
      if (state.productCategory?.id !== categoryId) {
        return reject(
          "CATEGORY_NOT_FOUND",
          `Cannot update product "${product.name}": category "${categoryId}" does not exist`,
        );
      }
      return { events: [{ type: "ProductUpdated", data: { name, price, categoryId } }] };
    }
    case "DeleteProduct": {
      const product = state.product;
      if (!product) {
        return reject("NOT_FOUND", `Cannot delete product "${id}": it does not exist`);
      }
      const conflict = versionConflict(
        "delete product",
        id,
        command.payload.expectedVersion,
        product.version,
      );
      if (conflict) return conflict;
      return { events: [{ type: "ProductDeleted", data: { categoryId: product.categoryId } }] };
    }
  }
}
