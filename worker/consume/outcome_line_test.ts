import assert from "node:assert/strict";
import { commandEnvelope } from "../_testing.ts";
import { commandLabel, outcomeLine, shortId } from "./outcome_line.ts";

const envelope = commandEnvelope(
  "CreateCategory",
  "0b5c3e0e-2f6a-4d8e-9a51-8d7e3c1b2a40",
  { name: "Toys" },
  { commandId: "3f2a9c1e-7b44-4c1e-a1d3-5e6f7a8b9c0d" },
);

Deno.test("shortId() keeps the first 8 characters of a longer id", () => {
  assert.equal(shortId("3f2a9c1e-7b44-4c1e"), "3f2a9c1e…");
  assert.equal(shortId("m-1"), "m-1");
  assert.equal(shortId("12345678"), "12345678");
});

Deno.test("commandLabel() names the type and the short command id", () => {
  assert.equal(commandLabel(envelope), "CreateCategory 3f2a9c1e…");
});

Deno.test("outcomeLine() says what became of an applied, a rejected and a duplicate command", () => {
  assert.equal(
    outcomeLine(envelope, { status: "APPLIED", events: [] }),
    "applied CreateCategory 3f2a9c1e… (category 0b5c3e0e…)",
  );
  assert.equal(
    outcomeLine(envelope, {
      status: "REJECTED",
      rejection: { code: "CATEGORY_NAME_TAKEN", message: 'Category "Toys" already exists' },
    }),
    'rejected CreateCategory 3f2a9c1e…: CATEGORY_NAME_TAKEN Category "Toys" already exists',
  );
  assert.equal(
    outcomeLine(envelope, {
      status: "DUPLICATE",
      previous: { status: "APPLIED", code: "" },
    }),
    "skipped CreateCategory 3f2a9c1e…: already applied",
  );
});
