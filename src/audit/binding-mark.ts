/**
 * Where the trail says from which journal seq on the journal is bound to it (docs/audit.md, "Journal
 * binding"): the `journal.bound` entry the lane writes once. `audit verify` (./verify.ts) takes it from
 * there.
 */

export interface BindingMark {
  /** the first journal seq bound to the trail */
  boundFrom: number;
  /** the seq of the `journal.bound` entry that fixed it */
  seq: number;
}

const isSeq = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 1;

/** The binding an entry states: a journal.bound entry's own. */
export function bindingMarkOfEntry(e: { seq: number; type: string; data?: unknown }): BindingMark | null {
  const d = e.data as { boundFrom?: unknown } | undefined;
  if (e.type === "journal.bound") return isSeq(d?.boundFrom) ? { boundFrom: d.boundFrom, seq: e.seq } : null;
  return null;
}
