import assert from "node:assert/strict";
import { parseDlqArgs } from "./dlq_args.ts";

Deno.test("parseDlqArgs() reads list, replay of ids and replay of all, with -- anywhere", () => {
  assert.deepEqual(parseDlqArgs(["list"]), { tool: "list" });
  assert.deepEqual(parseDlqArgs(["list", "--"]), { tool: "list" });
  assert.deepEqual(parseDlqArgs(["replay", "--", "c-1", "c-2"]), {
    tool: "replay",
    select: ["c-1", "c-2"],
  });
  assert.deepEqual(parseDlqArgs(["replay", "--", "--all"]), { tool: "replay", select: "all" });
  assert.deepEqual(parseDlqArgs(["replay", "--all"]), { tool: "replay", select: "all" });
});

Deno.test("parseDlqArgs() answers help to --help or -h", () => {
  assert.deepEqual(parseDlqArgs(["list", "--help"]), { tool: "help" });
  assert.deepEqual(parseDlqArgs(["replay", "--", "-h"]), { tool: "help" });
});

Deno.test("parseDlqArgs() names the mistake in a command line", () => {
  assert.deepEqual(parseDlqArgs(["list", "c-1"]), {
    mistake: "Cannot list dead letters: list takes no arguments",
  });
  assert.deepEqual(parseDlqArgs(["replay"]), {
    mistake: "Cannot replay dead letters: name the command ids to replay, or --all",
  });
  assert.deepEqual(parseDlqArgs(["replay", "--all", "c-1"]), {
    mistake: "Cannot replay dead letters: give either --all or command ids, not both",
  });
  assert.deepEqual(parseDlqArgs(["replay", "--force"]), {
    mistake: "Cannot replay: unknown option --force",
  });
  assert.deepEqual(parseDlqArgs(["purge"]), {
    mistake: 'Cannot run the dead-letter tools: unknown tool "purge"',
  });
  assert.deepEqual(parseDlqArgs([]), {
    mistake: 'Cannot run the dead-letter tools: unknown tool ""',
  });
});
