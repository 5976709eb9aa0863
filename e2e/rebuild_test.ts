import assert from "node:assert/strict";
import { type DenoRun, runDeno, subscribeSse, withSystem, writerToken } from "@catalog/testkit";
import { graphql } from "@catalog/dev";

/** Runs one of the deno.json tasks with the sandbox's environment. */
function task(name: string, env: Record<string, string>): Promise<DenoRun> {
  return runDeno(["task", "--quiet", name], env);
}

Deno.test("projections:rebuild under a stream of commands and reads fails no read and loses nothing; verify agrees", async () => {
  await withSystem(async ({ stack, sandbox, data }) => {
    const url = stack.graphqlUrl;
    const { createCategory } = await data<{ createCategory: { id: string } }>(
      `mutation { createCategory(input: { name: "Rebuilt" }) { id } }`,
    );
    const products: string[] = [];
    for (let index = 0; index < 20; index++) {
      const { createProduct } = await data<{ createProduct: { id: string } }>(
        `mutation ($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
        { input: { name: `Lamp ${index}`, price: 10 + index, categoryId: createCategory.id } },
      );
      products.push(createProduct.id);
    }

    // A live subscriber hears of every update, the rebuild's switch notwithstanding
    // (the order per product is the subscriptions tests' business).
    const subscriber = await subscribeSse<{ productUpdated: { id: string; price: number } }>(
      url,
      "subscription { productUpdated { id price } }",
    );
    const updated: number[] = [];

    let running = true;
    const failures: string[] = [];
    let reads = 0;
    let writes = 0;
    const reading = (async () => {
      while (running) {
        const result = await graphql(
          url,
          `{ categories { id name } products { id name price category { name } }
             productStatistics { totalCount } }`,
        ).catch((error) => ({ errors: [{ message: String(error) }], data: undefined }));
        if (result.errors?.length || !result.data) failures.push(JSON.stringify(result.errors));
        reads++;
      }
    })();
    // Four writers at once, each on its own products, so the projection is
    // busy whenever the rebuild switches; each price is used once.
    const WRITERS = 4;
    const writing = Promise.all(Array.from({ length: WRITERS }, async (_, writer) => {
      for (let round = 0; running; round++) {
        const id = products[(round * WRITERS + writer) % products.length]!;
        const price = 100 + round * WRITERS + writer;
        // Half wait for their effect; half only for the receipt, and keep the worker busy.
        const mutation = writer % 2 === 0 ? "updateProduct" : "submitUpdateProduct";
        const result = await graphql(
          url,
          `mutation ($input: UpdateProductInput!) { ${mutation}(input: $input) { id: __typename } }`,
          { input: { id, price } },
          { token: writerToken },
        );
        if (result.errors?.length) failures.push(`write: ${JSON.stringify(result.errors)}`);
        else updated.push(price);
        writes++;
      }
    }));

    let rebuilt: DenoRun;
    try {
      while (writes < 10) await new Promise((resolve) => setTimeout(resolve, 20));
      rebuilt = await task("projections:rebuild", sandbox.env);
      const after = writes;
      while (writes < after + 10) await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      running = false;
      await Promise.all([reading, writing]);
    }

    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    assert.match(
      rebuilt.stdout,
      /^Rebuilt the read model from \d+ events and \d+ command outcomes/m,
    );
    assert.deepEqual(failures, []);
    assert.ok(reads > 10 && writes > 20, `reads ${reads}, writes ${writes}`);

    const heard: number[] = [];
    const hearing = (async () => {
      while (heard.length < updated.length) {
        const event = await subscriber.nextData();
        assert.deepEqual(event.errors, undefined);
        heard.push(event.data!.productUpdated.price);
      }
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise((resolve) => timer = setTimeout(resolve, 10_000));
    await Promise.race([hearing, late]).finally(() => clearTimeout(timer));
    await subscriber.close();
    await hearing.catch(() => {});
    const sorted = (prices: number[]) => [...prices].sort((a, b) => a - b);
    assert.deepEqual(sorted(heard), sorted(updated), "every update heard, once");

    const verified = await task("verify", sandbox.env);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(
      verified.stdout,
      /^The read model equals the write model: 1 category, 20 products, /,
    );
  });
});
