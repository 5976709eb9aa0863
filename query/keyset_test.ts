import assert from "node:assert/strict";
import type { FieldError } from "@catalog/proto";
import { decodeCursor, encodeCursor, keysetArguments, pageOf } from "./keyset.ts";

const id = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

function base64Url(text: string): string {
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

Deno.test("encodeCursor() makes an opaque base64url cursor that decodeCursor() reads back", () => {
  for (
    const [sort, key] of [
      ["NAME", "Café «Ünïcode» ☕ 100%"],
      ["PRICE", "19.90"],
      ["CREATED_AT", "2025-01-01T10:00:00.123456Z"],
    ] as const
  ) {
    const cursor = encodeCursor(sort, { key, id });
    assert.match(cursor, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodeCursor(cursor, sort), { position: { key, id } });
  }
});

Deno.test("decodeCursor() refuses text that is not a cursor, saying so", () => {
  const notCursors = [
    "nope!",
    base64Url("not json"),
    base64Url('{"s":"NAME"}'),
    base64Url("[1,2]"),
    base64Url("\xff\xfe"),
  ];
  for (const cursor of notCursors) {
    const decoded = decodeCursor(cursor, "NAME");
    assert.ok("error" in decoded, cursor);
    assert.match(decoded.error, /^Must be a cursor this list gave/);
  }
});

Deno.test("decodeCursor() refuses a cursor of another sort, naming both", () => {
  const cursor = encodeCursor("PRICE", { key: "5.00", id });
  assert.deepEqual(decodeCursor(cursor, "NAME"), {
    error: "Must be a cursor of a list sorted by NAME; this one is of one sorted by PRICE",
  });
});

Deno.test("decodeCursor() refuses a key its sort cannot have, and an id that is no UUID", () => {
  const price = decodeCursor(encodeCursor("PRICE", { key: "1; drop table", id }), "PRICE");
  assert.deepEqual(price, {
    error: 'Must be a cursor this list gave: its price "1; drop table" is not a decimal',
  });
  const time = decodeCursor(encodeCursor("CREATED_AT", { key: "yesterday", id }), "CREATED_AT");
  assert.ok("error" in time && time.error.includes('"yesterday" is not an ISO-8601 UTC time'));
  const badId = decodeCursor(encodeCursor("NAME", { key: "a", id: "42" }), "NAME");
  assert.deepEqual(badId, { error: "Must be a cursor this list gave: its id is not a UUID" });
});

Deno.test("keysetArguments() takes 20 rows by name, ascending, by default", () => {
  const errors: FieldError[] = [];
  assert.deepEqual(keysetArguments({}, ["NAME", "PRICE"], errors), {
    limit: 20,
    sort: "NAME",
    descending: false,
    after: undefined,
  });
  assert.deepEqual(errors, []);
  const args = keysetArguments(
    { first: 0, sort: "PRICE", direction: "DESC", after: encodeCursor("PRICE", { key: "1", id }) },
    ["NAME", "PRICE"],
    errors,
  );
  assert.deepEqual(args, { limit: 0, sort: "PRICE", descending: true, after: { key: "1", id } });
  assert.deepEqual(errors, []);
});

Deno.test("keysetArguments() names each bad argument", () => {
  const errors: FieldError[] = [];
  keysetArguments({ first: 101, sort: "PRICE", direction: "UP" }, ["NAME", "CREATED_AT"], errors);
  assert.deepEqual(errors, [
    { field: "first", message: "Must be from 0 to 100" },
    { field: "sort", message: "Must be one of NAME, CREATED_AT" },
    { field: "direction", message: "Must be ASC or DESC" },
  ]);
  const negative: FieldError[] = [];
  keysetArguments({ first: -1, after: "%%%" }, ["NAME"], negative);
  assert.deepEqual(negative.map((error) => error.field), ["first", "after"]);
});

Deno.test("pageOf() keeps limit rows and tells from the extra one that more follow", () => {
  const rows = ["a", "b", "c"].map((name, index) => ({
    id: `00000000-0000-4000-8000-00000000000${index}`,
    sort_key: name,
  }));
  const args = { limit: 2, sort: "NAME" as const, descending: false, after: undefined };
  const page = pageOf(rows, { args, hasPreviousPage: false }, (row) => row.sort_key);
  assert.deepEqual(page.edges.map((edge) => edge.node), ["a", "b"]);
  assert.equal(page.pageInfo.hasNextPage, true);
  assert.equal(page.pageInfo.startCursor, page.edges[0]!.cursor);
  assert.equal(page.pageInfo.endCursor, page.edges[1]!.cursor);
  assert.deepEqual(decodeCursor(page.pageInfo.endCursor, "NAME"), {
    position: { key: "b", id: rows[1]!.id },
  });
  const last = pageOf(rows.slice(2), { args, hasPreviousPage: true }, (row) => row.sort_key);
  assert.deepEqual(last.pageInfo.hasNextPage, false);
  assert.deepEqual(last.pageInfo.hasPreviousPage, true);
  const empty = pageOf([], { args, hasPreviousPage: false }, (row: never) => row);
  assert.deepEqual(empty.pageInfo, {
    hasNextPage: false,
    hasPreviousPage: false,
    startCursor: "",
    endCursor: "",
  });
});
