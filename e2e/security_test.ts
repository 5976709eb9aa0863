/**
 * The doors of a running catalog, tried as an attacker and as its users
 * would: operation limits, cross-site requests, tokens and roles at the
 * gateway and at the command service's own port, rate limits and persisted
 * operations, each through HTTP and gRPC against the real services.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { grpc } from "@catalog/proto";
import { createCommandClient, createQueryClient } from "@catalog/runtime";
import {
  eventually,
  failureOf,
  graphql,
  readerToken,
  runDeno,
  subscribeSse,
  TEST_WRITER,
  tokenFor,
  withSystem,
  writerToken,
} from "@catalog/testkit";
import { operationHash } from "../gateway/persisted_operations.ts";

interface Answer {
  status: number;
  headers: Headers;
  body: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; extensions?: Record<string, unknown> }[];
  };
  elapsedMs: number;
}

async function post(
  url: string,
  body: string,
  headers: Record<string, string> = { "content-type": "application/json" },
): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(url, { method: "POST", headers, body });
  const text = await response.text();
  const elapsedMs = performance.now() - started;
  return { status: response.status, headers: response.headers, body: JSON.parse(text), elapsedMs };
}

function postQuery(url: string, query: string, token?: string, variables?: object) {
  return post(
    url,
    JSON.stringify({ query, variables }),
    {
      "content-type": "application/json",
      accept: "application/graphql-response+json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
  );
}

function codeOf(answer: Answer): unknown {
  return answer.body.errors?.[0]?.extensions?.code;
}

/** The seed's GraphQL requests, verbatim (README.md); the fourth is GET /health. */
const seedRequests = [
  "{ categories { id name } }",
  "{ products { id name price category { id name } } }",
  "{ categories { id name } products { id name price category { id name } } }",
];

const nested = (levels: number) =>
  `{ ${"categories { products { category { ".repeat(levels)}id${" } } }".repeat(levels)} }`;

const persistedQuery = "{ categoryStatistics { totalCount } }";

Deno.test("the catalog's doors refuse what they must and serve what they should", async (t) => {
  const operations = await Deno.makeTempFile({ suffix: ".json" });
  const hash = await operationHash(persistedQuery);
  await Deno.writeTextFile(operations, JSON.stringify({ [hash]: persistedQuery }));
  try {
    await withSystem(
      async ({ stack, sandbox }) => {
        const url = stack.graphqlUrl;
        const [, limitedUrl, persistedUrl] = stack.graphqlUrls;
        const timings: string[] = [];

        await t.step("the seed's requests work verbatim with no token", async () => {
          const health = await fetch(url.replace("/graphql", "/health"));
          assert.equal(health.status, 200);
          await health.body?.cancel();
          for (const query of seedRequests) {
            const result = await graphql(url, query);
            assert.equal(result.errors, undefined, `${query}: ${JSON.stringify(result.errors)}`);
          }
        });

        await t.step("a 3,000-alias request is refused before it runs", async () => {
          // The attack as found: 200 KB, over the body limit, refused unread.
          const heavy = Array.from(
            { length: 3000 },
            (_, i) => `a${i}: categories { products { category { products { id } } } }`,
          ).join(" ");
          const large = await postQuery(url, `{ ${heavy} }`);
          assert.equal(large.status, 413);
          assert.equal(codeOf(large), "REQUEST_TOO_LARGE");
          timings.push(`${(heavy.length / 1024).toFixed(0)} KB: ${large.elapsedMs.toFixed(1)} ms`);
          // Within the body limit: the token limit stops the parser.
          const light = Array.from({ length: 3000 }, (_, i) => `a${i}:categories{id}`).join(" ");
          const many = await postQuery(url, `{ ${light} }`);
          assert.equal(many.status, 400);
          assert.equal(codeOf(many), "MAX_TOKENS");
          timings.push(`${(light.length / 1024).toFixed(0)} KB: ${many.elapsedMs.toFixed(1)} ms`);
          const aliases = Array.from(
            { length: 31 },
            (_, i) => `a${i}: categoryStatistics { totalCount }`,
          );
          const aliased = await postQuery(url, `{ ${aliases.join(" ")} }`);
          assert.equal(codeOf(aliased), "MAX_ALIASES");
          console.log(`3,000 aliases refused in ${timings.join(", ")}`);
        });

        await t.step("depth, directive and cost limits each refuse with their code", async () => {
          const deep = await postQuery(url, nested(3));
          assert.equal(deep.status, 400);
          assert.equal(codeOf(deep), "MAX_DEPTH");
          assert.match(deep.body.errors?.[0]?.message ?? "", /depth limit of 8/);
          const directives = Array.from({ length: 21 }, () => "@include(if: true)").join(" ");
          const directed = await postQuery(
            url,
            `{ categoryStatistics ${directives} { totalCount } }`,
          );
          assert.equal(codeOf(directed), "MAX_DIRECTIVES");
          const costly = await postQuery(
            url,
            "{ categories { products { category { products { category { products { id } } } } } } }",
          );
          assert.equal(costly.status, 400);
          assert.equal(codeOf(costly), "MAX_COST");
          assert.match(costly.body.errors?.[0]?.message ?? "", /estimated cost \d+ exceeds 5000/);
          // Two lists deep is an ordinary request.
          const fine = await postQuery(url, "{ categories { name products { name } } }");
          assert.equal(fine.body.errors, undefined);
        });

        await t.step("another site can neither preflight nor post a form", async () => {
          const preflight = await fetch(url, {
            method: "OPTIONS",
            headers: {
              origin: "https://evil.example",
              "access-control-request-method": "POST",
              "access-control-request-headers": "content-type, authorization",
            },
          });
          await preflight.body?.cancel();
          assert.equal(preflight.headers.get("access-control-allow-origin"), null);
          assert.equal(preflight.headers.get("access-control-allow-credentials"), null);
          for (
            const type of ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]
          ) {
            const form = await post(
              url,
              `query=${
                encodeURIComponent('mutation { createCategory(input: { name: "Evil" }) { id } }')
              }`,
              { "content-type": type, origin: "https://evil.example" },
            );
            assert.equal(form.status, 415, type);
            assert.equal(codeOf(form), "UNSUPPORTED_MEDIA_TYPE");
          }
          const evil = await graphql<{ categoryByName: unknown }>(
            url,
            '{ categoryByName(name: "Evil") { id } }',
          );
          assert.equal(evil.data?.categoryByName, null);
        });

        await t.step(
          "a mutation needs a writer's token, and its actor is the token's subject",
          async () => {
            const mutation = 'mutation { createCategory(input: { name: "Tokens" }) { id } }';
            const anonymous = await postQuery(url, mutation);
            assert.equal(anonymous.status, 401);
            assert.equal(codeOf(anonymous), "UNAUTHENTICATED");
            const reader = await postQuery(url, mutation, readerToken);
            assert.equal(reader.status, 403);
            assert.equal(codeOf(reader), "FORBIDDEN");
            const forged = await postQuery(url, mutation, `${writerToken.slice(0, -4)}AAAA`);
            assert.equal(forged.status, 401);
            assert.match(forged.body.errors?.[0]?.message ?? "", /signature does not verify/);
            const expired = await postQuery(
              url,
              mutation,
              await expiredToken(),
            );
            assert.equal(codeOf(expired), "UNAUTHENTICATED");
            assert.match(expired.body.errors?.[0]?.message ?? "", /expired/);

            const written = await post(
              url,
              JSON.stringify({ query: mutation }),
              {
                "content-type": "application/json",
                authorization: `Bearer ${writerToken}`,
                // A header cannot choose who the command log says sent it.
                "x-actor": "mallory",
              },
            );
            assert.equal(written.body.errors, undefined, JSON.stringify(written.body.errors));
            const sql = postgres(sandbox.env.WRITE_DATABASE_URL, { max: 1, onnotice: () => {} });
            try {
              const [row] = await sql<{ actor: string }[]>`
            select envelope->>'actor' as actor from commands
            where aggregate_id = ${(written.body.data?.createCategory as { id: string }).id}`;
              assert.equal(row?.actor, TEST_WRITER);
            } finally {
              await sql.end();
            }
          },
        );

        await t.step(
          "a name with U+0000 is refused with INVALID_ARGUMENT naming the field",
          async () => {
            const poisoned = await postQuery(
              url,
              "mutation ($name: String!) { createCategory(input: { name: $name }) { id } }",
              writerToken,
              { name: "Nul\u0000Byte" },
            );
            assert.equal(codeOf(poisoned), "INVALID_ARGUMENT");
            const fields = poisoned.body.errors?.[0]?.extensions?.fields as { field: string }[];
            assert.deepEqual(fields.map((field) => field.field), ["name"]);
            assert.match(poisoned.body.errors?.[0]?.message ?? "", /control characters/);
            const key = await postQuery(
              url,
              'mutation ($key: String!) { createCategory(input: { name: "Keyed" }, idempotencyKey: $key) { id } }',
              writerToken,
              { key: "k\u0000" },
            );
            assert.equal(codeOf(key), "INVALID_ARGUMENT");
            assert.deepEqual(
              (key.body.errors?.[0]?.extensions?.fields as { field: string }[]).map((f) => f.field),
              ["idempotencyKey"],
            );
          },
        );

        await t.step("the command service's port refuses a call without credentials", async () => {
          const client = createCommandClient(`localhost:${stack.ports.command}`);
          try {
            const error = await failureOf<grpc.ServiceError>(
              client.CreateCategory({ name: "Side door" }),
            );
            assert.equal(error.code, grpc.status.UNAUTHENTICATED);
          } finally {
            client.close();
          }
        });

        await t.step("a client over its rate is RATE_LIMITED with Retry-After", async () => {
          const answers: Answer[] = [];
          for (let i = 0; i < 7; i++) {
            answers.push(await postQuery(limitedUrl!, "{ categoryStatistics { totalCount } }"));
          }
          assert.deepEqual(answers.slice(0, 5).map((answer) => answer.status), [
            200,
            200,
            200,
            200,
            200,
          ]);
          const limited = answers[5]!;
          assert.equal(limited.status, 429);
          assert.equal(codeOf(limited), "RATE_LIMITED");
          assert.match(limited.headers.get("retry-after") ?? "", /^\d+$/);
          // Another identity has its own allowance.
          const other = await postQuery(
            limitedUrl!,
            "{ categoryStatistics { totalCount } }",
            readerToken,
          );
          assert.equal(other.status, 200);
        });

        await t.step(
          "a client's open subscriptions are capped, and a closed one frees its place",
          async () => {
            const token = await tokenFor("subscriber", "catalog:read");
            const query = "subscription { categoryCreated { name } }";
            const options = { headers: { authorization: `Bearer ${token}` } };
            const first = await subscribeSse(url, query, undefined, options);
            const second = await subscribeSse(url, query, undefined, options);
            try {
              await assert.rejects(
                subscribeSse(url, query, undefined, options),
                /429.*2 open subscriptions per client.*TOO_MANY_SUBSCRIPTIONS/,
              );
              await first.close();
              await eventually("the closed subscription's place is free", async () => {
                const again = await subscribeSse(url, query, undefined, options);
                await again.close();
                return true;
              }, 5000);
            } finally {
              await first.close();
              await second.close();
            }
          },
        );

        await t.step(
          "a persisted operation runs by hash, and nothing else when they are required",
          async () => {
            const byHash = await post(
              persistedUrl!,
              JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: hash } } }),
            );
            assert.equal(byHash.body.errors, undefined, JSON.stringify(byHash.body.errors));
            assert.equal(
              typeof (byHash.body.data?.categoryStatistics as { totalCount: number }).totalCount,
              "number",
            );
            const unknown = await post(
              persistedUrl!,
              JSON.stringify({
                extensions: { persistedQuery: { version: 1, sha256Hash: "0".repeat(64) } },
              }),
            );
            assert.equal(codeOf(unknown), "PERSISTED_QUERY_NOT_FOUND");
            const arbitrary = await postQuery(persistedUrl!, persistedQuery);
            assert.equal(codeOf(arbitrary), "PERSISTED_QUERY_REQUIRED");
          },
        );
      },
      {},
      {
        gateways: 3,
        envOf: (process): Record<string, string> =>
          process === "gateway-2"
            ? { RATE_LIMIT_PER_MINUTE: "5" }
            : process === "gateway-3"
            ? { PERSISTED_OPERATIONS_FILE: operations, PERSISTED_OPERATIONS_REQUIRED: "true" }
            : { SUBSCRIPTIONS_PER_CLIENT: "2" },
      },
    );
  } finally {
    await Deno.remove(operations);
  }
});

Deno.test("with AUTH_PUBLIC_READS=false every read needs a reader's token, at the gateway and behind it", async () => {
  await withSystem(async ({ stack, gql }) => {
    const url = stack.graphqlUrl;
    const anonymous = await postQuery(url, "{ categories { id } }");
    assert.equal(anonymous.status, 401);
    assert.equal(codeOf(anonymous), "UNAUTHENTICATED");
    const read = await postQuery(url, "{ categories { id } }", readerToken);
    assert.equal(read.body.errors, undefined, JSON.stringify(read.body.errors));

    // Subscriptions follow reads, and the gateway's own change feed still flows.
    await assert.rejects(
      subscribeSse(url, "subscription { categoryCreated { name } }"),
      /401[^]*UNAUTHENTICATED/,
    );
    const subscription = await subscribeSse<{ categoryCreated: { name: string } }>(
      url,
      "subscription { categoryCreated { name } }",
      undefined,
      { headers: { authorization: `Bearer ${readerToken}` } },
    );
    try {
      const created = await gql('mutation { createCategory(input: { name: "Private" }) { id } }');
      assert.equal(created.errors, undefined, JSON.stringify(created.errors));
      assert.deepEqual((await subscription.nextData()).data, {
        categoryCreated: { name: "Private" },
      });
    } finally {
      await subscription.close();
    }

    // The query service's own port asks for the token too.
    const client = createQueryClient(`localhost:${stack.ports.query}`);
    try {
      const error = await failureOf<grpc.ServiceError>(client.ListCategories({}));
      assert.equal(error.code, grpc.status.UNAUTHENTICATED);
      const served = await client.ListCategories({}, {
        metadata: { authorization: `Bearer ${readerToken}` },
      });
      assert.deepEqual(served.categories.map((category) => category.name), ["Private"]);
    } finally {
      client.close();
    }
  }, { AUTH_PUBLIC_READS: "false" });
});

/** A writer's token that expired a minute ago. */
async function expiredToken(): Promise<string> {
  const { SignJWT } = await import("jose");
  const { DEVELOPMENT_JWT_SECRET } = await import("@catalog/runtime/auth");
  const now = Math.floor(Date.now() / 1000);
  return await new SignJWT({ roles: ["catalog:write"] })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject("late")
    .setIssuedAt(now - 120)
    .setExpirationTime(now - 60)
    .sign(new TextEncoder().encode(DEVELOPMENT_JWT_SECRET));
}

/** The messages of a production service's log lines, which are JSON objects. */
function loggedMessages(output: string): string {
  return output.split("\n").filter((line) => line.startsWith("{")).map((line) => {
    const record = JSON.parse(line) as { message: string; level: string };
    return `${record.level}: ${record.message}`;
  }).join("\n");
}

Deno.test("production mode refuses to start on the development defaults, naming each", async () => {
  const production = { CATALOG_ENV: "production", GATEWAY_PORT: "0", COMMAND_GRPC_PORT: "0" };
  const started = await runDeno(["task", "-q", "gateway"], production);
  const gateway = { code: started.code, stderr: loggedMessages(started.stderr) };
  assert.equal(gateway.code, 1, gateway.stderr);
  assert.match(gateway.stderr, /Cannot start the gateway in production mode/);
  assert.match(gateway.stderr, /AUTH_JWT_SECRET is unset/);
  assert.match(gateway.stderr, /CORS_ORIGINS is unset/);
  const commandRun = await runDeno(["task", "-q", "command"], production);
  const command = { code: commandRun.code, stderr: loggedMessages(commandRun.stderr) };
  assert.equal(command.code, 1, command.stderr);
  assert.match(command.stderr, /AMQP_URL connects as RabbitMQ's default user "guest"/);
  assert.match(command.stderr, /AUTH_JWT_SECRET is unset/);
  // In production the refusal is a JSON log line at level error.
  assert.match(command.stderr, /^error: Cannot start the command service in production mode/m);
});
