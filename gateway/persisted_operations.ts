/**
 * Persisted operations: a JSON object whose keys are the sha256 hashes (hex)
 * of the operations that are its values, as Relay's and GraphQL Codegen's
 * persisted-documents output writes it. Clients send
 * `extensions.persistedQuery.sha256Hash` instead of the query.
 */

/** The sha256 hash of an operation's text, in hex, as clients send it. */
export async function operationHash(operation: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(operation));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Reads a persisted-operations file.
 *
 * @throws {Error} naming the file and what is wrong with it: unreadable, not
 *   a JSON object of strings, or a key that is not its operation's hash.
 */
export async function loadPersistedOperations(path: string): Promise<Map<string, string>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    throw new Error(
      `Cannot read the persisted operations in ${path}: ${
        error instanceof Error ? error.message : error
      }`,
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error(`Cannot read the persisted operations in ${path}: it must be a JSON object`);
  }
  const operations = new Map<string, string>();
  for (const [hash, operation] of Object.entries(parsed)) {
    if (typeof operation !== "string") {
      throw new Error(`Cannot read the persisted operations in ${path}: ${hash} is not a string`);
    }
    const actual = await operationHash(operation);
    if (actual !== hash.toLowerCase()) {
      throw new Error(
        `Cannot read the persisted operations in ${path}: key ${hash} is not the sha256 of its operation (${actual})`,
      );
    }
    operations.set(actual, operation);
  }
  return operations;
}
