/**
 * Polls check() every 25 ms until it answers true, for tests that wait on
 * another process. A check that throws counts as "not yet"; after timeoutMs it
 * fails, naming what it waited for and the last error, if any.
 */
export async function eventually(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (true) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error
        ? `: last check failed with ${lastError.message}`
        : "";
      throw new Error(`Timed out waiting for ${what}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
