/**
 * `audit verify`'s view of the journal's upload state (docs/audit.md, "Journal binding"): every journal
 * record is in exactly one of journal.db's `outbox` (queued for the station), `held` (refused, waiting
 * for an operator) and `acks` (acknowledged), and with a trail bound each move between them commits its
 * entry with it (src/journal/outbox.ts): `uplink.acked`, `uplink.records-held`,
 * `uplink.records-requeued`; a record's entry (`record.commit`, `record.settle`) queues it, but for a
 * `record.settle` of a record the trail has held: the journal keeps one held for a `CONFLICT` held
 * (src/journal/outbox.ts requeueInTx) and puts one held for any other code back in the queue. The
 * `uplink.records-held` entry that held it names its codes (`codes`): a settlement after a hold whose only
 * code is `CONFLICT` leaves the record held, one after a hold without `CONFLICT` queues it; a hold entry
 * naming `CONFLICT` and other codes cannot say which record got which, nor can a hold the statement of
 * the binding names (it names no code), so then the record may be queued, or held with the code
 * `CONFLICT` (HELD_SETTLED). The statement
 * of the binding, written once per journal before any of these (src/audit/journal-trail.ts: the
 * `journal.bound` entry's `uploads`, or an `uplink.bound` entry for a journal an earlier version bound),
 * names the records queued and held at that moment: every other record with an entry before it was
 * acknowledged before the binding.
 *
 * Followed in chain order (`see`), that gives each record's place as the trail has it, and two checks:
 * - a `journal.retention` entry excuses a deleted row only if the trail has that record acknowledged when
 *   the entry comes (an `uplink.acked` entry after its latest record entry, at a time before the batch's
 *   cutoff, or acknowledged before the binding): `retentionProblem`, asked by ./verify-journal.ts;
 * - each judged row of journal.db whose record has an entry in the trail is in exactly one of the three
 *   tables, the one the trail has it in, and acknowledged at the time its `uplink.acked` entry names:
 *   `rowProblems` (a row with no entry is named as inserted by ./verify-journal.ts).
 *
 * Entries past the newest entry the journal.db snapshot the rows are read in knows of (its head copy or
 * the highest audit seq a row names: ./verify-journal.ts; a running lane wrote them after it) are not in that
 * snapshot: the rows are compared with each record's place as of that entry (`limit`). Before the binding (a trail the lane started writing before this version) nothing is
 * compared but the one-table rule. A kept trail without that statement (audit retention deleted its
 * file) that holds an upload entry was bound before its first kept entry: every record entry in it queues
 * its record. A later statement (journal.db's marker was deleted) changes nothing: the first one counts.
 */
import type { AuditEntry } from "./entry.js";
import { isRecordType } from "./records.js";
import type { VerifyProblem } from "./verify-problems.js";

/** One record row's place in journal.db (src/journal/audit-binding.ts JournalBindingRows.uploadRows). */
export interface UploadRow {
  jseq: number;
  /** the audit seq the row names (null: none) */
  auditSeq: number | null;
  tradeId: string;
  queued: boolean;
  held: boolean;
  acked: boolean;
  /** the acks row's at_ms (NaN: not a number; meaningless when not acked) */
  ackAtMs: number;
  /** the held row's code (null: not held; absent: not read) */
  heldCode?: string | null;
}

/** A record's place as the trail has it, and the entry that put it there. */
const NONE = 0;
/** a record entry before the upload state was bound: its place is known once the binding is */
const PRE = 1;
const QUEUED = 2;
const QUEUED_BOUND = 3;
const REQUEUED = 4;
const HELD = 5;
const HELD_BOUND = 6;
const ACKED = 7;
const ACKED_BEFORE = 8;
/** settled while the trail had it held: queued again, or still held when held for a CONFLICT */
const HELD_SETTLED = 9;

const isQueued = (s: number): boolean => s === QUEUED || s === QUEUED_BOUND || s === REQUEUED;
const isHeld = (s: number): boolean => s === HELD || s === HELD_BOUND;
const isAcked = (s: number): boolean => s === ACKED || s === ACKED_BEFORE;

/** HELD: the codes of the uplink.records-held entry that held it (CODES_*) */
const CODES_UNKNOWN = 0;
const CODES_CONFLICT = 1;
const CODES_OTHER = 2;
const CODES_MIXED = 3;

/** The codes an uplink.records-held entry names, as a held slot keeps them. */
function codesOf(v: unknown): number {
  if (!Array.isArray(v) || v.length === 0 || !v.every((c) => typeof c === "string")) return CODES_UNKNOWN;
  const conflict = v.includes("CONFLICT");
  return !conflict ? CODES_OTHER : v.length === 1 ? CODES_CONFLICT : CODES_MIXED;
}

interface Slot {
  state: number;
  /** the entry that put the record there (for ACKED_BEFORE: the statement of the binding) */
  seq: number;
  /** ACKED: the acknowledgement's time the uplink.acked entry names, UTC ms (NaN: none readable) */
  ackAt: number;
  /** HELD: the hold entry's codes (CODES_*); CODES_UNKNOWN otherwise */
  codes?: number;
}

const EMPTY: Slot = { state: NONE, seq: 0, ackAt: Number.NaN };

/**
 * Each journal seq's slot, in typed arrays over the window of seqs the trail names (a Map for seqs far
 * outside it): a kept trail can name millions of records.
 */
class Slots {
  private static readonly WINDOW = 1 << 22;
  private base = -1;
  private state = new Uint8Array(0);
  private seq = new Float64Array(0);
  private ackAt = new Float64Array(0);
  private codes = new Uint8Array(0);
  private readonly far = new Map<number, Slot>();

  get(jseq: number): Slot {
    const i = jseq - this.base;
    if (this.base >= 0 && i >= 0 && i < this.state.length) {
      const state = this.state[i]!;
      return state === NONE
        ? EMPTY
        : { state, seq: this.seq[i]!, ackAt: this.ackAt[i]!, codes: this.codes[i]! };
    }
    return this.far.get(jseq) ?? EMPTY;
  }

  put(jseq: number, s: Slot): void {
    if (this.base < 0) this.base = Math.max(0, jseq - 1024);
    const i = jseq - this.base;
    if (i < 0 || i >= Slots.WINDOW) {
      this.far.set(jseq, s);
      return;
    }
    if (i >= this.state.length) {
      const n = Math.min(Slots.WINDOW, Math.max(i + 1, this.state.length * 2, 4096));
      const grow = <A extends Uint8Array | Float64Array>(a: A, b: A): A => {
        b.set(a);
        return b;
      };
      this.state = grow(this.state, new Uint8Array(n));
      this.seq = grow(this.seq, new Float64Array(n));
      this.ackAt = grow(this.ackAt, new Float64Array(n));
      this.codes = grow(this.codes, new Uint8Array(n));
    }
    this.state[i] = s.state;
    this.seq[i] = s.seq;
    this.ackAt[i] = s.ackAt;
    this.codes[i] = s.codes ?? CODES_UNKNOWN;
  }

  /** The seqs from `from` to `to` that have a slot, in order. */
  *within(from: number, to: number): Iterable<number> {
    if (this.base >= 0) {
      const hi = Math.min(to - this.base, this.state.length - 1);
      for (let i = Math.max(from - this.base, 0); i <= hi; i++)
        if (this.state[i] !== NONE) yield i + this.base;
    }
    for (const j of this.far.keys()) if (j >= from && j <= to) yield j;
  }

  /** Every seq whose slot is in `state`. */
  *inState(state: number): Iterable<number> {
    for (let i = 0; i < this.state.length; i++) if (this.state[i] === state) yield i + this.base;
    for (const [j, s] of this.far) if (s.state === state) yield j;
  }
}

/** How the trail binds the upload state: not yet (or never), at its statement, or before the kept trail. */
type Mode = "unbound" | "at-entry" | "before-trail";

/** `[from, to]` ranges as an entry names them (anything else in the array is skipped), sorted. */
function rangesOf(v: unknown): [number, number][] | null {
  if (!Array.isArray(v)) return null;
  const out: [number, number][] = [];
  for (const r of v as unknown[])
    if (Array.isArray(r) && Number.isSafeInteger(r[0]) && Number.isSafeInteger(r[1]) && r[0] <= r[1])
      out.push([r[0] as number, r[1] as number]);
  return out.sort((a, b) => a[0] - b[0]);
}

function inRanges(ranges: readonly [number, number][], x: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [a, b] = ranges[mid]!;
    if (x < a) hi = mid - 1;
    else if (x > b) lo = mid + 1;
    else return true;
  }
  // overlapping ranges (not the lane's): a linear look settles it
  return ranges.some(([a, b]) => x >= a && x <= b);
}

const iso = (ms: number): string => (Number.isNaN(ms) ? "(not a time)" : new Date(ms).toISOString());

/** The place a slot stands for, as a problem names it. */
function describe(s: Slot): string {
  switch (s.state) {
    case QUEUED:
      return `queued by its entry at seq ${s.seq}`;
    case QUEUED_BOUND:
      return `queued when the upload state was bound (at seq ${s.seq})`;
    case REQUEUED:
      return `back in the queue by the uplink.records-requeued entry at seq ${s.seq}`;
    case HELD:
      return `held by the uplink.records-held entry at seq ${s.seq}${
        s.codes === CODES_CONFLICT ? " for a CONFLICT (a settlement keeps it held)" : ""
      }`;
    case HELD_BOUND:
      return `held when the upload state was bound (at seq ${s.seq})`;
    case ACKED:
      return `acknowledged by the uplink.acked entry at seq ${s.seq}`;
    case ACKED_BEFORE:
      return `acknowledged before the upload state was bound (at seq ${s.seq})`;
    case HELD_SETTLED:
      return `settled while held by its entry at seq ${s.seq}: queued again, or still held for a CONFLICT (its hold does not say which)`;
    default:
      return `recorded by its entry at seq ${s.seq}`;
  }
}

export class UploadStates {
  private readonly slots = new Slots();
  private mode: Mode = "unbound";
  /** the mode and the places as of `limit` (journal.db's snapshot), once the walk is past it */
  private modeAtLimit: Mode | null = null;
  private readonly frozen = new Map<number, Slot>();
  /**
   * per journal.retention entry (its seq), the records it names that the trail does not have
   * acknowledged then; `ifBound`: a record entry before any statement of the binding, a failure only if
   * the trail turns out to be bound before its first kept entry
   */
  private readonly unacked = new Map<number, Map<number, { what: string; ifBound: boolean }>>();

  /** `limit`: the head copy of the journal.db snapshot the rows are read in (entries past it are not) */
  constructor(private readonly limit: number) {}

  /** Every entry, in chain order. */
  see(e: AuditEntry): void {
    if (e.seq > this.limit && this.modeAtLimit === null) this.modeAtLimit = this.mode;
    if (isRecordType(e.type)) {
      const jseq = (e.data as { rec?: { jseq?: unknown } } | undefined)?.rec?.jseq;
      if (Number.isSafeInteger(jseq)) {
        const was = this.slots.get(jseq as number);
        const held = e.type === "record.settle" && isHeld(was.state);
        // held for a CONFLICT alone: the settlement keeps it held (src/journal/outbox.ts requeueInTx)
        if (held && was.state === HELD && was.codes === CODES_CONFLICT) return;
        // held for other codes only: queued again; for codes that mix both, or unknown: either
        const either = held && !(was.state === HELD && was.codes === CODES_OTHER);
        this.set(jseq as number, {
          state: this.mode === "unbound" ? PRE : either ? HELD_SETTLED : QUEUED,
          seq: e.seq,
          ackAt: Number.NaN,
        });
      }
      return;
    }
    const d = e.data as Record<string, unknown> | undefined;
    switch (e.type) {
      case "journal.bound":
      case "uplink.bound": {
        // journal.bound states the upload state only in its `uploads` member (a journal bound from then on)
        const u = (e.type === "journal.bound" ? d?.uploads : d) as Record<string, unknown> | undefined;
        if (u && typeof u === "object") this.boundAt(e.seq, rangesOf(u.queued) ?? [], rangesOf(u.held) ?? []);
        return;
      }
      case "uplink.acked": {
        const ranges = rangesOf(d?.acked);
        if (!ranges) return;
        this.boundBefore();
        const at = typeof d?.at === "string" ? Date.parse(d.at) : Number.NaN;
        this.move(ranges, { state: ACKED, seq: e.seq, ackAt: at });
        return;
      }
      case "uplink.records-held": {
        // an entry without `held` is the uplink's own (a journal not bound, or before this version)
        const ranges = rangesOf(d?.held);
        if (!ranges) return;
        this.boundBefore();
        this.move(ranges, { state: HELD, seq: e.seq, ackAt: Number.NaN, codes: codesOf(d?.codes) });
        return;
      }
      case "uplink.records-requeued": {
        const ranges = rangesOf(d?.requeued);
        if (!ranges) return;
        this.boundBefore();
        this.move(ranges, { state: REQUEUED, seq: e.seq, ackAt: Number.NaN });
        return;
      }
      case "journal.retention": {
        const ranges = rangesOf(d?.deleted);
        if (!ranges) return;
        const cutoff = typeof d?.cutoff === "string" ? Date.parse(d.cutoff) : null;
        this.retained(e.seq, ranges, cutoff);
        return;
      }
    }
  }

  /** A record's place changes: kept as it was at `limit` first, for rowProblems. */
  private set(jseq: number, s: Slot): void {
    if (this.modeAtLimit !== null && !this.frozen.has(jseq)) this.frozen.set(jseq, this.slots.get(jseq));
    this.slots.put(jseq, s);
  }

  /** Moves the records named by `ranges` that the trail has an entry for. */
  private move(ranges: readonly [number, number][], s: Slot): void {
    for (const [from, to] of ranges) for (const jseq of [...this.slots.within(from, to)]) this.set(jseq, s);
  }

  /** The first statement of the binding: every record entry before it gets its place from what it names. */
  private boundAt(seq: number, queued: [number, number][], held: [number, number][]): void {
    if (this.mode !== "unbound") return; // the trail's first statement counts (a later one: marker deleted)
    this.mode = "at-entry";
    for (const jseq of [...this.slots.inState(PRE)]) {
      const state = inRanges(queued, jseq) ? QUEUED_BOUND : inRanges(held, jseq) ? HELD_BOUND : ACKED_BEFORE;
      this.set(jseq, { state, seq, ackAt: Number.NaN });
    }
    // retention before the binding deleted records acknowledged before it: not judged
    this.unacked.forEach((m) => {
      for (const [k, v] of m) if (v.ifBound) m.delete(k);
    });
  }

  /**
   * An upload entry with no statement of the binding before it: the binding was stated in a file audit
   * retention deleted, so every record entry kept is after it and queued its record.
   */
  private boundBefore(): void {
    if (this.mode !== "unbound") return;
    this.mode = "before-trail";
    for (const jseq of [...this.slots.inState(PRE)]) {
      const s = this.slots.get(jseq);
      this.set(jseq, { ...s, state: QUEUED });
    }
    this.unacked.forEach((m) => {
      for (const v of m.values()) v.ifBound = false;
    });
  }

  /** A journal.retention entry: each record it names must be acknowledged in the trail by now. */
  private retained(seq: number, ranges: readonly [number, number][], cutoff: number | null): void {
    let bad: Map<number, { what: string; ifBound: boolean }> | undefined;
    const note = (jseq: number, what: string, ifBound = false): void => {
      bad ??= new Map();
      bad.set(jseq, { what, ifBound });
    };
    for (const [from, to] of ranges)
      for (const jseq of this.slots.within(from, to)) {
        const s = this.slots.get(jseq);
        if (s.state === ACKED_BEFORE) continue;
        if (s.state === ACKED) {
          if (Number.isNaN(s.ackAt))
            note(jseq, `the uplink.acked entry at seq ${s.seq} that acknowledged it names no time`);
          else if (cutoff !== null && !Number.isNaN(cutoff) && !(s.ackAt < cutoff))
            note(
              jseq,
              `the uplink.acked entry at seq ${s.seq} acknowledged it at ${iso(s.ackAt)}, not before that batch's cutoff`,
            );
          continue;
        }
        const what =
          (s.state === PRE
            ? `no uplink.acked entry names it after its entry at seq ${s.seq}`
            : `the trail has it ${describe(s)} and no uplink.acked entry names it since`) +
          ": it was deleted by retention without an acknowledgement in the trail";
        note(jseq, what, s.state === PRE);
      }
    if (bad) this.unacked.set(seq, bad);
  }

  /**
   * Why the journal.retention entry at `retentionSeq` cannot have deleted record `jseq` for want of an
   * acknowledgement in the trail, or null.
   */
  retentionProblem(retentionSeq: number, jseq: number): string | null {
    const u = this.unacked.get(retentionSeq)?.get(jseq);
    if (!u || (u.ifBound && this.mode !== "before-trail")) return null;
    return u.what;
  }

  /**
   * journal.db's rows against the trail: each judged row (`legacy` false) in exactly one of outbox, held
   * and acks, the one the trail has it in (once the upload state is bound), acknowledged at the time its
   * uplink.acked entry names. Each problem names the record (journal seq and trade id).
   */
  *rowProblems(
    rows: Iterable<UploadRow>,
    legacy: (jseq: number, auditSeq: number | null) => boolean,
  ): Iterable<VerifyProblem> {
    const mode = this.modeAtLimit ?? this.mode;
    for (const r of rows) {
      if (legacy(r.jseq, r.auditSeq)) continue;
      const s = this.frozen.get(r.jseq) ?? this.slots.get(r.jseq);
      // no entry for it in the trail (as of the snapshot): the row itself is named (inserted), or was
      // written after the newest entry the snapshot knows of
      if (s.state === NONE) continue;
      const who = `journal record ${r.jseq} (trade ${r.tradeId})`;
      const problem = (what: string): VerifyProblem => ({
        seq: s.seq,
        file: null,
        line: null,
        what: `${who} ${what}`,
      });
      const places = [r.queued ? "outbox" : null, r.held ? "held" : null, r.acked ? "acks" : null].filter(
        (p) => p !== null,
      );
      if (places.length === 0) {
        yield problem(
          "is in none of outbox, held and acks: it was taken out of the upload queue without an acknowledgement (the station may never get it)",
        );
        continue;
      }
      if (places.length > 1) {
        yield problem(
          `is in ${places.join(" and ")} at once: a record is in exactly one of outbox, held and acks`,
        );
        continue;
      }
      if (mode === "unbound" || s.state === PRE) continue;
      if (r.acked) {
        if (!isAcked(s.state))
          yield problem(
            `is acknowledged in journal.db (acks), but the trail has it ${describe(s)} and no uplink.acked entry names it since: ` +
              "an acknowledgement that is not in the trail (the station may never have got the record)",
          );
        else if (s.state === ACKED && r.ackAtMs !== s.ackAt)
          yield problem(
            `was acknowledged at ${iso(r.ackAtMs)} in journal.db (acks), but at ${iso(s.ackAt)} by the uplink.acked entry at seq ${s.seq}: ` +
              "the acknowledgement's time was changed",
          );
      } else if (s.state === HELD_SETTLED) {
        if (r.held && r.heldCode !== undefined && r.heldCode !== "CONFLICT")
          yield problem(
            `is held in journal.db (held, code ${r.heldCode}), but the trail has it ${describe(s)}: ` +
              "a settlement puts a record held for any other code back in the queue",
          );
      } else if (r.queued && !isQueued(s.state))
        yield problem(`is queued in journal.db (outbox), but the trail has it ${describe(s)}`);
      else if (r.held && !isHeld(s.state))
        yield problem(`is held in journal.db (held), but the trail has it ${describe(s)}`);
    }
  }
}
