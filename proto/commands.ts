import { z } from "zod";
import { formatCents, MAX_PRICE_CENTS, MIN_PRICE_CENTS, parseCents } from "./money.ts";

/**
 * The six commands and their payloads as they travel in the RabbitMQ
 * envelope. The schemas carry the domain's input rules, so the command
 * service validates with them and the worker re-reads with them.
 */

export const entityId = z.uuid({ error: "Must be a UUID" });

export const categoryName = z.string()
  .trim()
  .min(1, { error: "Must not be empty" })
  .max(100, { error: "Must be at most 100 characters" });

export const productName = z.string()
  .trim()
  .min(1, { error: "Must not be empty" })
  .max(200, { error: "Must be at most 200 characters" });

/** A price as a decimal string; normalised to two places ("19.9" → "19.90"). */
export const price = z.string().trim().transform((text, ctx) => {
  const cents = parseCents(text);
  if (cents === undefined) {
    ctx.addIssue({
      code: "custom",
      message: "Must be a decimal number with at most two decimal places, like 19.99",
    });
    return z.NEVER;
  }
  if (cents < MIN_PRICE_CENTS || cents > MAX_PRICE_CENTS) {
    ctx.addIssue({ code: "custom", message: "Must be between 0.01 and 999999.99" });
    return z.NEVER;
  }
  return formatCents(cents);
});

/**
 * The version a change expects its entity to be at (optimistic concurrency).
 * Versions start at 1, so anything else could never match.
 */
export const expectedVersion = z.int({ error: "Must be a positive integer" })
  .min(1, { error: "Must be a positive integer" });

export const CreateCategory = z.strictObject({ name: categoryName });
export const UpdateCategory = z.strictObject({
  id: entityId,
  name: categoryName,
  expectedVersion: expectedVersion.optional(),
});
export const DeleteCategory = z.strictObject({
  id: entityId,
  expectedVersion: expectedVersion.optional(),
});
export const CreateProduct = z.strictObject({
  name: productName,
  price,
  categoryId: entityId,
});
export const UpdateProduct = z.strictObject({
  id: entityId,
  name: productName.optional(),
  price: price.optional(),
  categoryId: entityId.optional(),
  expectedVersion: expectedVersion.optional(),
});
export const DeleteProduct = z.strictObject({
  id: entityId,
  expectedVersion: expectedVersion.optional(),
});

export const commandPayloads = {
  CreateCategory,
  UpdateCategory,
  DeleteCategory,
  CreateProduct,
  UpdateProduct,
  DeleteProduct,
} as const;

export type CommandType = keyof typeof commandPayloads;
export const commandTypes = Object.keys(commandPayloads) as CommandType[];

export type CommandPayloads = { [T in CommandType]: z.output<(typeof commandPayloads)[T]> };

export type AggregateType = "category" | "product";

/** Which aggregate each command addresses. */
export const aggregateTypeOf: Record<CommandType, AggregateType> = {
  CreateCategory: "category",
  UpdateCategory: "category",
  DeleteCategory: "category",
  CreateProduct: "product",
  UpdateProduct: "product",
  DeleteProduct: "product",
};

/** A field that failed validation, named by its path in the request ("price"). */
export interface FieldError {
  field: string;
  message: string;
}

/** Every failed field of a zod error, in the order zod found them. */
export function fieldErrorsOf(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({
    field: issue.path.length > 0 ? issue.path.join(".") : "(request)",
    message: issue.message,
  }));
}
