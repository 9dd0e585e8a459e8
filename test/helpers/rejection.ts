/** What a promise rejects with; throws when it fulfils (a test that expects the rejection then fails). */
export async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}
