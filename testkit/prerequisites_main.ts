/**
 * `deno task test` runs this first: it checks what the suite needs from the
 * machine (see prerequisites.ts), puts in what it can, and otherwise stops
 * before any test with the commands to run.
 *
 *   deno run --allow-all testkit/prerequisites_main.ts [--no-install]
 *
 * --no-install (or CATALOG_TEST_INSTALL=0) only checks and says what to do.
 */
import { infrastructureFrom } from "@catalog/dev";
import { ensurePrerequisites } from "./prerequisites.ts";

const install = !Deno.args.includes("--no-install") &&
  Deno.env.get("CATALOG_TEST_INSTALL") !== "0";
const missing = await ensurePrerequisites({
  infra: infrastructureFrom(Deno.env.toObject()),
  install,
});
if (missing.problems.length > 0) {
  console.error(
    [
      "Cannot run the tests: this machine lacks what they need.",
      ...missing.problems.map((problem) => `  - ${problem}`),
      "",
      "Put it in, then run `deno task test` again:",
      "",
      ...missing.commands.map((command) => `  ${command}`),
      "",
    ].join("\n"),
  );
  Deno.exit(1);
}
