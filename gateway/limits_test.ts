import assert from "node:assert/strict";
import { testGateway, writerToken } from "./_testing.ts";

/** A list of products, each with its category's products and theirs: about 110 × perPage. */
const nestedPage = "query Nested($perPage: Int) { productsPaginated(perPage: $perPage) " +
  "{ category { products { category { products { id } } } } } }";

async function post(
  gateway: ReturnType<typeof testGateway>["gateway"],
  variables: Record<string, unknown>,
) {
  const response = await gateway.fetch(
    new Request("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${await writerToken}` },
      body: JSON.stringify({ query: nestedPage, variables }),
    }),
  );
  const body = await response.json() as { errors?: { extensions?: { code?: string } }[] };
  return { status: response.status, codes: body.errors?.map((error) => error.extensions?.code) };
}

Deno.test("limitPlugins() weighs the page size a variable gives, also for a document it has validated before", async () => {
  const { gateway, backends } = testGateway();
  assert.deepEqual(await post(gateway, { perPage: 100 }), { status: 400, codes: ["MAX_COST"] });
  // The same document with a small page is cheap; it is now parsed and validated once for all.
  assert.equal((await post(gateway, { perPage: 1 })).codes?.includes("MAX_COST"), undefined);
  const callsBefore = backends.calls.length;
  assert.deepEqual(await post(gateway, { perPage: 100 }), { status: 400, codes: ["MAX_COST"] });
  assert.equal(backends.calls.length, callsBefore, "a refused operation calls no service");
});

Deno.test("limitPlugins() refuses a costly operation without variables every time it comes", async () => {
  const { gql, backends } = testGateway();
  const costly =
    "{ categories { products { category { products { category { products { id } } } } } } }";
  for (let run = 0; run < 3; run++) {
    const result = await gql(costly);
    assert.deepEqual(result.errors?.map((error) => error.extensions?.code), ["MAX_COST"]);
    assert.match(
      result.errors?.[0]?.message ?? "",
      /^Cannot run the operation: its estimated cost \d+ exceeds 5000;/,
    );
  }
  assert.deepEqual(backends.calls, []);
});
