import assert from "node:assert/strict";
import { compareDecimals, containsPattern, isDecimal, pageWindow, uuidErrors } from "./filters.ts";

Deno.test("containsPattern() takes LIKE wildcards and backslashes literally", () => {
  assert.equal(containsPattern("desk"), "%desk%");
  assert.equal(containsPattern("100%_off\\"), "%100\\%\\_off\\\\%");
});

Deno.test("pageWindow() counts pages from 1 and treats 0 as the first", () => {
  assert.deepEqual(pageWindow({ page: 1, perPage: 10 }).window, { limit: 10, offset: 0 });
  assert.deepEqual(pageWindow({ page: 0, perPage: 10 }).window, { limit: 10, offset: 0 });
  assert.deepEqual(pageWindow({ page: 3, perPage: 10 }).window, { limit: 10, offset: 20 });
});

Deno.test("pageWindow() gives everything when perPage is 0 or the page is absent", () => {
  assert.deepEqual(pageWindow({ page: 4, perPage: 0 }).window, { limit: undefined, offset: 0 });
  assert.deepEqual(pageWindow(undefined), { window: { limit: undefined, offset: 0 }, errors: [] });
});

Deno.test("pageWindow() rejects negative numbers", () => {
  assert.deepEqual(pageWindow({ page: -1, perPage: -5 }).errors, [
    { field: "page.page", message: "Must not be negative" },
    { field: "page.perPage", message: "Must not be negative" },
  ]);
});

Deno.test("pageWindow() refuses a page larger than maxPerPage, and takes one that size", () => {
  assert.deepEqual(pageWindow({ page: 1, perPage: 1001 }, 1000).errors, [
    { field: "page.perPage", message: "Must be at most 1000" },
  ]);
  assert.deepEqual(pageWindow({ page: 2, perPage: 1000 }, 1000), {
    window: { limit: 1000, offset: 1000 },
    errors: [],
  });
  // Unpaged is no page: the list's own limit applies to it.
  assert.deepEqual(pageWindow({ page: 1, perPage: 0 }, 1000).errors, []);
});

Deno.test("uuidErrors() names each id that is not a UUID by its position", () => {
  assert.deepEqual(
    uuidErrors("ids", ["7C9E6679-7425-40DE-944B-E07FC1F90AE7", "nope", ""]),
    [{ field: "ids[1]", message: "Must be a UUID" }, {
      field: "ids[2]",
      message: "Must be a UUID",
    }],
  );
});

Deno.test("isDecimal() accepts plain non-negative decimals only", () => {
  for (const text of ["0", "10", "10.5", "19.99", "0.001"]) assert.ok(isDecimal(text), text);
  for (const text of ["", "-1", "1e3", "abc", "1.", ".5", "NaN"]) assert.ok(!isDecimal(text), text);
});

Deno.test("compareDecimals() compares by value, not by text", () => {
  assert.equal(compareDecimals("10", "9.99"), 1);
  assert.equal(compareDecimals("9.5", "9.50"), 0);
  assert.equal(compareDecimals("007.1", "7.09"), 1);
  assert.equal(compareDecimals("0.001", "0.01"), -1);
  assert.equal(compareDecimals("999999.99", "1000000"), -1);
});
