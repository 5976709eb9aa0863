import assert from "node:assert/strict";
import { chromium, type Page } from "playwright-core";
import { browserPath, withSystem, writerToken } from "@catalog/testkit";
import { seedDemoData } from "@catalog/dev";

/** Where a failed run leaves its screenshot (ignored by git). */
const screenshots = new URL("../.screenshots/", import.meta.url);

/** Runs fn; when it fails, saves the page as it looked and names the file in the failure. */
async function withScreenshot(page: Page, name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    await Deno.mkdir(screenshots, { recursive: true });
    const file = new URL(`${name}.png`, screenshots).pathname;
    await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    const pane = await page.locator(".graphiql-response").innerText({ timeout: 1000 })
      .catch(() => "(not found)");
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(
      `${message}\nGraphiQL's result pane: ${pane.trim() || "(empty)"}\n` +
        `(screenshot of the page: ${file})`,
      { cause: error },
    );
  }
}

Deno.test("GraphiQL in a real browser loads the schema and runs the seed query", async () => {
  await withSystem(async ({ stack }) => {
    await seedDemoData(stack.graphqlUrl, writerToken);
    const browser = await chromium.launch({ executablePath: browserPath(), headless: true });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));
      await withScreenshot(page, "graphiql", async () => {
        await page.goto(stack.graphqlUrl, { waitUntil: "load" });
        // The documentation explorer lists Query's fields once the schema has loaded.
        await page.getByRole("button", { name: /documentation explorer/i }).click();
        await page.locator(".graphiql-doc-explorer").getByText("Query", { exact: true }).click();
        const explorer = page.locator(".graphiql-doc-explorer-content");
        await explorer.getByText("productsByPriceRange", { exact: true }).waitFor();
        const schemaError = await page.locator(".graphiql-response").innerText();
        assert.equal(
          schemaError.trim(),
          "",
          `the result pane shows before any run: ${schemaError}`,
        );

        // The prefilled seed query, run from its button.
        await page.getByRole("button", { name: /execute query/i }).click();
        const response = page.locator(".graphiql-response");
        await response.getByText('"categories"').waitFor();
        const shown = await response.innerText();
        assert.match(shown, /"Electronics"/);
        assert.doesNotMatch(shown, /"errors"/);
        assert.deepEqual(errors, []);
      });
    } finally {
      await browser.close();
    }
  });
});
