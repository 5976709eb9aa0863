import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import {
  AuthError,
  bearerToken,
  createVerifier,
  developmentAuth,
  hasRole,
  parseAuthConfig,
  requireRole,
  signDevelopmentToken,
} from "./auth.ts";
import { ConfigError } from "./env.ts";

async function rejection(promise: Promise<unknown>): Promise<AuthError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof AuthError);
    return error;
  }
  assert.fail("expected an AuthError");
}

Deno.test("a development token verifies with its subject and highest role", async () => {
  const verify = createVerifier(developmentAuth);
  const token = await signDevelopmentToken({ subject: "alice", role: "catalog:write" });
  assert.deepEqual(await verify(token), { subject: "alice", role: "catalog:write" });
  const none = await signDevelopmentToken({ subject: "nobody" });
  assert.deepEqual(await verify(none), { subject: "nobody", role: undefined });
});

Deno.test("roles include the ones below them, and refusals say which role is missing", () => {
  const writer = { subject: "w", role: "catalog:write" as const };
  assert.equal(hasRole(writer, "catalog:read"), true);
  assert.equal(hasRole(writer, "catalog:write"), true);
  assert.equal(hasRole(writer, "catalog:admin"), false);
  assert.equal(hasRole(undefined, "catalog:read"), false);
  assert.throws(() => requireRole(undefined, "catalog:write", "send a mutation"), (error) => {
    assert.ok(error instanceof AuthError);
    assert.equal(error.code, "UNAUTHENTICATED");
    assert.match(error.message, /Cannot send a mutation without a token/);
    return true;
  });
  assert.throws(
    () => requireRole({ subject: "r", role: "catalog:read" }, "catalog:write", "send a mutation"),
    /FORBIDDEN|needs the catalog:write role, and the token of "r" has catalog:read/,
  );
});

Deno.test("a token signed with another secret, expired, or without a subject is refused", async () => {
  const verify = createVerifier(developmentAuth);
  const other = await signDevelopmentToken({
    subject: "mallory",
    role: "catalog:admin",
    secret: "not the development secret, but long enough",
  });
  assert.match((await rejection(verify(other))).message, /signature does not verify/);
  const now = Math.floor(Date.now() / 1000);
  const expired = await new SignJWT({ roles: ["catalog:write"] }).setProtectedHeader({
    alg: "HS256",
  })
    .setSubject("late").setExpirationTime(now - 10)
    .sign(new TextEncoder().encode(developmentAuth.jwtSecret));
  assert.match((await rejection(verify(expired))).message, /has expired/);
  const anonymous = await new SignJWT({ roles: ["catalog:write"] }).setProtectedHeader({
    alg: "HS256",
  }).sign(new TextEncoder().encode(developmentAuth.jwtSecret));
  assert.match((await rejection(verify(anonymous))).message, /names no subject/);
  assert.match((await rejection(verify("not.a.jwt"))).message, /not a well-formed JWT/);
  // "none" and other algorithms are never accepted.
  const unsigned = `${btoa(JSON.stringify({ alg: "none" }))}.${
    btoa(JSON.stringify({ sub: "x", roles: ["catalog:admin"] }))
  }.`;
  assert.equal((await rejection(verify(unsigned))).code, "UNAUTHENTICATED");
});

Deno.test("a JWKS-verified token must come from the issuer, for the audience", async () => {
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const jwk = { ...await exportJWK(publicKey), kid: "k1", alg: "ES256", use: "sig" };
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => Response.json({ keys: [jwk] }),
  );
  const config = parseAuthConfig("test", {
    AUTH_JWKS_URL: `http://127.0.0.1:${server.addr.port}/jwks.json`,
    AUTH_ISSUER: "https://id.example.com/",
    AUTH_AUDIENCE: "catalog",
    AUTH_ROLES_CLAIM: "scope",
  });
  const verify = createVerifier(config);
  const sign = (issuer: string, audience: string) =>
    new SignJWT({ scope: "openid catalog:admin" }).setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setSubject("operator").setIssuer(issuer).setAudience(audience).setExpirationTime("5m")
      .sign(privateKey);
  assert.deepEqual(await verify(await sign("https://id.example.com/", "catalog")), {
    subject: "operator",
    role: "catalog:admin",
  });
  assert.match(
    (await rejection(verify(await sign("https://evil.example/", "catalog")))).message,
    /its iss claim is not accepted/,
  );
  assert.match(
    (await rejection(verify(await sign("https://id.example.com/", "other")))).message,
    /its aud claim is not accepted/,
  );
  // The development secret means nothing once a JWKS is configured.
  const development = await signDevelopmentToken({ subject: "dev", role: "catalog:admin" });
  assert.equal((await rejection(verify(development))).code, "UNAUTHENTICATED");
});

Deno.test("parseAuthConfig() refuses a short secret and a JWKS URL without issuer and audience", () => {
  assert.throws(() => parseAuthConfig("gateway", { AUTH_JWT_SECRET: "short" }), (error) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /AUTH_JWT_SECRET="short": Must be at least 32 characters/);
    return true;
  });
  assert.throws(
    () => parseAuthConfig("gateway", { AUTH_JWKS_URL: "https://id.example.com/jwks.json" }),
    /AUTH_ISSUER="": Must be set with AUTH_JWKS_URL/,
  );
  assert.throws(
    () => parseAuthConfig("gateway", { AUTH_PUBLIC_READS: "yes" }),
    /Must be true or false/,
  );
});

Deno.test("bearerToken() reads only a Bearer authorization", () => {
  assert.equal(bearerToken("Bearer abc.def.ghi"), "abc.def.ghi");
  assert.equal(bearerToken("bearer   abc "), "abc");
  assert.equal(bearerToken("Basic abc"), undefined);
  assert.equal(bearerToken(null), undefined);
});
