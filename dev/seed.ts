import { graphql } from "./graphql.ts";

/** The demo catalog: a handful of categories and their products. */
export const demoCatalog: { category: string; products: { name: string; price: number }[] }[] = [
  {
    category: "Electronics",
    products: [
      { name: "Wireless Headphones", price: 89.99 },
      { name: "USB-C Charger", price: 24.5 },
      { name: "Mechanical Keyboard", price: 129 },
    ],
  },
  {
    category: "Books",
    products: [
      { name: "Domain-Driven Design", price: 54.95 },
      { name: "Designing Data-Intensive Applications", price: 45.99 },
    ],
  },
  {
    category: "Home & Kitchen",
    products: [
      { name: "French Press", price: 32 },
      { name: "Cast Iron Skillet", price: 39.9 },
    ],
  },
  { category: "Garden", products: [] },
];

/**
 * Loads the demo catalog through the public API. Every mutation carries an
 * idempotency key, so running it again adds nothing. Answers how many
 * categories and products the catalog holds afterwards.
 */
export async function seedDemoData(
  graphqlUrl: string,
  token: string,
): Promise<{ categories: number; products: number }> {
  const asWriter = { token };
  for (const { category, products } of demoCatalog) {
    const created = await graphql<{ createCategory: { id: string } }>(
      graphqlUrl,
      `mutation ($name: String!, $key: String!) {
        createCategory(input: { name: $name }, idempotencyKey: $key) { id }
      }`,
      { name: category, key: `demo:category:${category}` },
      asWriter,
    );
    const categoryId = created.data?.createCategory.id;
    if (!categoryId) {
      throw new Error(`Cannot seed category "${category}": ${JSON.stringify(created.errors)}`);
    }
    for (const product of products) {
      const result = await graphql(
        graphqlUrl,
        `mutation ($name: String!, $price: Float!, $categoryId: ID!, $key: String!) {
          createProduct(input: { name: $name, price: $price, categoryId: $categoryId },
                        idempotencyKey: $key) { id }
        }`,
        { ...product, categoryId, key: `demo:product:${category}:${product.name}` },
        asWriter,
      );
      if (result.errors) {
        throw new Error(`Cannot seed product "${product.name}": ${JSON.stringify(result.errors)}`);
      }
    }
  }
  const totals = await graphql<{
    categoryStatistics: { totalCount: number };
    productStatistics: { totalCount: number };
  }>(graphqlUrl, "{ categoryStatistics { totalCount } productStatistics { totalCount } }");
  return {
    categories: totals.data?.categoryStatistics.totalCount ?? 0,
    products: totals.data?.productStatistics.totalCount ?? 0,
  };
}
