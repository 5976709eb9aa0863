import assert from "node:assert/strict";
import { formatCents, parseCents } from "./money.ts";

Deno.test("parseCents() reads whole, one-place and two-place decimals", () => {
  assert.equal(parseCents("19"), 1900);
  assert.equal(parseCents("19.9"), 1990);
  assert.equal(parseCents("19.99"), 1999);
  assert.equal(parseCents("0.01"), 1);
});

Deno.test("parseCents() refuses more than two places, signs and exponents", () => {
  for (const text of ["19.999", "-1", "1e3", "", ".5", "1.", "abc", " 1"]) {
    assert.equal(parseCents(text), undefined, text);
  }
});

Deno.test("formatCents() always writes two places", () => {
  assert.equal(formatCents(1990), "19.90");
  assert.equal(formatCents(1), "0.01");
  assert.equal(formatCents(99_999_999), "999999.99");
  assert.throws(() => formatCents(1.5), RangeError);
});
