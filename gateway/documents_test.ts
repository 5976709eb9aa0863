import assert from "node:assert/strict";
import { testGateway } from "./_testing.ts";
import { COMPILE_AT_RUN } from "./documents.ts";

/** Counts the functions compiled from source (graphql-jit's `new Function`) while run runs. */
async function compiledFunctions(run: () => Promise<void>): Promise<number> {
  const original = globalThis.Function;
  let compiled = 0;
  globalThis.Function = new Proxy(original, {
    construct(target, args) {
      compiled += 1;
      return Reflect.construct(target, args);
    },
  });
  try {
    await run();
  } finally {
    globalThis.Function = original;
  }
  return compiled;
}

Deno.test("a document is compiled at its second run, never at its first", async () => {
  assert.equal(COMPILE_AT_RUN, 2);
  const { gqlData } = testGateway({ token: null });
  const document = '{ categoryExists(id: "5b1c3a52-8f0e-4a55-9d4e-0b8a2c7e6f11") }';
  const first = await compiledFunctions(async () => {
    assert.deepEqual(await gqlData(document), { categoryExists: false });
  });
  assert.equal(first, 0);
  const second = await compiledFunctions(async () => {
    assert.deepEqual(await gqlData(document), { categoryExists: false });
  });
  assert.ok(second > 0, "the second run was not compiled");
  const third = await compiledFunctions(async () => {
    assert.deepEqual(await gqlData(document), { categoryExists: false });
  });
  assert.equal(third, 0, "the third run compiled again");
});

Deno.test("one-off documents, with their values inline, are never compiled", async () => {
  const { gqlData } = testGateway({ token: null });
  const compiled = await compiledFunctions(async () => {
    for (let i = 0; i < 20; i++) {
      const id = `5b1c3a52-8f0e-4a55-9d4e-0b8a2c7e6f${String(i).padStart(2, "0")}`;
      assert.deepEqual(await gqlData(`{ productExists(id: "${id}") }`), { productExists: false });
    }
  });
  assert.equal(compiled, 0);
});
