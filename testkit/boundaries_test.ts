/**
 * The tree's boundaries, checked on the import statements of every source
 * file: the services share only the contracts (proto/) and the runtime, no
 * service module imports test code, the contracts import nothing of ours,
 * and the fault suite reaches the worker through its tasks only.
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);
const services = ["command", "query", "worker", "gateway"];

/** Every .ts file under a folder, as a path relative to the repository's root. */
async function sourceFiles(folder: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(new URL(`${folder}/`, root))) {
    const path = `${folder}/${entry.name}`;
    if (entry.isDirectory && entry.name !== "node_modules") files.push(...await sourceFiles(path));
    if (entry.isFile && entry.name.endsWith(".ts")) files.push(path);
  }
  return files;
}

/** Test code: test files, their helpers (`_testing.ts`) and fixtures (`testdata/`). */
function isTestCode(path: string): boolean {
  return /(_test|_testing)\.ts$/.test(path) || path.includes("/testdata/");
}

/** What a file imports, each specifier resolved to a repository path when it is relative. */
async function importsOf(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(new URL(path, root));
  // `import … from "x"`, `export … from "x"` and `import "x"`, over several lines.
  const specifiers = [
    ...text.matchAll(/^\s*(?:import|export)\b(?:[^"';]*?\bfrom\s*)?\s*"([^"]+)"/gm),
  ].map((match) => match[1]!);
  return specifiers.map((specifier) => {
    if (!specifier.startsWith(".")) return specifier;
    return new URL(specifier, new URL(path, root)).pathname.slice(root.pathname.length);
  });
}

/** Every import of a non-test file in these folders that breaks the rule. */
async function violations(
  folders: string[],
  breaks: (target: string, file: string) => boolean,
): Promise<string[]> {
  const found: string[] = [];
  for (const folder of folders) {
    for (const file of await sourceFiles(folder)) {
      if (isTestCode(file)) continue;
      for (const target of await importsOf(file)) {
        if (breaks(target, file)) found.push(`${file} imports ${target}`);
      }
    }
  }
  return found;
}

function isTestKit(target: string): boolean {
  return target === "@catalog/testkit" || target === "@catalog/dev" ||
    /^(testkit|dev|e2e|fault_suite)\//.test(target) || isTestCode(target);
}

Deno.test("no service, runtime or contract module imports test code or the dev runner", async () => {
  assert.deepEqual(await violations([...services, "runtime", "proto"], isTestKit), []);
});

Deno.test("no service imports another service", async () => {
  const found = await violations(services, (target, file) => {
    const own = file.split("/")[0];
    return services.some((service) => service !== own && target.startsWith(`${service}/`));
  });
  assert.deepEqual(found, []);
});

Deno.test("the contracts import nothing of ours but themselves", async () => {
  const found = await violations(
    ["proto"],
    (target) =>
      target.startsWith("@catalog/") || /^(runtime|command|query|worker|gateway)\//.test(target),
  );
  assert.deepEqual(found, []);
});

Deno.test("the fault suite uses the worker's tools through their tasks, not its modules", async () => {
  const found: string[] = [];
  for (const file of await sourceFiles("fault_suite")) {
    for (const target of await importsOf(file)) {
      if (/^(command|query|worker|gateway)\//.test(target)) found.push(`${file} imports ${target}`);
    }
  }
  assert.deepEqual(found, []);
});
