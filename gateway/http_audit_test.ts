import assert from "node:assert/strict";
import { serverAudits } from "graphql-http";
import { testGateway } from "./_testing.ts";

Deno.test("the gateway passes graphql-http's GraphQL-over-HTTP audit, every check", async () => {
  // Anonymous, as the audit's requests are: reads are public.
  const { gateway } = testGateway({ token: null });
  const audits = serverAudits({
    url: "http://localhost/graphql",
    fetchFn: (input: RequestInfo | URL, init?: RequestInit) =>
      gateway.fetch(new Request(input, init)),
  });
  const failed: string[] = [];
  for (const audit of audits) {
    const result = await audit.fn();
    if (result.status !== "ok") failed.push(`${result.status} ${audit.name}: ${result.reason}`);
  }
  assert.ok(audits.length > 30, `only ${audits.length} audits`);
  assert.deepEqual(failed, []);
});
