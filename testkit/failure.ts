/** The error a promise rejects with, for tests that expect a call to fail; fails if it resolves. */
export async function failureOf<E = Error>(promise: Promise<unknown>): Promise<E> {
  try {
    await promise;
  } catch (error) {
    return error as E;
  }
  throw new Error("Expected the call to fail, but it succeeded");
}
