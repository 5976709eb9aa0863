import assert from "node:assert/strict";
import {
  brokerSays,
  explainUserIdRefusal,
  isNotFound,
  vhostOf,
  whyUnreachable,
} from "./dead_letter_error.ts";

const url = "amqp://ops:secret@rabbit:5672/catalog%2Fprod";
const failing = (message: string, code?: unknown) => Object.assign(new Error(message), { code });

Deno.test("whyUnreachable() says why connecting failed, with the password hidden", () => {
  const why = (error: unknown) => whyUnreachable(url, { error, timeoutMs: 1500 });
  const at = "RabbitMQ at amqp://ops:***@rabbit:5672/catalog%2Fprod";
  assert.equal(
    why(failing("connect ECONNREFUSED", "ECONNREFUSED")),
    `${at} refused the connection`,
  );
  assert.equal(
    why(failing("getaddrinfo ENOTFOUND rabbit", "ENOTFOUND")),
    `${at} cannot be found: its host name does not resolve`,
  );
  assert.equal(
    why(failing("", "EAI_AGAIN")),
    `${at} cannot be found: its host name does not resolve`,
  );
  assert.equal(why(failing("connect ETIMEDOUT")), `${at} did not answer within 1500 ms`);
  assert.equal(
    why(failing("Socket timed out", "ETIMEDOUT")),
    `${at} did not answer within 1500 ms`,
  );
  assert.equal(
    why(failing("Handshake terminated by server: 403 (ACCESS-REFUSED) with message …")),
    `${at} refused the user name or password`,
  );
  assert.equal(
    why(failing("Expected ConnectionOpenOk; got <ConnectionClose channel:0>")),
    `${at} refused to open vhost "catalog/prod": it does not exist, or the user may not use it`,
  );
  assert.equal(why(failing("something else")), `${at} cannot be reached: something else`);
});

Deno.test("brokerSays() keeps RabbitMQ's own words from amqplib's framing", () => {
  assert.equal(
    brokerSays(
      new Error(
        'Operation failed: QueueDeclare; 404 (NOT-FOUND) with message "NOT_FOUND - no queue"',
      ),
    ),
    "NOT_FOUND - no queue",
  );
  assert.equal(brokerSays(new Error("Channel closed")), "Channel closed");
});

Deno.test("isNotFound() recognises AMQP's 404", () => {
  assert.equal(isNotFound(failing("no queue", 404)), true);
  assert.equal(isNotFound(failing("refused", 403)), false);
  assert.equal(isNotFound(undefined), false);
});

Deno.test("vhostOf() reads the vhost from the URL's path", () => {
  assert.equal(vhostOf("amqp://rabbit:5672"), "/");
  assert.equal(vhostOf("amqp://rabbit:5672/"), "/");
  assert.equal(vhostOf("amqp://rabbit:5672/catalog"), "catalog");
  assert.equal(vhostOf("amqp://rabbit:5672/%2F"), "/");
});

Deno.test("explainUserIdRefusal() says how to let the replay publish as the command service", () => {
  const said =
    "PRECONDITION_FAILED - user_id property set to 'catalog-command' but authenticated user was 'catalog-dlq'";
  const users = { connectedAs: "catalog-dlq", publishingAs: "catalog-command" };
  assert.equal(
    explainUserIdRefusal(said, users),
    'RabbitMQ refused to let user "catalog-dlq" publish commands as the command service\'s user ' +
      `"catalog-command" (${said}); give "catalog-dlq" the impersonator tag, or replay with the ` +
      "command service's RabbitMQ user (see the RabbitMQ users in docs/operations.md)",
  );
  assert.equal(explainUserIdRefusal("the channel closed", users), "the channel closed");
});
