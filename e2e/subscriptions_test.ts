import assert from "node:assert/strict";
import {
  type SseSubscription,
  subscribeSse,
  type TestSystem,
  withSystem,
  writerToken,
} from "@catalog/testkit";

interface Receipt {
  commandId: string;
  aggregateId: string;
}

const categoryFields = "id name version";
const productFields = "id name price version category { id name }";

/** Submits a command and answers its receipt at once, before the worker applies it. */
async function submit(
  system: TestSystem,
  mutation: string,
  variables: Record<string, unknown>,
): Promise<Receipt> {
  const data = await system.data<Record<string, Receipt>>(
    `mutation ($input: ${mutation}Input!) { receipt: submit${mutation}(input: $input) { commandId aggregateId } }`,
    variables,
  );
  return data.receipt!;
}

/** The data of the next event, which must be a result without errors. */
async function nextEvent<T>(subscription: SseSubscription<T>): Promise<T> {
  const result = await subscription.nextData();
  assert.equal(result.errors, undefined, JSON.stringify(result.errors));
  return result.data!;
}

Deno.test("each subscription delivers its event over SSE once the read side shows the change", async (t) => {
  await withSystem(async (system) => {
    const url = system.stack.graphqlUrl;
    const open: SseSubscription<unknown>[] = [];
    async function subscribe<T>(query: string, variables?: Record<string, unknown>) {
      const subscription = await subscribeSse<T>(url, query, variables);
      open.push(subscription as SseSubscription<unknown>);
      return subscription;
    }
    try {
      const categoryCreated = await subscribe<{ categoryCreated: Record<string, unknown> }>(
        `subscription { categoryCreated { ${categoryFields} } }`,
      );
      const productCreated = await subscribe<{ productCreated: Record<string, unknown> }>(
        `subscription { productCreated { ${productFields} } }`,
      );
      const categoryDeleted = await subscribe<{ categoryDeleted: { id: string; name: string } }>(
        "subscription { categoryDeleted { id name } }",
      );
      const productDeleted = await subscribe<{ productDeleted: { id: string; name: string } }>(
        "subscription { productDeleted { id name } }",
      );

      let categoryId = "";
      let productId = "";

      await t.step("categoryCreated, then category(id) shows it", async () => {
        const receipt = await submit(system, "CreateCategory", { input: { name: "Kites" } });
        categoryId = receipt.aggregateId;
        const { categoryCreated: created } = await nextEvent(categoryCreated);
        const { category } = await system.data<{ category: unknown }>(
          `query ($id: ID!) { category(id: $id) { ${categoryFields} } }`,
          { id: categoryId },
        );
        assert.deepEqual(created, { id: categoryId, name: "Kites", version: 1 });
        assert.deepEqual(category, created);
      });

      await t.step("productCreated, then product(id) shows it", async () => {
        const receipt = await submit(system, "CreateProduct", {
          input: { name: "Box kite", price: 19.99, categoryId },
        });
        productId = receipt.aggregateId;
        const { productCreated: created } = await nextEvent(productCreated);
        const { product } = await system.data<{ product: unknown }>(
          `query ($id: ID!) { product(id: $id) { ${productFields} } }`,
          { id: productId },
        );
        assert.deepEqual(created, {
          id: productId,
          name: "Box kite",
          price: 19.99,
          version: 1,
          category: { id: categoryId, name: "Kites" },
        });
        assert.deepEqual(product, created);
      });

      await t.step("categoryUpdated(id), then category(id) shows the new name", async () => {
        const updated = await subscribe<{ categoryUpdated: Record<string, unknown> }>(
          `subscription ($id: ID) { categoryUpdated(id: $id) { ${categoryFields} } }`,
          { id: categoryId },
        );
        await submit(system, "UpdateCategory", { input: { id: categoryId, name: "Kites & co" } });
        const { categoryUpdated } = await nextEvent(updated);
        const { category } = await system.data<{ category: unknown }>(
          `query ($id: ID!) { category(id: $id) { ${categoryFields} } }`,
          { id: categoryId },
        );
        assert.deepEqual(categoryUpdated, { id: categoryId, name: "Kites & co", version: 2 });
        assert.deepEqual(category, categoryUpdated);
      });

      await t.step("productUpdated(id) delivers every update in order, each readable", async () => {
        const updated = await subscribe<{ productUpdated: { price: number; version: number } }>(
          "subscription ($id: ID) { productUpdated(id: $id) { price version } }",
          { id: productId },
        );
        const prices = [1.01, 2.02, 3.03, 4.04, 5.05];
        // Submitted one after the other without waiting: the worker applies them in order.
        for (const price of prices) {
          await submit(system, "UpdateProduct", { input: { id: productId, price } });
        }
        const seen: { price: number; version: number }[] = [];
        for (const _ of prices) {
          const { productUpdated } = await nextEvent(updated);
          const { product } = await system.data<{ product: { version: number } }>(
            "query ($id: ID!) { product(id: $id) { version } }",
            { id: productId },
          );
          // Readable on arrival: the read side is at this version or past it.
          assert.ok(product.version >= productUpdated.version);
          seen.push(productUpdated);
        }
        assert.deepEqual(seen, prices.map((price, index) => ({ price, version: index + 2 })));
      });

      await t.step("commandUpdated(id) follows a command to APPLIED, then completes", async () => {
        const receipt = await submit(system, "CreateCategory", { input: { name: "Yo-yos" } });
        const updates = await subscribe<{ commandUpdated: { id: string; status: string } }>(
          "subscription ($id: ID!) { commandUpdated(id: $id) { id status } }",
          { id: receipt.commandId },
        );
        const statuses: string[] = [];
        for (
          let event = await updates.next();
          event?.event === "next";
          event = await updates.next()
        ) {
          assert.equal(event.data.errors, undefined, JSON.stringify(event.data.errors));
          statuses.push(event.data.data!.commandUpdated.status);
        }
        // It may have been ACCEPTED first, or already APPLIED when the subscription began.
        assert.ok(
          ["ACCEPTED,APPLIED", "APPLIED"].includes(statuses.join(",")),
          statuses.join(","),
        );
        const { command, category } = await system.data<{
          command: { status: string };
          category: { name: string } | null;
        }>(
          "query ($command: ID!, $id: ID!) { command(id: $command) { status } category(id: $id) { name } }",
          { command: receipt.commandId, id: receipt.aggregateId },
        );
        assert.deepEqual({ command, category }, {
          command: { status: "APPLIED" },
          category: { name: "Yo-yos" },
        });
      });

      await t.step("productDeleted and categoryDeleted, then neither is readable", async () => {
        await system.data("mutation ($id: ID!) { submitDeleteProduct(id: $id) { commandId } }", {
          id: productId,
        });
        const { productDeleted: deletedProduct } = await nextEvent(productDeleted);
        assert.deepEqual(deletedProduct, { id: productId, name: "Box kite" });
        const afterProduct = await system.data<{ product: unknown }>(
          "query ($id: ID!) { product(id: $id) { id } }",
          { id: productId },
        );
        assert.equal(afterProduct.product, null);

        await system.data("mutation ($id: ID!) { submitDeleteCategory(id: $id) { commandId } }", {
          id: categoryId,
        });
        const { categoryDeleted: deletedCategory } = await nextEvent(categoryDeleted);
        assert.deepEqual(deletedCategory, { id: categoryId, name: "Kites & co" });
        const afterCategory = await system.data<{ category: unknown }>(
          "query ($id: ID!) { category(id: $id) { id } }",
          { id: categoryId },
        );
        assert.equal(afterCategory.category, null);
      });
    } finally {
      for (const subscription of open) await subscription.close();
    }
  });
});

Deno.test("two gateway processes both deliver every change, in the same order", async () => {
  await withSystem(
    async (system) => {
      const [first, second] = system.stack.graphqlUrls;
      assert.ok(first && second && first !== second);
      const query = "subscription { categoryCreated { name } }";
      const subscriptions = [
        await subscribeSse<{ categoryCreated: { name: string } }>(first, query),
        await subscribeSse<{ categoryCreated: { name: string } }>(second, query),
      ];
      try {
        const names = Array.from({ length: 10 }, (_, index) => `Shelf ${index}`);
        for (const [index, name] of names.entries()) {
          // Half the writes go through each gateway.
          await fetch(index % 2 === 0 ? first : second, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              authorization: `Bearer ${writerToken}`,
            },
            body: JSON.stringify({
              query: "mutation ($name: String!) { createCategory(input: { name: $name }) { id } }",
              variables: { name },
            }),
          }).then((response) => response.json());
        }
        for (const subscription of subscriptions) {
          const received: string[] = [];
          for (const _ of names) {
            received.push((await nextEvent(subscription)).categoryCreated.name);
          }
          assert.deepEqual(received, names);
        }
      } finally {
        for (const subscription of subscriptions) await subscription.close();
      }
    },
    {},
    { gateways: 2 },
  );
});
