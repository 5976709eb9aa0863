import {
  type CommandPayloads,
  commandPayloads,
  type CommandType,
  type FieldError,
  fieldErrorsOf,
  idempotencyKey,
} from "@catalog/proto";
import { InvalidCommandError } from "./errors.ts";

/** The fields of UpdateProduct that may change; a request must name at least one. */
const productChanges = ["name", "price", "categoryId"] as const;

/**
 * Checks a command's payload against its strict schema and returns it
 * normalised (names trimmed, prices with two places). Throws
 * InvalidCommandError naming every failed field.
 */
export function validateCommand<T extends CommandType>(
  type: T,
  payload: Record<string, unknown>,
): CommandPayloads[T] {
  const result = commandPayloads[type].safeParse(payload);
  const errors: FieldError[] = result.success ? [] : fieldErrorsOf(result.error);
  if (type === "UpdateProduct" && productChanges.every((field) => payload[field] === undefined)) {
    errors.push({
      field: "(request)",
      message: "Must change at least one of name, price or categoryId",
    });
  }
  if (errors.length > 0 || !result.success) throw new InvalidCommandError(type, errors);
  return result.data as CommandPayloads[T];
}

/**
 * What is wrong with an idempotency key, named as the request's
 * `idempotencyKey` field: more than 200 characters, or a control character.
 * None for a good key or none at all ("").
 */
export function idempotencyKeyErrors(key: string): FieldError[] {
  const result = idempotencyKey.safeParse(key);
  if (result.success) return [];
  return result.error.issues.map((issue) => ({ field: "idempotencyKey", message: issue.message }));
}
