import assert from "node:assert/strict";
import {
  buildClientSchema,
  buildSchema,
  getIntrospectionQuery,
  type IntrospectionQuery,
  printSchema,
} from "graphql";
import { testConfig, testGateway } from "./_testing.ts";
import { introspectionBounds } from "./introspection.ts";
import { typeDefs } from "./schema.ts";

/** The standard introspection query with every option graphql-js offers, as the tools send it. */
const fullIntrospection = getIntrospectionQuery({
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
  oneOf: true,
});

Deno.test("the gateway answers the standard introspection query, and the schema it reads is the gateway's own", async () => {
  const { gql, backends } = testGateway({ token: null });
  const result = await gql<IntrospectionQuery>(fullIntrospection);
  assert.equal(result.errors, undefined, JSON.stringify(result.errors));
  assert.ok(result.data);
  const read = printSchema(buildClientSchema(result.data));
  assert.equal(read, printSchema(buildSchema(typeDefs)));
  // Reading the schema touches no backend.
  assert.deepEqual(backends.calls, []);
});

Deno.test("the gateway answers GraphiQL's introspection query of graphql-js's defaults", async () => {
  const { gql } = testGateway({ token: null });
  const result = await gql<IntrospectionQuery>(getIntrospectionQuery());
  assert.equal(result.errors, undefined, JSON.stringify(result.errors));
  assert.ok(result.data?.__schema.types.some((type) => type.name === "Product"));
});

Deno.test("with introspection off, reading the schema is refused with INTROSPECTION_DISABLED", async () => {
  const { gql } = testGateway({ config: { ...testConfig, introspection: false } });
  for (const query of [fullIntrospection, '{ __type(name: "Product") { name } }']) {
    const result = await gql(query);
    assert.equal(result.data, undefined);
    assert.deepEqual(result.errors?.map((error) => [error.extensions?.code, error.message]), [[
      "INTROSPECTION_DISABLED",
      "Cannot read the schema: introspection is turned off on this gateway",
    ]]);
  }
  // __typename is no reading of the schema.
  assert.deepEqual(await gql("{ __typename }"), { data: { __typename: "Query" } });
});

/** Nests `inner` in n levels of `ofType { kind ... }`. */
function ofTypes(n: number, inner = "name"): string {
  return n === 0 ? inner : `ofType { kind ${ofTypes(n - 1, inner)} }`;
}

Deno.test("reading the schema is bounded: __schema twice, lists nested past the standard query, a long ofType chain", async () => {
  const { gql } = testGateway({ token: null });
  const refusals: [string, string][] = [
    [
      "{ a: __schema { queryType { name } } b: __schema { queryType { name } } }",
      "Cannot read the schema: it reads __schema 2 times, at most 1 allowed",
    ],
    [
      "query Q { ...A ...B } fragment A on Query { __schema { queryType { name } } } " +
      "fragment B on Query { __schema { mutationType { name } } }",
      "Cannot read the schema: it reads __schema 2 times, at most 1 allowed",
    ],
    [
      `{ ${
        Array.from({ length: introspectionBounds.typeReads + 1 }, (_, i) =>
          `t${i}: __type(name: "Product") { name }`).join(" ")
      } }`,
      `Cannot read the schema: it reads __type ${
        introspectionBounds.typeReads + 1
      } times, at most ${introspectionBounds.typeReads} allowed`,
    ],
    [
      "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }",
      "Cannot read the schema: it nests 4 lists of the schema, at most 3 allowed",
    ],
    [
      "query Q { __schema { types { ...F } } } fragment F on __Type { fields { type { ...G } } } " +
      "fragment G on __Type { fields { args { name } } }",
      "Cannot read the schema: it nests 4 lists of the schema, at most 3 allowed",
    ],
    [
      `{ __schema { types { ${ofTypes(10)} } } }`,
      "Cannot read the schema: it follows ofType 10 times, at most 9 allowed",
    ],
  ];
  for (const [query, message] of refusals) {
    const result = await gql(query);
    assert.equal(result.data, undefined, query);
    // graphql-js's own MaxIntrospectionDepthRule may add its word on `fields` nested thrice.
    assert.deepEqual(
      result.errors?.filter((error) => error.message !== "Maximum introspection depth exceeded")
        .map((error) => [error.extensions?.code, error.message]),
      [["MAX_INTROSPECTION", message]],
      query,
    );
  }
  // The standard query's own chain passes.
  const nine = await gql(`{ __schema { types { ${ofTypes(9)} } } }`);
  assert.equal(nine.errors, undefined, JSON.stringify(nine.errors));
});

Deno.test("reading the schema beside data leaves the data limits as they are", async () => {
  const { gql } = testGateway({ token: null });
  const costly = await gql(
    "{ __schema { queryType { name } } " +
      "categories { products { category { products { category { products { id } } } } } } }",
  );
  assert.deepEqual(costly.errors?.map((error) => error.extensions?.code), ["MAX_COST"]);
  const deep = await gql(
    "{ __schema { queryType { name } } categories { products { category { products { category " +
      "{ products { category { products { id } } } } } } } } }",
  );
  assert.ok(deep.errors?.some((error) => error.extensions?.code === "MAX_DEPTH"));
  const aliased = await gql(
    `{ __schema { queryType { name } } ${
      Array.from({ length: 31 }, (_, i) => `c${i}: categoryExists(id: "x")`).join(" ")
    } }`,
  );
  assert.deepEqual(aliased.errors?.map((error) => error.extensions?.code), ["MAX_ALIASES"]);
});
