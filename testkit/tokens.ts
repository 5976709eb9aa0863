import { type Role, signDevelopmentToken } from "@catalog/runtime/auth";

/**
 * Tokens for tests and harnesses, signed with the development secret the
 * services verify with when AUTH_JWT_SECRET is unset.
 */

/** A token of subject with role, valid for a day. */
export function tokenFor(subject: string, role?: Role): Promise<string> {
  return signDevelopmentToken({ subject, ...(role ? { role } : {}), expiresIn: "24h" });
}

/** The subject of writerToken: the actor the command log records for test mutations. */
export const TEST_WRITER = "test-writer";

/** A catalog:write token, which every test that mutates sends. */
export const writerToken: string = await tokenFor(TEST_WRITER, "catalog:write");

/** A catalog:read token: enough to read, not to write. */
export const readerToken: string = await tokenFor("test-reader", "catalog:read");

/**
 * Environment a test stack runs with beside its sandbox: the per-client rate
 * limit off, since load tests send thousands of requests from one address; a
 * higher cap on unpaged lists, which the fault scenarios read whole after
 * creating more than a thousand categories; and admission bounds far above
 * the 48 submits in flight that several scenarios send on purpose (the rate
 * limit, the cap and admission have their own tests: the overload scenario
 * and the benchmark's overload row run with the defaults, see
 * defaultAdmissionEnv).
 */
export const testStackEnv: Record<string, string> = {
  RATE_LIMIT_PER_MINUTE: "0",
  MAX_LIST_ITEMS: "10000",
  ADMISSION_MUTATIONS: "10000",
  ADMISSION_READS: "10000",
};

/** Over testStackEnv: the gateway's own admission defaults (an empty variable counts as unset). */
export const defaultAdmissionEnv: Record<string, string> = {
  ADMISSION_MUTATIONS: "",
  ADMISSION_READS: "",
};
