/**
 * Reading the trail for people and scripts (`etc-lane audit tail|search|export`): entries in order across
 * segment files (anchors skipped), one timeline row per entry for records and events alike, and the
 * filters staff search by. Reading never checks hashes: that is `audit verify`.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { trailAlarmCode } from "./alarm-codes.js";
import { type AuditEntry, parseEntry } from "./entry.js";
import { isRecordType, type RecordEntryData } from "./records.js";
import {
  linesBackwards,
  linesBackwardsChunks,
  listSegments,
  readFirstLine,
  readSegment,
} from "./segments.js";

/** One row of the timeline. */
export interface TimelineRow {
  seq: number;
  /** the lane's local time with offset, as written */
  time: string;
  utc: string;
  severity: string;
  type: string;
  /** record kind (transaction | stop | suspect) or the event type */
  kind: string;
  /** outcome or stop reason of a record; code or reason of an event */
  reason: string | null;
  card: string | null;
  /** OBU serial, else its MAC id */
  obu: string | null;
  obuId: string | null;
  plate: string | null;
  /** fen */
  amount: number | null;
  tradeId: string | null;
  message: string;
}

const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);

export function toRow(e: AuditEntry): TimelineRow {
  const d = (e.data ?? {}) as Record<string, unknown>;
  if (isRecordType(e.type)) {
    const r = d as unknown as RecordEntryData;
    return {
      seq: e.seq,
      time: e.time,
      utc: e.utc,
      severity: e.severity,
      type: e.type,
      kind: str(r.kind) ?? "record",
      reason: str(r.outcome),
      card: str(r.cardId),
      obu: str(r.obuSerial) ?? str(r.obuId),
      obuId: str(r.obuId),
      plate: str(r.plate),
      amount: typeof r.amount === "number" ? r.amount : null,
      tradeId: str(r.rec?.tradeId),
      message: e.message,
    };
  }
  return {
    seq: e.seq,
    time: e.time,
    utc: e.utc,
    severity: e.severity,
    type: e.type,
    kind: e.type,
    reason:
      str(d.code) ??
      // the trail's own alarm entries written before they carried their code (./alarm-codes.ts)
      trailAlarmCode(e.type) ??
      str(d.reason) ??
      (e.type.endsWith(".link") || e.type === "uplink.state" ? (str(d.to) ?? str(d.state)) : null),
    card: str(d.cardId),
    obu: str(d.obuSerial) ?? str(d.obuId),
    obuId: str(d.obuId),
    plate: str(d.plate),
    amount: typeof d.amount === "number" ? d.amount : null,
    tradeId: str(d.tradeId),
    message: e.message,
  };
}

export interface SearchFilter {
  /** epoch ms, inclusive */
  since?: number;
  /** epoch ms, exclusive */
  until?: number;
  card?: string;
  /** OBU serial or MAC id */
  obu?: string;
  /** part of the plate */
  plate?: string;
  /** outcome, stop reason, event code or reason */
  reason?: string;
  /**
   * any of: a record kind (transaction, stop, suspect), "record" (all records), an event type
   * (lane.start) or its first part (uplink matches uplink.state)
   */
  kinds?: string[];
  /** the entry's severity (info, warn, alarm): the page's "alarm" kind is every alarm entry */
  severity?: string;
}

const eq = (a: string | null, b: string): boolean => a !== null && a.toLowerCase() === b.toLowerCase();

/** The forms of a card number (network 4 + serial 16, hex as the card's files are read) and an OBU id. */
const CARD_ID = /^[0-9A-Fa-f]{20}$/;
const OBU_ID = /^(?:[0-9A-Fa-f]{16}|[0-9A-Fa-f]{8})$/;

/** A letter or digit (lower case: the text is lowered first). */
const wordChar = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 97 && c <= 122);

/**
 * Whether `text` names `id` as a word of its own, in any case: no letter or digit right before or after
 * it (the way maskCardIds in src/service/format.ts finds card numbers), so one id is never found inside a
 * longer one (a trade id, a hash).
 */
export function namesId(text: string, id: string): boolean {
  const hay = text.toLowerCase();
  const needle = id.toLowerCase();
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + 1))
    if (!wordChar(hay.charCodeAt(i - 1)) && !wordChar(hay.charCodeAt(i + needle.length))) return true;
  return false;
}

/**
 * An entry about the card or OBU `id` that names it only in its message: the lane's alarms and the booth's
 * entries written before they carried the ids in their data (src/audit/events.ts EntryIds), and those
 * naming several cards (an unreadable intent's). Only an id of its own form is looked for (a value from
 * the page's form may be anything).
 */
function messageNames(e: AuditEntry, id: string, form: RegExp): boolean {
  return typeof e.message === "string" && form.test(id) && namesId(e.message, id);
}

export function matches(e: AuditEntry, row: TimelineRow, f: SearchFilter): boolean {
  const t = Date.parse(e.utc);
  if (f.since !== undefined && !(t >= f.since)) return false;
  if (f.until !== undefined && !(t < f.until)) return false;
  // a card read as hex: either case
  if (f.card !== undefined && !eq(row.card, f.card) && !messageNames(e, f.card, CARD_ID)) return false;
  if (f.obu !== undefined && !eq(row.obu, f.obu) && !eq(row.obuId, f.obu) && !messageNames(e, f.obu, OBU_ID))
    return false;
  if (f.plate !== undefined && !(row.plate ?? "").toLowerCase().includes(f.plate.toLowerCase())) return false;
  if (f.reason !== undefined && !eq(row.reason, f.reason)) return false;
  if (f.severity !== undefined && e.severity !== f.severity) return false;
  if (f.kinds !== undefined && f.kinds.length > 0) {
    const rec = isRecordType(e.type);
    const hit = f.kinds.some(
      (k) =>
        eq(row.kind, k) ||
        e.type === k ||
        e.type.startsWith(`${k}.`) ||
        (k === "record" && rec) ||
        (k === "event" && !rec),
    );
    if (!hit) return false;
  }
  return true;
}

/**
 * How far before `since` the readers below go on reading. Entry times are the lane's wall clock, which
 * can be stepped back (NTP, an RTC kept in local time read as UTC: 8 h ahead at +08:00): entries written
 * before such a step carry later times than some written after it, so the first entry older than `since`
 * does not mean that every entry before it is older too. Reading on until an entry older than
 * `since - SINCE_CLOCK_SLACK_MS` finds every entry at or after `since` as long as no step back was
 * larger than this (docs/audit.md, "Operator guide").
 */
export const SINCE_CLOCK_SLACK_MS = 12 * 3_600_000;

/**
 * Whether `e` follows on from the entry read before it (seq `prev`): the next seq, or an `audit.gap`
 * entry naming the seqs in between as missing (the start goes on after a gap from the head copy's seq,
 * src/audit/recovery.ts compareWithHeadCopy).
 */
export function followsOn(prev: number, e: AuditEntry): boolean {
  if (e.seq === prev + 1) return true;
  if (e.type !== "audit.gap") return false;
  const m = (e.data as { missing?: { from?: unknown; to?: unknown } } | undefined)?.missing;
  return m?.from === prev + 1 && m.to === e.seq - 1;
}

/**
 * Every entry in order, oldest first, with its raw line. A file whose successor's anchor (its closing
 * checkpoint) is older than `sinceMs` by more than SINCE_CLOCK_SLACK_MS is skipped without being read.
 * A torn last line is not read (readSegment); a whole line that is not an entry (damage the lane kept as
 * evidence, src/audit/recovery.ts, with the chain going on after it) is skipped and told to `onDamaged`,
 * never the end of the reading: the entries after it are as much the trail's. Only an anchor is skipped
 * as a repeat: a file's first line whose seq is that of the entry the file before it ended with. Every
 * other entry is read, one whose seq does not follow on from the entry before it (followsOn: a line
 * changed or damaged to another seq) too, told to `onOutOfOrder` (not after a damaged line, told already),
 * so one line with a wrong seq never hides the entries after it.
 */
export function* readTrail(
  dir: string,
  o: {
    sinceMs?: number;
    onDamaged?: (file: string, lineNo: number) => void;
    onOutOfOrder?: (file: string, lineNo: number, seq: number, after: number) => void;
  } = {},
): Generator<{ entry: AuditEntry; line: Buffer }> {
  const segs = listSegments(dir);
  // the entry read just before (null at the start, and after a file skipped); whether a damaged line was
  let prev: AuditEntry | null = null;
  let afterDamaged = false;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i]!;
    const next = segs[i + 1];
    if (o.sinceMs !== undefined && next) {
      const a = readFirstLine(next.path);
      const e = a ? parseEntry(a.toString("utf8")) : null;
      if (e && Date.parse(e.utc) < o.sinceMs - SINCE_CLOCK_SLACK_MS) {
        prev = null;
        continue;
      }
    }
    const { lines } = readSegment(seg.path);
    for (const [n, line] of lines.entries()) {
      const entry = parseEntry(line.toString("utf8"));
      if (!entry) {
        o.onDamaged?.(seg.name, n + 1);
        afterDamaged = true;
        continue;
      }
      // an anchor repeats the entry the previous file ended with
      if (n === 0 && prev !== null && entry.seq === prev.seq) continue;
      if (prev !== null && !afterDamaged && !followsOn(prev.seq, entry))
        o.onOutOfOrder?.(seg.name, n + 1, entry.seq, prev.seq);
      prev = entry;
      afterDamaged = false;
      yield { entry, line };
    }
  }
}

/**
 * The newest `n` entries, oldest first. Read backwards, a file's last entry is skipped only when it is the
 * entry the next file's anchor repeated (read already, as that anchor), also when damaged lines (not
 * entries, skipped) come after it; no other line is skipped for its seq, so one line with a wrong seq
 * never hides the entries before it.
 */
export function lastEntries(dir: string, n: number): { entry: AuditEntry; line: Buffer }[] {
  const out: { entry: AuditEntry; line: Buffer }[] = [];
  if (n <= 0) return out;
  const segs = listSegments(dir);
  let newer: number | null = null; // the seq of the entry read just before (the next file's anchor at a file's end)
  for (let i = segs.length - 1; i >= 0 && out.length < n; i--) {
    let fileEnd = true;
    for (const { line } of linesBackwards(segs[i]!.path, completeEnd(segs[i]!.path))) {
      const entry = parseEntry(line.toString("utf8"));
      // a line that is not an entry (damage kept as evidence) is skipped and leaves the file's end where it
      // was: the entry before it is still the one the next file's anchor repeated
      if (!entry) continue;
      const anchored = fileEnd && entry.seq === newer;
      fileEnd = false;
      if (anchored) continue;
      newer = entry.seq;
      out.push({ entry, line });
      if (out.length >= n) break;
    }
  }
  return out.reverse();
}

/** A file's size up to and including its last newline (a torn fragment after it is not read). */
export function completeEnd(path: string): number {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    let pos = size;
    const buf = Buffer.alloc(4096);
    while (pos > 0) {
      const len = Math.min(buf.length, pos);
      pos -= len;
      readSync(fd, buf, 0, len, pos);
      const nl = buf.subarray(0, len).lastIndexOf(10);
      if (nl >= 0) return pos + nl + 1;
    }
    return 0;
  } finally {
    closeSync(fd);
  }
}

const nextTurn = (): Promise<void> => new Promise<void>((r) => setImmediate(r));

/** What searchNewest found. */
export interface NewestSearch {
  rows: { entry: AuditEntry; row: TimelineRow }[];
  /** more entries matched than `limit` */
  truncated: boolean;
  /** entries read */
  scanned: number;
  /**
   * the search stopped at `maxScan` entries before reaching the trail's start (or `since` less
   * SINCE_CLOCK_SLACK_MS): older entries were not read. `reachedAt` is the oldest entry read (epoch ms).
   */
  partial: { reachedAt: number } | null;
}

/**
 * The newest `limit` entries that match, newest first, for a running lane's maintenance page: each file
 * is read from its end backwards in chunks of 64 KiB in the thread pool (linesBackwardsChunks in
 * ./segments.ts), a whole turn of the event loop before each chunk's lines, which are parsed in slices
 * of at most `sliceMs` of the caller's thread, a turn between slices too: no stretch of the caller's
 * thread reads or splits more than one chunk, so the lane's frames never wait for a search.
 * Stops as soon as one more match than `limit` is found (`truncated`), or at the first entry older than
 * `filter.since` by more than SINCE_CLOCK_SLACK_MS (the entries in between are read, and match only
 * when a step back of the clock put them at or after `since`). Every filter, severity included, is
 * applied as the entries are read, so the rows kept are never more than `limit`; `scanned` is how many
 * entries were read. Stops after `maxScan` entries (`partial`), and rejects with the signal's reason as
 * soon as `signal` is aborted (checked after each chunk read and between slices).
 */
export async function searchNewest(
  dir: string,
  filter: SearchFilter,
  limit: number,
  o: { sliceMs?: number; maxScan?: number; signal?: AbortSignal } = {},
): Promise<NewestSearch> {
  const sliceMs = o.sliceMs ?? 1;
  const maxScan = o.maxScan ?? Number.POSITIVE_INFINITY;
  const signal = o.signal;
  signal?.throwIfAborted();
  let scanned = 0;
  const rows: { entry: AuditEntry; row: TimelineRow }[] = [];
  const segs = listSegments(dir);
  // the seq of the entry read just before: a file's last entry (damaged lines after it aside) that the
  // next file's anchor repeated (read already, as that anchor) is skipped; no other line is skipped for its seq, so one line with a wrong
  // seq never hides the entries before it
  let newer: number | null = null;
  let reachedAt = Number.NaN;
  let t0: number;
  for (let i = segs.length - 1; i >= 0; i--) {
    // each file from its end, a chunk at a time (read in the thread pool): the lane's thread never splits
    // or holds a whole 16 MiB segment, and gets a turn of its event loop at every chunk
    try {
      // for await closes the file however the loop is left (a return, an abort)
      let fileEnd = true;
      for await (const lines of linesBackwardsChunks(segs[i]!.path)) {
        // a whole turn of the event loop (timers and immediates too, not only I/O) before each chunk
        await nextTurn();
        signal?.throwIfAborted();
        t0 = performance.now();
        for (const line of lines) {
          if (performance.now() - t0 > sliceMs) {
            await nextTurn();
            signal?.throwIfAborted();
            t0 = performance.now();
          }
          const entry = parseEntry(line.toString("utf8"));
          // a damaged line is skipped and leaves the file's end where it was (as in lastEntries)
          if (!entry) continue;
          const anchored = fileEnd && entry.seq === newer;
          fileEnd = false;
          if (anchored) continue;
          newer = entry.seq;
          if (scanned >= maxScan) return { rows, truncated: false, scanned, partial: { reachedAt } };
          scanned++;
          reachedAt = Date.parse(entry.utc);
          // not at the first entry older than `since`: one written before the clock was stepped back
          // can still be at or after it (SINCE_CLOCK_SLACK_MS)
          if (filter.since !== undefined && reachedAt < filter.since - SINCE_CLOCK_SLACK_MS)
            return { rows, truncated: false, scanned, partial: null };
          const row = toRow(entry);
          if (!matches(entry, row, filter)) continue;
          if (rows.length === limit) return { rows, truncated: true, scanned, partial: null };
          rows.push({ entry, row });
        }
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e; // else deleted by retention meanwhile
    }
  }
  return { rows, truncated: false, scanned, partial: null };
}
