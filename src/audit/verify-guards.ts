/**
 * What `audit verify` checks besides the chain, the seals and the rows (./verify.ts; docs/audit.md,
 * "Verify"): that the trail is as complete as the lane leaves it, and that what it reads of the spool is
 * what the lane writes there.
 *
 * - The unsealed tail. Entries after the last checkpoint carry no signature: anyone who can write the data
 *   directory can drop every checkpoint, renumber and re-chain the rest, and the chain alone holds. The
 *   lane never leaves such a tail long (./trail.ts): it seals after `checkpointEvery` entries and every
 *   `checkpointIntervalSeconds`, at once when it opens a trail a crash left unsealed, at once after a
 *   wall-clock step and when it stops. A tail with more entries, or spanning more entry time, than that
 *   (plus the margins below) is not one the lane left.
 * - A bound journal needs its trail. journal.db shows the lane bound its journal to a trail (the meta key
 *   `audit_bound_entry`, a row naming an audit seq, or a record at all with the binding's schema): a trail
 *   with no entries, or with neither the `journal.bound` entry nor an `audit.retention` entry (retention
 *   may have deleted the file that held `journal.bound`), was deleted or replaced.
 * - The spool's meta values (`audit_head`, `audit_witness`) are read as data to check, never trusted: a
 *   value that is not what the lane writes (whole numbers, 64-hex hashes, a known state) is a failure
 *   naming its key, and is not used (a witness `n` that is not a number would otherwise turn the witness
 *   checks off, and text in it would reach the operator's terminal).
 */
import { CHECKPOINT_TYPE } from "./checkpoint.js";
import type { AuditEntry } from "./entry.js";
import { linesBackwards, type SegmentFile } from "./segments.js";
import type { AuditHead, AuditSpoolView, SpooledLine, WitnessRecord } from "./spool.js";

/** The lane's checkpoint settings (config `audit.checkpointEvery`, `audit.checkpointIntervalSeconds`). */
export interface TailLimits {
  checkpointEvery: number;
  checkpointIntervalSeconds: number;
}

/** The config's defaults (src/config/schema.ts AuditSection), for a verify without the lane's config. */
export const DEFAULT_TAIL_LIMITS: Readonly<TailLimits> = {
  checkpointEvery: 1000,
  checkpointIntervalSeconds: 60,
};

/**
 * Entries the lane may append past `checkpointEvery` before the checkpoint it started then is in the chain:
 * the signature is made in libuv's thread pool (about a millisecond, but queued behind the segment file's
 * and the journal's fdatasyncs on slow storage: up to seconds), and the lane thread keeps appending
 * meanwhile (a burst of events can be hundreds a second).
 */
export const TAIL_ENTRY_MARGIN = 1000;

/** The most `audit.checkpointEvery` the config accepts (src/config/schema.ts AuditSection). */
export const MAX_CHECKPOINT_EVERY = 1_000_000;

/**
 * The most entries any stretch between checkpoints may hold, whatever the limits verify judges the tail by:
 * no lane leaves more unsealed with any config. Past it the walk stops at once, checkpoint marks after it
 * or not (TrailCompleteness.see), so a stripped trail with a line holding the checkpoint's type near its
 * end is not held in memory to its end either.
 */
export const TAIL_ENTRY_CAP = MAX_CHECKPOINT_EVERY + TAIL_ENTRY_MARGIN;

/**
 * Entry time the tail may span past `checkpointIntervalSeconds`: the interval timer fires late when the
 * lane thread is busy, the signature waits in the thread pool as above, and a wall-clock step smaller than
 * the one the lane seals at (./trail.ts CLOCK_STEP_MS) shows in the entry times.
 */
export const TAIL_TIME_MARGIN_SECONDS = 60;

export interface TailLimitsUsed extends TailLimits {
  /** the most entries an unsealed tail may hold */
  maxEntries: number;
  /** the most entry time (seconds) it may span, from its first entry to the newest entry of the trail */
  maxSeconds: number;
  /** the most entries any stretch between checkpoints may hold (TAIL_ENTRY_CAP; never below maxEntries) */
  capEntries: number;
}

/** `cap`: TAIL_ENTRY_CAP, lowered only by tests (a million entries to walk) */
export function tailLimitsUsed(l: TailLimits = DEFAULT_TAIL_LIMITS, cap = TAIL_ENTRY_CAP): TailLimitsUsed {
  const maxEntries = l.checkpointEvery + TAIL_ENTRY_MARGIN;
  return {
    checkpointEvery: l.checkpointEvery,
    checkpointIntervalSeconds: l.checkpointIntervalSeconds,
    maxEntries,
    maxSeconds: l.checkpointIntervalSeconds + TAIL_TIME_MARGIN_SECONDS,
    capEntries: Math.max(maxEntries, cap),
  };
}

const CHECKPOINT_MARK = `"type":"${CHECKPOINT_TYPE}"`;
const SEQ_PREFIX = /^\{"seq":(\d+),/;

/**
 * The seq of the newest line in the files or the spool's lines that may be a checkpoint (it holds the
 * checkpoint's type anywhere, also inside another entry's data); 0 when none does. Past it no checkpoint
 * can seal the unsealed tail, so the walk judges the tail's length as it goes (TrailCompleteness
 * noSealAfter). Read backwards from the newest file: on a sealed trail, within its last checkpoint's range.
 * Such a line can be forged anywhere, so this only brings the judgement forward: the walk's memory is
 * bounded by TAIL_ENTRY_CAP whatever it says.
 */
export function lastCheckpointMarkSeq(
  segs: readonly SegmentFile[],
  spoolLines: readonly SpooledLine[],
): number {
  let seq = 0;
  for (const l of spoolLines) if (l.line.includes(CHECKPOINT_MARK)) seq = Math.max(seq, l.seq);
  return Math.max(seq, lastMarkInFiles(segs));
}

function lastMarkInFiles(segs: readonly SegmentFile[]): number {
  for (let i = segs.length - 1; i >= 0; i--)
    for (const { line } of linesBackwards(segs[i]!.path)) {
      if (!line.includes(CHECKPOINT_MARK)) continue;
      const m = SEQ_PREFIX.exec(line.subarray(0, 32).toString("latin1"));
      // a line whose seq cannot be read: no early judgement (the walk stops at it anyway)
      return m ? Number(m[1]) : Number.POSITIVE_INFINITY;
    }
  return 0;
}

/** What journal.db says about the journal's binding (src/journal/audit-binding.ts JournalBindingRows). */
export interface JournalBindingMarks {
  /** the meta key `audit_bound_entry` is set: the lane wrote the `journal.bound` entry */
  boundEntry: boolean;
  /** rows that name an audit seq */
  boundRows: number;
  /** meta `last_seq`: the journal's last record seq (0: none yet) */
  lastSeq: number;
}

/**
 * Watches the walk of ./verify-walk.ts: every entry in chain order (`see`), every checkpoint (`sealed`), then
 * judges the tail and the trail's completeness.
 */
export class TrailCompleteness {
  private entries = 0;
  private journalBound = false;
  private auditRetention = false;
  /** entries after the last checkpoint's range, other than checkpoint entries: seq and UTC time */
  private tail: { seq: number; utc: string }[] = [];
  private newestUtc = "";
  private newestSeq = 0;
  private sealedTo = 0;
  /** no line after this seq can be a checkpoint (lastCheckpointMarkSeq); default: any may be */
  private noSealAfter = Number.POSITIVE_INFINITY;

  constructor(readonly limits: TailLimitsUsed) {}

  /**
   * No checkpoint follows seq `seq` in the files or the spool: past it, a tail longer than the lane leaves
   * is judged at once (see), so a trail stripped of its checkpoints is not held in memory to its end.
   */
  noCheckpointAfter(seq: number): void {
    this.noSealAfter = seq;
  }

  /**
   * An entry in chain order. Returns the tail problem when the unsealed tail has just grown past the
   * limit with no checkpoint left to seal it, or past TAIL_ENTRY_CAP at all (the walk stops there); else
   * null.
   */
  see(e: AuditEntry): { seq: number; what: string } | null {
    this.entries++;
    if (e.type === "journal.bound") this.journalBound = true;
    else if (e.type === "audit.retention") this.auditRetention = true;
    this.newestUtc = e.utc;
    this.newestSeq = e.seq;
    // a checkpoint's own entry is covered by the next checkpoint, and is not what it would seal
    if (e.type !== CHECKPOINT_TYPE && e.seq > this.sealedTo) this.tail.push({ seq: e.seq, utc: e.utc });
    const l = this.limits;
    if (this.tail.length <= l.maxEntries) return null;
    const from = this.tail[0]!.seq;
    if (this.tail.length > l.capEntries)
      return {
        seq: from,
        what:
          `the entries from seq ${from} hold more than ${l.capEntries} without a checkpoint (verify stopped at seq ${e.seq}); ` +
          `no lane leaves that many unsealed with any config (checkpointEvery at most ${MAX_CHECKPOINT_EVERY}, plus the ` +
          `margin of ${TAIL_ENTRY_MARGIN}): checkpoints were removed, or the chain was rebuilt without them`,
      };
    if (e.seq <= this.noSealAfter) return null;
    return {
      seq: from,
      what:
        `the unsealed tail from seq ${from} holds more than ${l.maxEntries} entries (verify stopped at seq ${e.seq}, ` +
        `with no checkpoint after it); the lane seals every ${l.checkpointEvery} (at most ${l.maxEntries} unsealed ` +
        "with the margin): checkpoints were removed, or the chain was rebuilt without them",
    };
  }

  /** A checkpoint (or the oldest kept file's anchor) over entries up to `to`. */
  sealed(to: number): void {
    this.sealedTo = Math.max(this.sealedTo, to);
    let keep = 0;
    while (keep < this.tail.length && this.tail[keep]!.seq <= this.sealedTo) keep++;
    if (keep > 0) this.tail = this.tail.slice(keep);
  }

  /** The unsealed tail: its entries and the entry time from its first entry to the newest of the trail. */
  unsealed(): { entries: number; from: number | null; spanSeconds: number; untimed: number | null } {
    const first = this.tail[0];
    if (!first) return { entries: 0, from: null, spanSeconds: 0, untimed: null };
    let lo = Number.POSITIVE_INFINITY;
    let hi = Date.parse(this.newestUtc);
    // an entry time that is not a time cannot be measured: it is named, never read as no time at all
    let untimed: number | null = Number.isNaN(hi) ? this.newestSeq : null;
    for (const t of this.tail) {
      const ms = Date.parse(t.utc);
      if (Number.isNaN(ms)) untimed ??= t.seq;
      if (ms < lo) lo = ms;
      if (ms > hi) hi = ms;
    }
    const span = untimed === null ? (hi - lo) / 1000 : 0;
    return { entries: this.tail.length, from: first.seq, spanSeconds: span, untimed };
  }

  /** The tail is longer than the lane leaves one: null when it is not. */
  tailProblem(): { seq: number; what: string } | null {
    const u = this.unsealed();
    if (u.from === null) return null;
    const l = this.limits;
    if (u.entries > l.maxEntries)
      return {
        seq: u.from,
        what:
          `the unsealed tail from seq ${u.from} holds ${u.entries} entries; the lane seals every ${l.checkpointEvery} ` +
          `(at most ${l.maxEntries} unsealed with the margin): checkpoints were removed, or the chain was rebuilt without them`,
      };
    if (u.untimed !== null)
      return {
        seq: u.untimed,
        what: `the unsealed tail from seq ${u.from} cannot be measured: the utc time of seq ${u.untimed} is not a time`,
      };
    if (u.spanSeconds > l.maxSeconds)
      return {
        seq: u.from,
        what:
          `the unsealed tail from seq ${u.from} spans ${Math.round(u.spanSeconds)} s of entry time; the lane seals every ` +
          `${l.checkpointIntervalSeconds} s (at most ${l.maxSeconds} s unsealed with the margin): checkpoints were removed, ` +
          "or the chain was rebuilt without them",
      };
    return null;
  }

  /** journal.db shows a bound journal but the trail lacks what binding it wrote: null when it does not. */
  boundJournalProblem(m: JournalBindingMarks): string | null {
    const signs = [
      m.boundEntry ? "meta.audit_bound_entry is set" : null,
      m.boundRows > 0 ? `${m.boundRows} row(s) name an audit entry` : null,
      m.lastSeq > 0 ? `its last record is seq ${m.lastSeq}` : null,
    ].filter((s) => s !== null);
    if (signs.length === 0) return null;
    const why = `journal.db shows a journal bound to the trail (${signs.join(", ")})`;
    if (this.entries === 0) return `${why}, but the trail has no entries: it was deleted`;
    if (!this.journalBound && !this.auditRetention)
      return `${why}, but the trail has no journal.bound entry (and no audit.retention entry that deleted it): the trail was replaced`;
    return null;
  }
}

const HEX64 = /^[0-9a-f]{64}$/;
const isCount = (v: unknown, min: number): v is number =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= min;

/** What is wrong with a head copy as read from the spool, or null when it is what the lane writes. */
export function headCopyProblem(h: unknown): string | null {
  if (h === null || typeof h !== "object" || Array.isArray(h)) return "not a JSON object";
  const o = h as Record<string, unknown>;
  if (!isCount(o.seq, 0)) return "seq is not a whole number";
  if (typeof o.hash !== "string" || !HEX64.test(o.hash)) return "hash is not 64 hex digits";
  return null;
}

/** What is wrong with a witness record as read from the spool, or null when it is what the lane writes. */
export function witnessRecordProblem(w: unknown): string | null {
  if (w === null || typeof w !== "object" || Array.isArray(w)) return "not a JSON object";
  const o = w as Record<string, unknown>;
  if (o.state !== "acknowledged" && o.state !== "conflict")
    return "state is neither acknowledged nor conflict";
  if (!isCount(o.n, 1)) return "n is not a whole number from 1";
  if (!isCount(o.to, 0)) return "to is not a whole number";
  if (typeof o.head !== "string" || !HEX64.test(o.head)) return "head is not 64 hex digits";
  if (typeof o.hash !== "string" || !HEX64.test(o.hash)) return "hash is not 64 hex digits";
  if (typeof o.at !== "string" || Number.isNaN(Date.parse(o.at))) return "at is not a time";
  return null;
}

/**
 * The head copy and the witness record, each checked: a malformed one (or one that is not JSON) is named
 * in `problems` and read as absent.
 */
export function readSpoolMeta(spool: AuditSpoolView | null | undefined): {
  head: AuditHead | null;
  witness: WitnessRecord | null;
  problems: string[];
} {
  const problems: string[] = [];
  const read = <T>(
    key: string,
    what: string,
    get: () => T | null,
    bad: (v: unknown) => string | null,
  ): T | null => {
    let v: T | null;
    try {
      v = get();
    } catch (e) {
      problems.push(`meta.${key} (${what}) cannot be read: ${(e as Error).message}; it was changed`);
      return null;
    }
    if (v === null) return null;
    const p = bad(v);
    if (p === null) return v;
    problems.push(`meta.${key} (${what}) is malformed: ${p}; the lane never writes it so, it was changed`);
    return null;
  };
  if (!spool) return { head: null, witness: null, problems };
  const head = read("audit_head", "the head copy", () => spool.head(), headCopyProblem);
  const witness = read(
    "audit_witness",
    "the station's last word",
    () => spool.witness(),
    witnessRecordProblem,
  );
  return { head, witness, problems };
}
