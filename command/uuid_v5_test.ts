import assert from "node:assert/strict";
import { COMMAND_ID_NAMESPACE, DNS_NAMESPACE, uuidV5 } from "./uuid_v5.ts";

Deno.test("uuidV5() matches the published vector for www.example.com", async () => {
  assert.equal(
    await uuidV5("www.example.com", DNS_NAMESPACE),
    "2ed6657d-e927-568b-95e1-2665a8aea6a2",
  );
});

Deno.test("uuidV5() matches the published vector for python.org", async () => {
  assert.equal(
    await uuidV5("python.org", DNS_NAMESPACE),
    "886313e1-3b8a-5372-9b90-0c9aee199e5d",
  );
});

Deno.test("uuidV5() accepts an upper-case namespace", async () => {
  assert.equal(
    await uuidV5("www.example.com", DNS_NAMESPACE.toUpperCase()),
    "2ed6657d-e927-568b-95e1-2665a8aea6a2",
  );
});

Deno.test("uuidV5() gives the same id for the same name and a different one otherwise", async () => {
  const first = await uuidV5("CreateCategory:key-1", COMMAND_ID_NAMESPACE);
  assert.equal(await uuidV5("CreateCategory:key-1", COMMAND_ID_NAMESPACE), first);
  assert.notEqual(await uuidV5("CreateCategory:key-2", COMMAND_ID_NAMESPACE), first);
  assert.notEqual(await uuidV5("CreateProduct:key-1", COMMAND_ID_NAMESPACE), first);
  assert.match(first, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

Deno.test("uuidV5() hashes names as UTF-8", async () => {
  assert.notEqual(
    await uuidV5("Caf\u00e9", COMMAND_ID_NAMESPACE),
    await uuidV5("Cafe\u0301", COMMAND_ID_NAMESPACE),
  );
});

Deno.test("uuidV5() rejects a namespace that is not a UUID", async () => {
  await assert.rejects(() => uuidV5("x", "not-a-uuid"), TypeError);
});
