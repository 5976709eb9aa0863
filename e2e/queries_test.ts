import assert from "node:assert/strict";
import { withSystem, writerToken } from "@catalog/testkit";
import { demoCatalog, seedDemoData } from "@catalog/dev";

interface Category {
  id: string;
  name: string;
}
interface Product {
  id: string;
  name: string;
  price: number;
  category: Category | null;
}

const demoProducts = demoCatalog.flatMap(({ category, products }) =>
  products.map((product) => ({ ...product, category }))
);

Deno.test("the seed's queries answer with the demo data through HTTP", async (t) => {
  await withSystem(async ({ stack, gql, data }) => {
    const seeded = await seedDemoData(stack.graphqlUrl, writerToken);
    assert.deepEqual(seeded, { categories: demoCatalog.length, products: demoProducts.length });

    const { categories } = await data<{ categories: (Category & { products: Product[] })[] }>(
      "{ categories { id name createdAt updatedAt products { id name } } }",
    );
    const byName = new Map(categories.map((category) => [category.name, category]));
    const electronics = byName.get("Electronics")!;
    const { products } = await data<{ products: (Product & { categoryId: string })[] }>(
      "{ products { id name price categoryId category { id name } } }",
    );
    const headphones = products.find((product) => product.name === "Wireless Headphones")!;

    await t.step("GET /health answers the seed's shape", async () => {
      const response = await fetch(`http://localhost:${stack.ports.gateway}/health`);
      const body = await response.json();
      assert.equal(response.status, 200);
      assert.equal(body.status, "healthy");
      assert.equal(body.service, "gateway");
      assert.equal(typeof body.version, "string");
      assert.ok(!Number.isNaN(Date.parse(body.timestamp)));
    });

    await t.step("GET /ready answers 200 when both gRPC backends serve", async () => {
      const response = await fetch(`http://localhost:${stack.ports.gateway}/ready`);
      await response.body?.cancel();
      assert.equal(response.status, 200);
    });

    await t.step("{ categories { id name } } lists the demo categories", async () => {
      const result = await gql<{ categories: Category[] }>("{ categories { id name } }");
      assert.equal(result.errors, undefined);
      assert.deepEqual(
        result.data!.categories.map((category) => category.name).sort(),
        demoCatalog.map(({ category }) => category).sort(),
      );
      for (const category of result.data!.categories) {
        assert.deepEqual(Object.keys(category), ["id", "name"]);
      }
    });

    await t.step(
      "{ products { id name price category { id name } } } carries categories",
      async () => {
        const result = await gql<{ products: Product[] }>(
          "{ products { id name price category { id name } } }",
        );
        assert.equal(result.errors, undefined);
        const got = result.data!.products.map((product) => ({
          name: product.name,
          price: product.price,
          category: product.category?.name,
        }));
        assert.deepEqual(
          got.sort((a, b) => a.name.localeCompare(b.name)),
          demoProducts.map(({ name, price, category }) => ({ name, price, category }))
            .sort((a, b) => a.name.localeCompare(b.name)),
        );
        assert.equal(typeof result.data!.products[0]!.price, "number");
      },
    );

    await t.step("the combined seed query answers both lists at once", async () => {
      const result = await gql<{ categories: Category[]; products: Product[] }>(
        "{ categories { id name } products { id name price category { id name } } }",
      );
      assert.equal(result.errors, undefined);
      assert.equal(result.data!.categories.length, demoCatalog.length);
      assert.equal(result.data!.products.length, demoProducts.length);
      assert.ok(result.data!.products.every((product) => product.category !== null));
    });

    await t.step("category(id) and categoryByName(name) find one category", async () => {
      const result = await data<
        { a: Category; b: Category; c: Category | null; d: Category | null }
      >(
        `query ($id: ID!) {
          a: category(id: $id) { id name }
          b: categoryByName(name: "electronics") { id name }
          c: category(id: "00000000-0000-4000-8000-000000000000") { id }
          d: categoryByName(name: "Nope") { id }
        }`,
        { id: electronics.id },
      );
      assert.deepEqual(result.a, { id: electronics.id, name: "Electronics" });
      assert.deepEqual(result.b, { id: electronics.id, name: "Electronics" });
      assert.equal(result.c, null);
      assert.equal(result.d, null);
    });

    await t.step("Category.products lists the category's products", () => {
      assert.deepEqual(
        electronics.products.map((product) => product.name).sort(),
        demoCatalog[0]!.products.map((product) => product.name).sort(),
      );
      assert.equal(byName.get("Garden")!.products.length, 0);
      assert.ok(
        !Number.isNaN(Date.parse((electronics as unknown as { createdAt: string }).createdAt)),
      );
    });

    await t.step("searchCategories(searchTerm) matches part of a name, any case", async () => {
      const result = await data<{ searchCategories: Category[] }>(
        '{ searchCategories(searchTerm: "KITCH") { name } }',
      );
      assert.deepEqual(result.searchCategories.map((category) => category.name), [
        "Home & Kitchen",
      ]);
    });

    await t.step("categoriesPaginated(page, perPage) pages by name", async () => {
      const result = await data<{ first: Category[]; second: Category[] }>(
        `{ first: categoriesPaginated(page: 1, perPage: 3) { name }
           second: categoriesPaginated(page: 2, perPage: 3) { name } }`,
      );
      const all = demoCatalog.map(({ category }) => category).sort();
      assert.deepEqual(result.first.map((category) => category.name), all.slice(0, 3));
      assert.deepEqual(result.second.map((category) => category.name), all.slice(3));
    });

    await t.step("categoryStatistics counts categories", async () => {
      const result = await data<{ categoryStatistics: Record<string, unknown> }>(
        "{ categoryStatistics { totalCount hasCategories withProductsCount emptyCount } }",
      );
      assert.deepEqual(result.categoryStatistics, {
        totalCount: 4,
        hasCategories: true,
        withProductsCount: 3,
        emptyCount: 1,
      });
    });

    await t.step("categoryExists(id) and productExists(id) answer true and false", async () => {
      const result = await data<Record<string, boolean>>(
        `query ($category: ID!, $product: ID!) {
          a: categoryExists(id: $category) b: categoryExists(id: $product)
          c: productExists(id: $product) d: productExists(id: $category)
        }`,
        { category: electronics.id, product: headphones.id },
      );
      assert.deepEqual(result, { a: true, b: false, c: true, d: false });
    });

    await t.step("product(id) and productByName(name) find one product", async () => {
      const result = await data<{ a: Product; b: Product; c: Product | null }>(
        `query ($id: ID!) {
          a: product(id: $id) { id name price category { name } }
          b: productByName(name: "Wireless Headphones") { id }
          c: product(id: "00000000-0000-4000-8000-000000000000") { id }
        }`,
        { id: headphones.id },
      );
      assert.deepEqual(result.a, {
        id: headphones.id,
        name: "Wireless Headphones",
        price: 89.99,
        category: { name: "Electronics" },
      });
      assert.equal(result.b.id, headphones.id);
      assert.equal(result.c, null);
    });

    await t.step("searchProducts(searchTerm) matches part of a name, any case", async () => {
      const result = await data<{ searchProducts: Product[] }>(
        '{ searchProducts(searchTerm: "design") { name } }',
      );
      assert.deepEqual(result.searchProducts.map((product) => product.name).sort(), [
        "Designing Data-Intensive Applications",
        "Domain-Driven Design",
      ]);
    });

    await t.step("productsPaginated(page, perPage) pages by name", async () => {
      const result = await data<{ first: Product[]; last: Product[] }>(
        `{ first: productsPaginated(page: 1, perPage: 5) { name }
           last: productsPaginated(page: 2, perPage: 5) { name } }`,
      );
      const all = demoProducts.map((product) => product.name).sort();
      assert.deepEqual(result.first.map((product) => product.name), all.slice(0, 5));
      assert.deepEqual(result.last.map((product) => product.name), all.slice(5));
    });

    await t.step("productsByCategory(categoryId) lists one category's products", async () => {
      const result = await data<{ productsByCategory: Product[] }>(
        "query ($id: ID!) { productsByCategory(categoryId: $id) { name category { id } } }",
        { id: electronics.id },
      );
      assert.equal(result.productsByCategory.length, 3);
      assert.ok(
        result.productsByCategory.every((product) => product.category?.id === electronics.id),
      );
    });

    await t.step("productsByPriceRange(minPrice, maxPrice) is inclusive", async () => {
      const result = await data<{ productsByPriceRange: Product[] }>(
        "{ productsByPriceRange(minPrice: 32, maxPrice: 45.99) { name price } }",
      );
      assert.deepEqual(
        result.productsByPriceRange.map((product) => product.price).sort((a, b) => a - b),
        [32, 39.9, 45.99],
      );
    });

    await t.step("productStatistics sums and averages exactly", async () => {
      const result = await data<{ productStatistics: Record<string, unknown> }>(
        "{ productStatistics { totalCount hasProducts averagePrice totalValue minPrice maxPrice } }",
      );
      const cents = demoProducts.map((product) => Math.round(product.price * 100));
      const total = cents.reduce((sum, value) => sum + value, 0);
      assert.deepEqual(result.productStatistics, {
        totalCount: demoProducts.length,
        hasProducts: true,
        averagePrice: Math.round(total / cents.length) / 100,
        totalValue: total / 100,
        minPrice: 24.5,
        maxPrice: 129,
      });
    });

    await t.step(
      "a stock gRPC client lists both services by reflection and sees SERVING",
      async () => {
        const buf = async (...args: string[]) => {
          const { code, stdout, stderr } = await new Deno.Command("npx", {
            args: [
              "--yes",
              "@bufbuild/buf@1.75.0",
              "curl",
              "--protocol",
              "grpc",
              "--http2-prior-knowledge",
              ...args,
            ],
            stdout: "piped",
            stderr: "piped",
          }).output();
          assert.equal(code, 0, new TextDecoder().decode(stderr));
          return new TextDecoder().decode(stdout);
        };
        const commandMethods = await buf(
          "--list-methods",
          `http://localhost:${stack.ports.command}`,
        );
        assert.match(commandMethods, /catalog\.v1\.CommandService\/CreateProduct/);
        const queryMethods = await buf("--list-methods", `http://localhost:${stack.ports.query}`);
        assert.match(queryMethods, /catalog\.v1\.QueryService\/ListProducts/);
        for (const port of [stack.ports.command, stack.ports.query]) {
          const health = JSON.parse(
            await buf(`http://localhost:${port}/grpc.health.v1.Health/Check`),
          );
          assert.deepEqual(health, { status: "SERVING" });
        }
      },
    );

    await t.step(
      "command(id) answers null for an unknown command; entities show their version",
      async () => {
        const read = await data<{
          unknown: null;
          malformed: null;
          category: { version: number };
          product: { version: number };
        }>(
          `query ($category: ID!, $product: ID!) {
            unknown: command(id: "00000000-0000-4000-8000-0000000000aa") { id }
            malformed: command(id: "not-a-command") { id }
            category(id: $category) { version }
            product(id: $product) { version }
          }`,
          { category: electronics.id, product: headphones.id },
        );
        assert.deepEqual(read, {
          unknown: null,
          malformed: null,
          category: { version: 1 },
          product: { version: 1 },
        });
      },
    );

    await t.step("seeding again adds nothing", async () => {
      assert.deepEqual(await seedDemoData(stack.graphqlUrl, writerToken), seeded);
    });
  });
});
