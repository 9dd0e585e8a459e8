/**
 * Where the trail says from which journal seq on the journal is bound to it (docs/audit.md, "Journal
 * binding"): the `journal.bound` entry the lane writes once, and every `audit.retention` entry after it,
 * which restates that binding (`bound: { boundFrom, seq }`, seq being the journal.bound entry's) so that it
 * outlives the file that held the journal.bound entry.
 *
 * - The lane reads it from its kept files at open when journal.db says the journal is not bound yet
 *   (src/audit/journal-trail.ts): found, it writes no second journal.bound entry (journal.db's marker is
 *   not trusted alone).
 * - Audit retention reads it from the files it deletes (./retention.ts): the `audit.retention` entry
 *   carries it on.
 * - `audit verify` (./verify-journal.ts) takes it from the journal.bound entry, or from a sealed audit.retention
 *   entry when retention deleted that entry.
 */
import { readFileSync } from "node:fs";
import { listSegments } from "./segments.js";

export interface BindingMark {
  /** the first journal seq bound to the trail */
  boundFrom: number;
  /** the seq of the `journal.bound` entry that fixed it */
  seq: number;
}

const isSeq = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 1;

/** A valid `{ boundFrom, seq }` (an audit.retention entry's `bound` member), else null. */
export function bindingMarkOf(v: unknown): BindingMark | null {
  const b = v as { boundFrom?: unknown; seq?: unknown } | null | undefined;
  return b && typeof b === "object" && isSeq(b.boundFrom) && isSeq(b.seq)
    ? { boundFrom: b.boundFrom, seq: b.seq }
    : null;
}

/** The binding an entry states: a journal.bound entry's own, or the one an audit.retention entry carries. */
export function bindingMarkOfEntry(e: { seq: number; type: string; data?: unknown }): BindingMark | null {
  const d = e.data as { boundFrom?: unknown; bound?: unknown } | undefined;
  if (e.type === "journal.bound") return isSeq(d?.boundFrom) ? { boundFrom: d.boundFrom, seq: e.seq } : null;
  if (e.type === "audit.retention") return bindingMarkOf(d?.bound);
  return null;
}

const NEEDLES = ['"type":"journal.bound"', '"type":"audit.retention"'].map((s) => Buffer.from(s));

/**
 * The newest binding a segment's bytes state, or null. Found by the bytes of the two entry types (a
 * memchr-speed search, no line is parsed but those), then each candidate line parsed and its top-level
 * type checked (the same bytes inside another entry's data do not count).
 */
export function newestBindingMark(buf: Buffer): BindingMark | null {
  const at = NEEDLES.map((n) => buf.lastIndexOf(n));
  for (;;) {
    const i = at[0]! >= at[1]! ? 0 : 1;
    const pos = at[i]!;
    if (pos < 0) return null;
    const start = buf.lastIndexOf(10, pos) + 1;
    const nl = buf.indexOf(10, pos);
    const end = nl < 0 ? buf.length : nl;
    try {
      const e = JSON.parse(buf.toString("utf8", start, end)) as { seq: number; type: string; data?: unknown };
      const m = isSeq(e.seq) ? bindingMarkOfEntry(e) : null;
      if (m) return m;
    } catch {
      // not a complete line (a torn tail): look further back
    }
    at[i] = start > 0 ? buf.lastIndexOf(NEEDLES[i]!, start - 1) : -1;
  }
}

/**
 * The newest binding the kept segment files state, reading them newest first and stopping at the first
 * that states one. Reads every file when none does (a trail the journal was never bound to: once, at the
 * first start on this version).
 */
export function findBindingMark(dir: string): BindingMark | null {
  const segs = listSegments(dir);
  for (let i = segs.length - 1; i >= 0; i--) {
    const m = newestBindingMark(readFileSync(segs[i]!.path));
    if (m) return m;
  }
  return null;
}
