import assert from "node:assert/strict";
import { commandPayloads, hasControlCharacters, idempotencyKey } from "./commands.ts";
import { MalformedCommandError, parseCommandEnvelope } from "./envelope.ts";

const categoryId = "0b1d6a8e-3c2f-4e4b-9f0a-1d2c3b4a5f60";

Deno.test("hasControlCharacters() finds C0, DEL and C1, and nothing else", () => {
  for (const code of [0x00, 0x01, 0x09, 0x0a, 0x0d, 0x1b, 0x1f, 0x7f, 0x80, 0x85, 0x9f]) {
    assert.equal(hasControlCharacters(`a${String.fromCharCode(code)}b`), true, `U+${code}`);
  }
  for (const text of ["Desk lamp", "Küche & Bad", "50% off", "\u00a0", "\u00a0\u2028", "🪁"]) {
    assert.equal(hasControlCharacters(text), false, JSON.stringify(text));
  }
});

Deno.test("commandPayloads refuse a control character in every string field, naming it", () => {
  const nul = "\u0000";
  const cases: [keyof typeof commandPayloads, Record<string, unknown>, string][] = [
    ["CreateCategory", { name: `Toys${nul}` }, "name"],
    ["UpdateCategory", { id: categoryId, name: `To\u001bys` }, "name"],
    ["UpdateCategory", { id: `${categoryId}${nul}`, name: "Toys" }, "id"],
    ["DeleteCategory", { id: nul }, "id"],
    ["CreateProduct", { name: "Kite", price: `1${nul}`, categoryId }, "price"],
    [
      "CreateProduct",
      { name: "Kite", price: "1", categoryId: `\u0085${categoryId}` },
      "categoryId",
    ],
    ["UpdateProduct", { id: categoryId, name: `Ki\u007fte` }, "name"],
    ["DeleteProduct", { id: `${categoryId}\u009f` }, "id"],
  ];
  for (const [type, payload, field] of cases) {
    const result = commandPayloads[type].safeParse(payload);
    assert.equal(result.success, false, `${type} ${JSON.stringify(payload)}`);
    assert.deepEqual(
      result.error?.issues.map((issue) => [issue.path.join("."), issue.message]),
      [[field, "Must not contain control characters"]],
      `${type} ${JSON.stringify(payload)}`,
    );
  }
});

Deno.test("idempotencyKey refuses control characters and more than 200 characters, as given", () => {
  assert.equal(idempotencyKey.parse(" key-1 "), " key-1 ");
  assert.equal(idempotencyKey.safeParse("a".repeat(200)).success, true);
  assert.deepEqual(
    idempotencyKey.safeParse("a".repeat(201)).error?.issues.map((issue) => issue.message),
    ["Must be at most 200 characters"],
  );
  for (const key of ["key\u0000", "key\n", "\tkey", "key\u0080"]) {
    assert.deepEqual(
      idempotencyKey.safeParse(key).error?.issues.map((issue) => issue.message),
      ["Must not contain control characters"],
      JSON.stringify(key),
    );
  }
});

Deno.test("parseCommandEnvelope() refuses a payload or idempotency key with a control character", () => {
  const envelope = {
    schemaVersion: 1,
    commandId: crypto.randomUUID(),
    type: "CreateCategory",
    aggregateType: "category",
    aggregateId: crypto.randomUUID(),
    payload: { name: "Toys" },
    issuedAt: "2025-01-01T00:00:00.000Z",
    actor: "alice",
    correlationId: "c-1",
  };
  const body = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  assert.deepEqual(parseCommandEnvelope(body(envelope)).payload, { name: "Toys" });
  assert.throws(
    () => parseCommandEnvelope(body({ ...envelope, payload: { name: "To\u0000ys" } })),
    (error: unknown) => {
      assert.ok(error instanceof MalformedCommandError);
      assert.match(error.message, /^Cannot read CreateCategory payload: .*control characters/);
      return true;
    },
  );
  assert.throws(
    () => parseCommandEnvelope(body({ ...envelope, idempotencyKey: "k\u0000" })),
    /^MalformedCommandError: Cannot read command: .*control characters.*idempotencyKey/,
  );
});
