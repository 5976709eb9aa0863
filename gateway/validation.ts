import { GraphQLError } from "graphql";
import type { FieldError, Page } from "@catalog/proto";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * An id as the services spell it (a lowercase UUID), or undefined if it
 * cannot name an entity at all: such ids are answered as "no such entity".
 */
export function uuidOf(id: string): string | undefined {
  return UUID.test(id) ? id.toLowerCase() : undefined;
}

/** The error of arguments the gateway refuses before calling any service. */
export function invalidArguments(fields: FieldError[]): GraphQLError {
  const detail = fields.map((field) => `${field.field}: ${field.message}`).join("; ");
  return new GraphQLError(`Cannot run the request: ${detail}`, {
    extensions: { code: "INVALID_ARGUMENT", fields },
  });
}

/**
 * Longest searchTerm of searchProducts: the longest name a product may have,
 * since a longer term cannot be part of any name. The query service refuses
 * a longer nameContains too.
 */
export const MAX_PRODUCT_SEARCH_LENGTH = 200;

/** Longest searchTerm of searchCategories: the longest name a category may have. */
export const MAX_CATEGORY_SEARCH_LENGTH = 100;

/**
 * A search term as given, if it is at most maxLength characters.
 *
 * @throws {GraphQLError} INVALID_ARGUMENT naming searchTerm if it is longer.
 */
export function searchTermOf(searchTerm: string, maxLength: number): string {
  if (searchTerm.length > maxLength) {
    throw invalidArguments([
      { field: "searchTerm", message: `Must be at most ${maxLength} characters` },
    ]);
  }
  return searchTerm;
}

/** Largest page a paginated query serves. */
export const MAX_PER_PAGE = 100;

/**
 * The page of a paginated query; an explicit null takes the default.
 *
 * @throws {GraphQLError} INVALID_ARGUMENT unless page ≥ 1 and 1 ≤ perPage ≤ 100.
 */
export function pageOf(args: { page?: number | null; perPage?: number | null }): Page {
  const page = args.page ?? 1;
  const perPage = args.perPage ?? 10;
  const fields: FieldError[] = [];
  if (page < 1) fields.push({ field: "page", message: "Must be at least 1" });
  if (perPage < 1 || perPage > MAX_PER_PAGE) {
    fields.push({ field: "perPage", message: `Must be from 1 to ${MAX_PER_PAGE}` });
  }
  if (fields.length > 0) throw invalidArguments(fields);
  return { page, perPage };
}

/**
 * The decimal-string bounds of a price range.
 *
 * @throws {GraphQLError} INVALID_ARGUMENT if a bound is negative or minPrice exceeds maxPrice.
 */
export function priceRangeOf(args: { minPrice: number; maxPrice: number }): {
  minPrice: string;
  maxPrice: string;
} {
  const fields: FieldError[] = [];
  if (args.minPrice < 0) fields.push({ field: "minPrice", message: "Must not be negative" });
  if (args.maxPrice < 0) fields.push({ field: "maxPrice", message: "Must not be negative" });
  if (args.minPrice > args.maxPrice) {
    fields.push({ field: "minPrice", message: "Must not exceed maxPrice" });
  }
  if (fields.length > 0) throw invalidArguments(fields);
  return { minPrice: decimalOf(args.minPrice), maxPrice: decimalOf(args.maxPrice) };
}

/**
 * A GraphQL Float as the decimal string the services expect, through the
 * shortest representation that reads back as the same number (19.99 → "19.99").
 * Never through arithmetic: 19.99 * 100 is 1998.9999999999998. A value that is
 * not a plain decimal ("1e-7") is left for the services to refuse.
 */
export function decimalOf(value: number): string {
  return String(value);
}

/** A decimal string from a service as a GraphQL Float; null for an empty one. */
export function floatOf(decimal: string): number | null {
  return decimal === "" ? null : Number(decimal);
}
