/**
 * Test fixture: the small catalog the worker's unit tests decide against,
 * a Toys and a Games category and a Kite in Toys, with fixed ids.
 */
import type { CategoryState, ProductState } from "./decide.ts";

export const toysId = "0a4f0c1e-1b1a-4c3e-9a57-3f0a1d1f7a01";
export const gamesId = "0a4f0c1e-1b1a-4c3e-9a57-3f0a1d1f7a02";
export const kiteId = "0a4f0c1e-1b1a-4c3e-9a57-3f0a1d1f7a03";
/** An id nothing has. */
export const missingId = "0a4f0c1e-1b1a-4c3e-9a57-3f0a1d1f7aff";

export const toys: CategoryState = { id: toysId, name: "Toys", version: 1 };
export const games: CategoryState = { id: gamesId, name: "Games", version: 3 };
export const kite: ProductState = {
  id: kiteId,
  name: "Kite",
  price: "19.99",
  categoryId: toysId,
  version: 2,
};
