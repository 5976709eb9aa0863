import assert from "node:assert/strict";
import { fieldErrorsMetadataKey, grpc } from "@catalog/proto";
import { serviceError, testGateway } from "./_testing.ts";

const PAGE = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor } totalCount";

function catalog() {
  const setup = testGateway();
  const books = setup.backends.addCategory("Books");
  const toys = setup.backends.addCategory("Toys");
  const products = [
    setup.backends.addProduct("Kite", "19.99", toys.id),
    setup.backends.addProduct("Yo-yo", "3.50", toys.id),
    setup.backends.addProduct("Novel", "12.00", books.id),
    setup.backends.addProduct("Atlas", "30.00", books.id),
  ];
  return { ...setup, books, toys, products };
}

interface ProductsConnection {
  productsConnection: {
    edges: { cursor: string; node: { name: string; category: { name: string } } }[];
    nodes: { name: string }[];
    pageInfo: {
      hasNextPage: boolean;
      hasPreviousPage: boolean;
      startCursor: string | null;
      endCursor: string | null;
    };
    totalCount: number;
  };
}

Deno.test("productsConnection sends its arguments to PageProducts, prices as decimal strings", async () => {
  const { backends, gqlData, toys } = catalog();
  await gqlData(
    `query ($categoryId: ID) {
      productsConnection(
        first: 5
        after: "c:x"
        filter: { categoryId: $categoryId, minPrice: 3.5, maxPrice: 19.99, nameContains: "o" }
        orderBy: { field: PRICE, direction: DESC }
      ) { totalCount }
    }`,
    { categoryId: toys.id },
  );
  assert.deepEqual(backends.callsOf("PageProducts")[0]!.request, {
    first: 5,
    after: "c:x",
    sort: "PRICE",
    direction: "DESC",
    filter: { categoryId: toys.id, minPrice: "3.5", maxPrice: "19.99", nameContains: "o" },
  });
  await gqlData("{ productsConnection { totalCount } }");
  assert.deepEqual(backends.callsOf("PageProducts")[1]!.request, {
    first: 20,
    after: "",
    sort: "",
    direction: "",
    filter: {},
  });
});

Deno.test("productsConnection pages with cursors and loads the categories in one call", async () => {
  const { backends, gqlData, products } = catalog();
  const query = `query ($after: String) {
    productsConnection(first: 3, after: $after) {
      edges { cursor node { name category { name } } } nodes { name } ${PAGE}
    }
  }`;
  const first = await gqlData<ProductsConnection>(query);
  const page = first.productsConnection;
  assert.deepEqual(page.nodes.map((node) => node.name), ["Atlas", "Kite", "Novel"]);
  assert.deepEqual(page.edges.map((edge) => edge.node.category.name), ["Books", "Toys", "Books"]);
  assert.deepEqual(page.pageInfo, {
    hasNextPage: true,
    hasPreviousPage: false,
    startCursor: page.edges[0]!.cursor,
    endCursor: page.edges[2]!.cursor,
  });
  assert.equal(page.totalCount, products.length);
  // The names come with the products' rows; other fields of the categories cost one call.
  assert.equal(backends.callsOf("GetCategories").length, 0);
  const versions = await gqlData<{
    productsConnection: { nodes: { category: { name: string; version: number } }[] };
  }>("{ productsConnection(first: 3) { nodes { category { name version } } } }");
  assert.deepEqual(
    versions.productsConnection.nodes.map((node) => node.category),
    [{ name: "Books", version: 1 }, { name: "Toys", version: 1 }, { name: "Books", version: 1 }],
  );
  assert.equal(backends.callsOf("GetCategories").length, 1);

  const second = await gqlData<ProductsConnection>(query, { after: page.pageInfo.endCursor });
  assert.deepEqual(second.productsConnection.nodes.map((node) => node.name), ["Yo-yo"]);
  assert.equal(second.productsConnection.pageInfo.hasNextPage, false);
  assert.equal(second.productsConnection.pageInfo.hasPreviousPage, true);
});

Deno.test("productsConnection answers null cursors for an empty page", async () => {
  const { gqlData } = catalog();
  const data = await gqlData<ProductsConnection>(
    `{ productsConnection(filter: { nameContains: "zzz" }) { nodes { name } ${PAGE} } }`,
  );
  assert.deepEqual(data.productsConnection, {
    nodes: [],
    pageInfo: { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null },
    totalCount: 0,
  });
});

Deno.test("productsConnection passes on the query service's INVALID_ARGUMENT with its fields", async () => {
  const { backends, gql } = catalog();
  const fields = [{ field: "after", message: "Must be a cursor this list gave" }];
  backends.failures.set(
    "PageProducts",
    serviceError(
      grpc.status.INVALID_ARGUMENT,
      "Cannot page products: after: Must be a cursor this list gave",
      { [fieldErrorsMetadataKey]: JSON.stringify(fields) },
    ),
  );
  const result = await gql('{ productsConnection(after: "nope") { totalCount } }');
  assert.equal(result.data, null);
  assert.equal(
    result.errors?.[0]?.message,
    "Cannot page products: after: Must be a cursor this list gave",
  );
  assert.deepEqual(result.errors?.[0]?.extensions, { code: "INVALID_ARGUMENT", fields });
});

Deno.test("categoriesConnection pages, filters by name and loads products in one call", async () => {
  const { backends, gqlData } = catalog();
  backends.addCategory("Garden");
  const data = await gqlData<{
    categoriesConnection: {
      nodes: { name: string; products: { name: string }[] }[];
      pageInfo: { hasNextPage: boolean };
      totalCount: number;
    };
  }>(
    `{ categoriesConnection(first: 2, orderBy: { field: NAME, direction: DESC }) {
      nodes { name products { name } } pageInfo { hasNextPage } totalCount } }`,
  );
  assert.deepEqual(data.categoriesConnection, {
    nodes: [
      { name: "Toys", products: [{ name: "Kite" }, { name: "Yo-yo" }] },
      { name: "Garden", products: [] },
    ],
    pageInfo: { hasNextPage: true },
    totalCount: 3,
  });
  assert.equal(backends.callsOf("ListProducts").length, 1);
  await gqlData('{ categoriesConnection(filter: { nameContains: "oo" }) { totalCount } }');
  assert.deepEqual(backends.callsOf("PageCategories").map((call) => call.request), [
    { first: 2, after: "", sort: "NAME", direction: "DESC", filter: {} },
    { first: 20, after: "", sort: "", direction: "", filter: { nameContains: "oo" } },
  ]);
});

Deno.test("product(id) and productExists(id) of one request share one GetProducts call", async () => {
  const { backends, gqlData, products } = catalog();
  const [kite, yoyo] = products;
  const data = await gqlData(
    `query ($a: ID!, $b: ID!) {
      a: product(id: $a) { name } b: product(id: $b) { name } c: productExists(id: $a)
    }`,
    { a: kite!.id, b: yoyo!.id },
  );
  assert.deepEqual(data, { a: { name: "Kite" }, b: { name: "Yo-yo" }, c: true });
  const lookups = backends.callsOf("GetProducts");
  assert.equal(lookups.length, 1);
  assert.deepEqual((lookups[0]!.request as { ids: string[] }).ids, [kite!.id, yoyo!.id]);
});
