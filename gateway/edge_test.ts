import assert from "node:assert/strict";
import { createVerifier, developmentAuth, signDevelopmentToken } from "@catalog/runtime/auth";
import { createDoor, onBodyEnd, SubscriptionCaps } from "./edge.ts";

const verify = createVerifier(developmentAuth);
const door = createDoor({ verify, maxBodyBytes: 100, rateLimitPerMinute: 0 });

function post(body: BodyInit, headers: Record<string, string>) {
  return new Request("http://localhost/graphql", { method: "POST", body, headers });
}

async function refusedWith(answer: unknown, status: number, code: string) {
  assert.ok(answer instanceof Response, "expected a refusal");
  assert.equal(answer.status, status);
  const body = await answer.json();
  assert.equal(body.errors[0].extensions.code, code);
  return body.errors[0].message as string;
}

Deno.test("the door refuses the content types a browser sends cross-site without asking", async () => {
  for (
    const type of [
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
    ]
  ) {
    const message = await refusedWith(
      await door(post("{}", { "content-type": type })),
      415,
      "UNSUPPORTED_MEDIA_TYPE",
    );
    assert.match(message, /send application\/json/);
  }
  await refusedWith(await door(post("{}", {})), 415, "UNSUPPORTED_MEDIA_TYPE");
  const admitted = await door(post("{}", { "content-type": "application/json; charset=utf-8" }));
  assert.ok(!(admitted instanceof Response));
  assert.equal(await admitted.request.text(), "{}");
  // A GET carries no body and keeps serving queries.
  const get = await door(new Request("http://localhost/graphql?query=%7B__typename%7D"));
  assert.ok(!(get instanceof Response));
});

Deno.test("the door refuses a body over the limit, declared or streamed", async () => {
  const big = "x".repeat(101);
  await refusedWith(
    await door(post(big, { "content-type": "application/json" })),
    413,
    "REQUEST_TOO_LARGE",
  );
  // No content-length: counted while it is read.
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < 5; i++) controller.enqueue(new TextEncoder().encode("x".repeat(30)));
      controller.close();
    },
  });
  await refusedWith(
    await door(post(stream, { "content-type": "application/json" })),
    413,
    "REQUEST_TOO_LARGE",
  );
});

Deno.test("the door names the caller of a valid token and refuses a bad one", async () => {
  const token = await signDevelopmentToken({ subject: "alice", role: "catalog:admin" });
  const admitted = await door(
    post("{}", { "content-type": "application/json", authorization: `Bearer ${token}` }),
  );
  assert.ok(!(admitted instanceof Response));
  assert.deepEqual(admitted.identity, { subject: "alice", role: "catalog:admin" });
  assert.equal(admitted.token, token);
  const bad = await door(
    post("{}", { "content-type": "application/json", authorization: "Bearer abc" }),
  );
  assert.match(await refusedWith(bad, 401, "UNAUTHENTICATED"), /not a well-formed JWT/);
  const basic = await door(
    post("{}", { "content-type": "application/json", authorization: "Basic abc" }),
  );
  await refusedWith(basic, 401, "UNAUTHENTICATED");
});

Deno.test("the door's rate limit counts each identity and each anonymous address apart", async () => {
  const limited = createDoor({ verify, maxBodyBytes: 100, rateLimitPerMinute: 2 });
  const json = { "content-type": "application/json" };
  const from = (address: string) => limited(post("{}", json), { address });
  assert.ok(!((await from("10.0.0.1")) instanceof Response));
  assert.ok(!((await from("10.0.0.1")) instanceof Response));
  const third = await from("10.0.0.1");
  assert.match(await refusedWith(third, 429, "RATE_LIMITED"), /2 requests a minute/);
  assert.ok(!((await from("10.0.0.2")) instanceof Response));
  const token = await signDevelopmentToken({ subject: "bob", role: "catalog:read" });
  const asBob = await limited(post("{}", { ...json, authorization: `Bearer ${token}` }), {
    address: "10.0.0.1",
  });
  assert.ok(!(asBob instanceof Response));
});

Deno.test("SubscriptionCaps refuses past either cap and gives places back once", async () => {
  const caps = new SubscriptionCaps(2, 3);
  const a1 = caps.take("a");
  const a2 = caps.take("a");
  assert.equal(typeof a1, "function");
  assert.equal(typeof a2, "function");
  const a3 = caps.take("a");
  assert.match(
    await refusedWith(a3, 429, "TOO_MANY_SUBSCRIPTIONS"),
    /2 open subscriptions per client/,
  );
  const b1 = caps.take("b");
  assert.equal(typeof b1, "function");
  assert.match(
    await refusedWith(caps.take("c"), 429, "TOO_MANY_SUBSCRIPTIONS"),
    /3 open subscriptions in all/,
  );
  (a1 as () => void)();
  (a1 as () => void)();
  assert.equal(caps.open, 2);
  assert.equal(typeof caps.take("a"), "function");
});

Deno.test("onBodyEnd() calls back once when the reader goes away", async () => {
  let ended = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(new Uint8Array([1]));
    },
  });
  const response = onBodyEnd(new Response(source), () => ended++);
  const reader = response.body!.getReader();
  await reader.read();
  assert.equal(ended, 0);
  await reader.cancel();
  assert.equal(ended, 1);
  const finished = onBodyEnd(new Response("done"), () => ended++);
  assert.equal(await finished.text(), "done");
  assert.equal(ended, 2);
});
