import assert from "node:assert/strict";
import { createVerifier, developmentAuth } from "@catalog/runtime/auth";
import { tokenFromArgs } from "./token.ts";

Deno.test("deno task token signs what the services verify, as the subject and role asked for", async () => {
  const token = await tokenFromArgs(["--", "--sub", "alice", "--role", "catalog:admin"], {});
  assert.deepEqual(await createVerifier(developmentAuth)(token), {
    subject: "alice",
    role: "catalog:admin",
  });
  // Signed with AUTH_JWT_SECRET when it is set.
  const secret = "the secret of this one deployment, 32+ chars";
  const own = await tokenFromArgs(["--sub", "bob"], { AUTH_JWT_SECRET: secret });
  const verified = await createVerifier({ ...developmentAuth, jwtSecret: secret })(own);
  assert.deepEqual(verified, { subject: "bob", role: "catalog:write" });
});

Deno.test("deno task token explains bad arguments", async () => {
  await assert.rejects(tokenFromArgs([], {}), /Cannot sign a token without --sub\nUsage:/);
  await assert.rejects(
    tokenFromArgs(["--sub", "a", "--role", "root"], {}),
    /Cannot sign a token for role "root"/,
  );
  await assert.rejects(tokenFromArgs(["--sub", "a", "--expires", "soon"], {}), /use 30s, 15m/);
  await assert.rejects(tokenFromArgs(["--user", "a"], {}), /Unknown option '--user'/);
});
