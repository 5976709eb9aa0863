/**
 * A request's fingerprint: the SHA-256 of its command type and normalised
 * payload, as canonical JSON (object keys sorted). Two requests with the same
 * fingerprint ask for the same thing, so an idempotency key reused with the
 * same request keeps its command id, and reused with another request does not.
 */
export async function fingerprintOf(type: string, payload: unknown): Promise<string> {
  const canonical = JSON.stringify(
    [type, payload],
    (_key, value) =>
      value && typeof value === "object" && !Array.isArray(value)
        ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
        : value,
  );
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}
