import assert from "node:assert/strict";
import { createCommandClient } from "@catalog/runtime";
import { eventually, withSystem, writerToken } from "@catalog/testkit";

interface Category {
  id: string;
  name: string;
  createdAt: string;
  updatedAt: string;
}
interface Product {
  id: string;
  name: string;
  price: number;
  categoryId: string;
  category: { id: string; name: string } | null;
}

const PRODUCT = "id name price categoryId category { id name }";

interface Receipt {
  commandId: string;
  type: string;
  aggregateId: string;
  status: string;
  acceptedAt: string;
}
interface Command {
  id: string;
  status: string;
  code: string | null;
  message: string | null;
  currentVersion: number | null;
  handledAt: string | null;
}

const RECEIPT = "commandId type aggregateId status acceptedAt";
const COMMAND = "id status code message currentVersion handledAt";

Deno.test("the seed's mutations apply through HTTP and enforce the domain rules", async (t) => {
  await withSystem(async ({ stack, gql, data }) => {
    const commandOf = async (id: string) =>
      (await data<{ command: Command | null }>(
        `query ($id: ID!) { command(id: $id) { ${COMMAND} } }`,
        { id },
      )).command;
    /** Polls command(id) until the worker has handled the command, and answers it. */
    const handled = async (id: string): Promise<Command> => {
      const seen: { command?: Command | null } = {};
      await eventually(`command ${id} to be handled`, async () => {
        seen.command = await commandOf(id);
        return seen.command !== null && seen.command.status !== "ACCEPTED";
      });
      return seen.command!;
    };
    const createCategory = async (name: string) =>
      (await data<{ createCategory: Category }>(
        "mutation ($name: String!) { createCategory(input: { name: $name }) { id name createdAt updatedAt } }",
        { name },
      )).createCategory;
    const createProduct = async (input: { name: string; price: number; categoryId: string }) =>
      (await data<{ createProduct: Product }>(
        `mutation ($input: CreateProductInput!) { createProduct(input: $input) { ${PRODUCT} } }`,
        { input },
      )).createProduct;

    const toys = await createCategory("  Toys  ");
    const games = await createCategory("Games");

    await t.step("createCategory(input) returns the category with a trimmed name", () => {
      assert.equal(toys.name, "Toys");
      assert.match(toys.id, /^[0-9a-f-]{36}$/);
      assert.ok(!Number.isNaN(Date.parse(toys.createdAt)));
    });

    await t.step("createProduct(input) is readable at once (read-your-writes)", async () => {
      const kite = await createProduct({ name: "Kite", price: 19.99, categoryId: toys.id });
      assert.deepEqual(kite, {
        id: kite.id,
        name: "Kite",
        price: 19.99,
        categoryId: toys.id,
        category: { id: toys.id, name: "Toys" },
      });
      const read = await data<{ product: Product; products: Product[] }>(
        `query ($id: ID!) { product(id: $id) { ${PRODUCT} } products { id } }`,
        { id: kite.id },
      );
      assert.deepEqual(read.product, kite);
      assert.ok(read.products.some((product) => product.id === kite.id));
    });

    const yoyo = await createProduct({ name: "Yo-yo", price: 3.5, categoryId: toys.id });

    await t.step("updateCategory(input) renames, and products show the new name", async () => {
      const result = await data<{ updateCategory: Category; product: Product }>(
        `mutation ($id: ID!) { updateCategory(input: { id: $id, name: "Toys & Games" }) { id name } }`,
        { id: toys.id },
      );
      assert.deepEqual(result.updateCategory, { id: toys.id, name: "Toys & Games" });
      const read = await data<{ product: Product }>(
        `query ($id: ID!) { product(id: $id) { ${PRODUCT} } }`,
        { id: yoyo.id },
      );
      assert.equal(read.product.category?.name, "Toys & Games");
    });

    await t.step("updateProduct(input) changes only the fields given", async () => {
      const priced = await data<{ updateProduct: Product }>(
        `mutation ($id: ID!) { updateProduct(input: { id: $id, price: 4.25 }) { ${PRODUCT} } }`,
        { id: yoyo.id },
      );
      assert.equal(priced.updateProduct.price, 4.25);
      assert.equal(priced.updateProduct.name, "Yo-yo");
      const moved = await data<{ updateProduct: Product }>(
        `mutation ($id: ID!, $category: ID!) {
          updateProduct(input: { id: $id, name: "Yo-yo Pro", categoryId: $category }) { ${PRODUCT} }
        }`,
        { id: yoyo.id, category: games.id },
      );
      assert.deepEqual(moved.updateProduct, {
        id: yoyo.id,
        name: "Yo-yo Pro",
        price: 4.25,
        categoryId: games.id,
        category: { id: games.id, name: "Games" },
      });
    });

    await t.step("deleteProduct(id) answers true and the product is gone", async () => {
      const result = await data<{ deleteProduct: boolean }>(
        "mutation ($id: ID!) { deleteProduct(id: $id) }",
        { id: yoyo.id },
      );
      assert.equal(result.deleteProduct, true);
      const read = await data<{ product: Product | null; productExists: boolean }>(
        "query ($id: ID!) { product(id: $id) { id } productExists(id: $id) }",
        { id: yoyo.id },
      );
      assert.deepEqual(read, { product: null, productExists: false });
    });

    await t.step("deleteCategory(id) answers true for an empty category", async () => {
      const result = await data<{ deleteCategory: boolean; categoryExists: boolean }>(
        "mutation ($id: ID!) { deleteCategory(id: $id) }",
        { id: games.id },
      );
      assert.equal(result.deleteCategory, true);
      const read = await data<{ categoryExists: boolean }>(
        "query ($id: ID!) { categoryExists(id: $id) }",
        { id: games.id },
      );
      assert.equal(read.categoryExists, false);
    });

    await t.step("a taken category name, in any case, is CATEGORY_NAME_TAKEN", async () => {
      const created = await gql(
        'mutation { createCategory(input: { name: "TOYS & games" }) { id } }',
      );
      assert.equal(created.errors?.[0]?.extensions?.code, "CATEGORY_NAME_TAKEN");
      assert.match(String(created.errors?.[0]?.extensions?.commandId), /^[0-9a-f-]{36}$/);
      const other = await createCategory("Puzzles");
      const renamed = await gql(
        'mutation ($id: ID!) { updateCategory(input: { id: $id, name: "toys & GAMES" }) { id } }',
        { id: other.id },
      );
      assert.equal(renamed.errors?.[0]?.extensions?.code, "CATEGORY_NAME_TAKEN");
    });

    await t.step("a product in an unknown category is CATEGORY_NOT_FOUND", async () => {
      const result = await gql(
        `mutation { createProduct(input: { name: "Ghost", price: 1,
          categoryId: "00000000-0000-4000-8000-000000000000" }) { id } }`,
      );
      assert.equal(result.errors?.[0]?.extensions?.code, "CATEGORY_NOT_FOUND");
      const stats = await data<{ searchProducts: Product[] }>(
        '{ searchProducts(searchTerm: "Ghost") { id } }',
      );
      assert.deepEqual(stats.searchProducts, []);
    });

    await t.step("updating or deleting an unknown id is NOT_FOUND", async () => {
      const unknown = "00000000-0000-4000-8000-000000000001";
      const results = await Promise.all([
        gql(`mutation { updateProduct(input: { id: "${unknown}", price: 2 }) { id } }`),
        gql(`mutation { deleteProduct(id: "${unknown}") }`),
        gql(`mutation { updateCategory(input: { id: "${unknown}", name: "X" }) { id } }`),
        gql(`mutation { deleteCategory(id: "${unknown}") }`),
      ]);
      for (const result of results) assert.equal(result.errors?.[0]?.extensions?.code, "NOT_FOUND");
    });

    await t.step("deleting a category that has products is CATEGORY_NOT_EMPTY", async () => {
      const result = await gql("mutation ($id: ID!) { deleteCategory(id: $id) }", { id: toys.id });
      assert.equal(result.errors?.[0]?.extensions?.code, "CATEGORY_NOT_EMPTY");
      const read = await data<{ categoryExists: boolean }>(
        "query ($id: ID!) { categoryExists(id: $id) }",
        { id: toys.id },
      );
      assert.equal(read.categoryExists, true);
    });

    await t.step("bad input is INVALID_ARGUMENT naming every offending field", async () => {
      const result = await gql(
        `mutation { createProduct(input: { name: "   ", price: 0.001, categoryId: "nope" }) { id } }`,
      );
      const error = result.errors?.[0];
      assert.equal(error?.extensions?.code, "INVALID_ARGUMENT");
      const fields = (error?.extensions?.fields as { field: string }[]).map((field) => field.field);
      assert.deepEqual(fields.sort(), ["categoryId", "name", "price"]);
      const tooLong = await gql(
        `mutation { createCategory(input: { name: "${"x".repeat(101)}" }) { id } }`,
      );
      assert.equal(tooLong.errors?.[0]?.extensions?.code, "INVALID_ARGUMENT");
      const priceRange = await gql(
        `mutation ($id: ID!) { createProduct(input: { name: "Gold", price: 1000000, categoryId: $id }) { id } }`,
        { id: toys.id },
      );
      assert.equal(priceRange.errors?.[0]?.extensions?.code, "INVALID_ARGUMENT");
    });

    await t.step(
      "the same idempotency key creates one category however often it is sent",
      async () => {
        const send = () =>
          data<{ createCategory: Category }>(
            'mutation { createCategory(input: { name: "Dolls" }, idempotencyKey: "dolls-1") { id name } }',
          );
        const [first, second] = [await send(), await send()];
        assert.equal(first.createCategory.id, second.createCategory.id);

        // The same key and request, submitted and sent straight to the command service.
        const { submitCreateCategory: receipt } = await data<{ submitCreateCategory: Receipt }>(
          `mutation { submitCreateCategory(input: { name: "Dolls" }, idempotencyKey: "dolls-1") {
            ${RECEIPT}
          } }`,
        );
        assert.equal(receipt.aggregateId, first.createCategory.id);
        const client = createCommandClient(`localhost:${stack.ports.command}`, {
          metadata: { authorization: `Bearer ${writerToken}` },
        });
        try {
          const direct = await client.CreateCategory({ name: "Dolls", idempotencyKey: "dolls-1" });
          const again = await client.CreateCategory({ name: " Dolls ", idempotencyKey: "dolls-1" });
          assert.equal(direct.commandId, receipt.commandId);
          assert.equal(again.commandId, receipt.commandId);
          assert.equal(again.aggregateId, first.createCategory.id);
        } finally {
          client.close();
        }
        assert.equal((await handled(receipt.commandId)).status, "APPLIED");
        const read = await data<{ searchCategories: Category[] }>(
          '{ searchCategories(searchTerm: "Dolls") { id } }',
        );
        assert.equal(read.searchCategories.length, 1);
      },
    );

    await t.step(
      "reusing an idempotency key for another request is IDEMPOTENCY_KEY_REUSED",
      async () => {
        const reused = await gql(
          'mutation { createCategory(input: { name: "Action figures" }, idempotencyKey: "dolls-1") { id } }',
        );
        assert.equal(reused.errors?.[0]?.extensions?.code, "IDEMPOTENCY_KEY_REUSED");
        assert.match(
          reused.errors?.[0]?.message ?? "",
          /idempotency key "dolls-1" was already used/,
        );
        const read = await data<{ searchCategories: Category[] }>(
          '{ searchCategories(searchTerm: "Action") { id } }',
        );
        assert.deepEqual(read.searchCategories, []);
      },
    );

    await t.step(
      "a stale expectedVersion is VERSION_CONFLICT with the current version; the right one applies",
      async () => {
        const shelf = await data<{ createCategory: Category & { version: number } }>(
          'mutation { createCategory(input: { name: "Shelves" }) { id version } }',
        );
        const id = shelf.createCategory.id;
        assert.equal(shelf.createCategory.version, 1);
        const rename = `mutation ($id: ID!, $name: String!, $version: Int) {
          updateCategory(input: { id: $id, name: $name, expectedVersion: $version }) { name version }
        }`;
        const renamed = await data<{ updateCategory: { name: string; version: number } }>(
          rename,
          { id, name: "Bookshelves", version: 1 },
        );
        assert.deepEqual(renamed.updateCategory, { name: "Bookshelves", version: 2 });

        const stale = await gql(rename, { id, name: "Wall shelves", version: 1 });
        const error = stale.errors?.[0];
        assert.equal(error?.extensions?.code, "VERSION_CONFLICT");
        assert.equal(error?.extensions?.currentVersion, 2);
        assert.equal(
          error?.message,
          `Cannot update category "${id}": expected version 1, but it is at version 2`,
        );
        const refused = await commandOf(String(error?.extensions?.commandId));
        assert.deepEqual(
          { status: refused?.status, code: refused?.code, currentVersion: refused?.currentVersion },
          { status: "REJECTED", code: "VERSION_CONFLICT", currentVersion: 2 },
        );
        const kept = await data<{ category: { name: string; version: number } }>(
          "query ($id: ID!) { category(id: $id) { name version } }",
          { id },
        );
        assert.deepEqual(kept.category, { name: "Bookshelves", version: 2 });

        const lamp = await createProduct({ name: "Lamp", price: 12, categoryId: id });
        const priced = await data<{ updateProduct: { price: number; version: number } }>(
          `mutation ($id: ID!) {
            updateProduct(input: { id: $id, price: 14, expectedVersion: 1 }) { price version }
          }`,
          { id: lamp.id },
        );
        assert.deepEqual(priced.updateProduct, { price: 14, version: 2 });
        const staleDelete = await gql(
          "mutation ($id: ID!) { deleteProduct(id: $id, expectedVersion: 1) }",
          { id: lamp.id },
        );
        assert.equal(staleDelete.errors?.[0]?.extensions?.code, "VERSION_CONFLICT");
        assert.equal(staleDelete.errors?.[0]?.extensions?.currentVersion, 2);
        const deleted = await data<{ deleteProduct: boolean }>(
          "mutation ($id: ID!) { deleteProduct(id: $id, expectedVersion: 2) }",
          { id: lamp.id },
        );
        assert.equal(deleted.deleteProduct, true);

        const staleCategory = await gql(
          "mutation ($id: ID!) { deleteCategory(id: $id, expectedVersion: 1) }",
          { id },
        );
        assert.equal(staleCategory.errors?.[0]?.extensions?.code, "VERSION_CONFLICT");
        const invalid = await gql(
          "mutation ($id: ID!) { deleteCategory(id: $id, expectedVersion: 0) }",
          { id },
        );
        assert.deepEqual(invalid.errors?.[0]?.extensions, {
          code: "INVALID_ARGUMENT",
          fields: [{ field: "expectedVersion", message: "Must be a positive integer" }],
        });
        const unknown = await gql(
          `mutation { deleteCategory(id: "00000000-0000-4000-8000-000000000002", expectedVersion: 3) }`,
        );
        assert.equal(unknown.errors?.[0]?.extensions?.code, "NOT_FOUND");
        assert.deepEqual(
          await data("mutation ($id: ID!) { deleteCategory(id: $id, expectedVersion: 2) }", { id }),
          { deleteCategory: true },
        );
      },
    );

    await t.step(
      "a submit mutation answers with a receipt at once, and command(id) follows it",
      async () => {
        const { submitCreateCategory: receipt } = await data<{ submitCreateCategory: Receipt }>(
          `mutation { submitCreateCategory(input: { name: "Submitted" }) { ${RECEIPT} } }`,
        );
        assert.equal(receipt.type, "CreateCategory");
        assert.equal(receipt.status, "ACCEPTED");
        assert.match(receipt.aggregateId, /^[0-9a-f-]{36}$/);
        assert.ok(!Number.isNaN(Date.parse(receipt.acceptedAt)));

        const applied = await handled(receipt.commandId);
        assert.equal(applied.status, "APPLIED");
        assert.equal(applied.id, receipt.commandId);
        assert.ok(applied.handledAt && !Number.isNaN(Date.parse(applied.handledAt)));
        const created = await data<{ category: { name: string; version: number } }>(
          "query ($id: ID!) { category(id: $id) { name version } }",
          { id: receipt.aggregateId },
        );
        assert.deepEqual(created.category, { name: "Submitted", version: 1 });

        const stale = await data<{ submitUpdateCategory: Receipt }>(
          `mutation ($id: ID!) {
            submitUpdateCategory(input: { id: $id, name: "Resubmitted", expectedVersion: 5 }) {
              ${RECEIPT}
            }
          }`,
          { id: receipt.aggregateId },
        );
        const conflict = await handled(stale.submitUpdateCategory.commandId);
        assert.deepEqual(
          { status: conflict.status, code: conflict.code, currentVersion: conflict.currentVersion },
          { status: "REJECTED", code: "VERSION_CONFLICT", currentVersion: 1 },
        );

        const removal = await data<{ submitDeleteCategory: Receipt }>(
          "mutation ($id: ID!) { submitDeleteCategory(id: $id, expectedVersion: 1) { commandId } }",
          { id: receipt.aggregateId },
        );
        assert.equal((await handled(removal.submitDeleteCategory.commandId)).status, "APPLIED");
        const gone = await data<{ categoryExists: boolean }>(
          "query ($id: ID!) { categoryExists(id: $id) }",
          { id: receipt.aggregateId },
        );
        assert.equal(gone.categoryExists, false);

        const invalid = await gql(
          'mutation { submitCreateProduct(input: { name: "", price: 1, categoryId: "nope" }) { commandId } }',
        );
        assert.equal(invalid.errors?.[0]?.extensions?.code, "INVALID_ARGUMENT");
      },
    );

    await t.step(
      "an idempotency key covers the expected version: another version is another request",
      async () => {
        const { createCategory: rack } = await data<{ createCategory: Category }>(
          'mutation { createCategory(input: { name: "Racks" }) { id } }',
        );
        const client = createCommandClient(`localhost:${stack.ports.command}`, {
          metadata: { authorization: `Bearer ${writerToken}` },
        });
        try {
          const request = { id: rack.id, name: "Wine racks", idempotencyKey: "racks-1" };
          const first = await client.UpdateCategory({ ...request, expectedVersion: 1 });
          const retry = await client.UpdateCategory({ ...request, expectedVersion: 1 });
          const other = await client.UpdateCategory({ ...request, expectedVersion: 2 });
          assert.equal(retry.commandId, first.commandId);
          assert.notEqual(other.commandId, first.commandId);
          assert.equal((await handled(first.commandId)).status, "APPLIED");
          const reused = await handled(other.commandId);
          assert.equal(reused.code, "IDEMPOTENCY_KEY_REUSED");
        } finally {
          client.close();
        }
        const read = await data<{ category: { name: string; version: number } }>(
          "query ($id: ID!) { category(id: $id) { name version } }",
          { id: rack.id },
        );
        assert.deepEqual(read.category, { name: "Wine racks", version: 2 });
      },
    );
  });
});
