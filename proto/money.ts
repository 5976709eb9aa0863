/**
 * Money crosses every boundary as a decimal string with two places ("19.90")
 * and is computed in integer cents; it is never a binary float inside the
 * system.
 */

/** The smallest and largest prices a product may have, in cents. */
export const MIN_PRICE_CENTS = 1;
export const MAX_PRICE_CENTS = 99_999_999;

const DECIMAL = /^(\d{1,12})(?:\.(\d{1,2}))?$/;

/** Parses "19.9" or "19.90" into 1990 cents; undefined if it is not such a decimal. */
export function parseCents(text: string): number | undefined {
  const match = DECIMAL.exec(text);
  if (!match) return undefined;
  const whole = Number(match[1]);
  const fraction = Number((match[2] ?? "").padEnd(2, "0"));
  return whole * 100 + fraction;
}

/** Formats 1990 cents as "19.90". */
export function formatCents(cents: number): string {
  if (!Number.isSafeInteger(cents) || cents < 0) {
    throw new RangeError(`Cannot format cents: ${cents} is not a non-negative integer`);
  }
  const whole = Math.floor(cents / 100);
  const fraction = String(cents % 100).padStart(2, "0");
  return `${whole}.${fraction}`;
}
