/** listDeadLetters() where no RabbitMQ is needed: an address nothing listens on. */
import assert from "node:assert/strict";
import { failureOf, freePort } from "@catalog/testkit";
import { DeadLetterError } from "./dead_letter_error.ts";
import { listDeadLetters } from "./list_dead_letters.ts";

Deno.test("listDeadLetters() says RabbitMQ refused the connection", async () => {
  const port = freePort();
  const error = await failureOf(listDeadLetters(`amqp://guest:guest@127.0.0.1:${port}`));
  assert.ok(error instanceof DeadLetterError, String(error));
  assert.equal(
    error.message,
    `Cannot list dead letters: RabbitMQ at amqp://guest:***@127.0.0.1:${port} refused the connection`,
  );
});
