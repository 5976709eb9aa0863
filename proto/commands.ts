import { z } from "zod";
import { formatCents, MAX_PRICE_CENTS, MIN_PRICE_CENTS, parseCents } from "./money.ts";

/**
 * The six commands and their payloads as they travel in the RabbitMQ
 * envelope. The schemas carry the domain's input rules, so the command
 * service validates with them and the worker re-reads with them.
 */

/**
 * Whether text holds a control character: C0 (U+0000 to U+001F), DEL
 * (U+007F) or C1 (U+0080 to U+009F), Unicode's category Cc. No field of a
 * command is free text that could want a line break or a tab, so every
 * string refuses them all: U+0000 above all, which PostgreSQL cannot store
 * in text and would refuse only once the command reached the worker.
 */
export function hasControlCharacters(text: string): boolean {
  return /\p{Cc}/u.test(text);
}

/** Refuses control characters, and stops checking the field if it finds one. */
const noControlCharacters = [
  (text: string) => !hasControlCharacters(text),
  { error: "Must not contain control characters", abort: true },
] as const;

export const entityId = z.string()
  .refine(...noControlCharacters)
  .pipe(z.uuid({ error: "Must be a UUID" }));

// Names are checked once trimmed: a line break around a name is trimmed
// away, one inside it is refused.
export const categoryName = z.string()
  .trim()
  .refine(...noControlCharacters)
  .min(1, { error: "Must not be empty" })
  .max(100, { error: "Must be at most 100 characters" });

export const productName = z.string()
  .trim()
  .refine(...noControlCharacters)
  .min(1, { error: "Must not be empty" })
  .max(200, { error: "Must be at most 200 characters" });

/** Longest idempotency key a client may send. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 200;

/**
 * A client's idempotency key, as it is (not trimmed: a key is compared
 * exactly), without control characters.
 */
export const idempotencyKey = z.string()
  .refine(...noControlCharacters)
  .max(MAX_IDEMPOTENCY_KEY_LENGTH, {
    error: `Must be at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`,
  });

/** A price as a decimal string; normalised to two places ("19.9" → "19.90"). */
export const price = z.string().trim().refine(...noControlCharacters).transform((text, ctx) => {
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
