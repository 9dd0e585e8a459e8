/**
 * Following the trail as the lane writes it (`etc-lane audit tail -f`): each poll reads only the bytes
 * appended since the last one. The follower remembers the segment file it is in and the offset of the end
 * of the last complete line it read there; a poll that finds the file as long as the last one read nothing.
 * Reading never checks hashes: that is `audit verify`.
 *
 * - A partial last line (a write in progress, or a torn tail the lane cuts at its next start) is not an
 *   entry yet: the offset stays at the line's start, and the bytes are read again once the file has grown
 *   (never more than that line, and only when the file's size changed).
 * - Rotation: a newer segment file exists only once the one before it ends with its last line (the
 *   checkpoint the new file's anchor copies, ./segment-writer.ts rotate), so the follower reads the
 *   current file to its end and moves on to the next one from its first byte; the anchor (a file's first
 *   line with the seq of the entry read before it, damaged lines between them aside) repeats an entry
 *   already returned and is skipped. A damaged line (not an entry) is not returned.
 * - At the start, the place is found by position: after the last line, from the end, whose seq is at or
 *   below `after` (locate). The entries after it whose seqs are above that line's and at or below `after`
 *   were shown before (tail printed them from journal.db, and the lane's start writes them to the file)
 *   and are not returned again. Every other line is returned, one whose seq does not follow on from the
 *   entry before it (./search.ts followsOn: a line changed or damaged to another seq) too, told to
 *   `onOutOfOrder`: one line with a wrong seq (too high too, as the newest line when the follower began)
 *   never hides the entries after it.
 * - A file shorter than the offset read (lines removed: the lane never does that, only a torn fragment
 *   after the last newline is cut) or replaced by another file (another inode): `onShrunk` is told and
 *   the place is found again, after the last line, from the end, whose seq is the one of the entry
 *   returned last or at or below `trusted`, the newest entry returned that followed on from the one
 *   before it (an entry returned last with a seq too high or too low is not where the entries after it
 *   are). Of the lines after that place, only those whose seqs are above that line's and at or below
 *   `trusted` are not returned again.
 * - A file deleted meanwhile (retention deletes old ones; the lane's start removes an empty newest one):
 *   the next one is read, or the place is found again at the next poll.
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { type AuditEntry, parseEntry } from "./entry.js";
import { followsOn } from "./search.js";
import { listSegments, type SegmentFile } from "./segments.js";

/** How the follower reads the trail directory: node:fs (nodeFollowFs), or a test's counting wrapper. */
export interface FollowFs {
  /** the segment files, oldest first (./segments.ts listSegments) */
  list(dir: string): SegmentFile[];
  /** the file's size and inode, or null when there is no such file */
  stat(path: string): { size: number; ino: number } | null;
  /** up to `length` bytes from `position` (fewer at the file's end); null when there is no such file */
  read(path: string, position: number, length: number): Buffer | null;
}

const missing = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === "ENOENT";

export const nodeFollowFs: FollowFs = {
  list: (dir) => listSegments(dir),
  stat(path) {
    const st = statSync(path, { throwIfNoEntry: false });
    return st ? { size: st.size, ino: st.ino } : null;
  },
  read(path, position, length) {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (e) {
      if (missing(e)) return null;
      throw e;
    }
    try {
      const buf = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const n = readSync(fd, buf, got, length - got, position + got);
        if (n === 0) break;
        got += n;
      }
      return buf.subarray(0, got);
    } finally {
      closeSync(fd);
    }
  },
};

/** How much is read at a time, forwards and backwards. */
export const FOLLOW_CHUNK_BYTES = 64 * 1024;

interface Place {
  seg: SegmentFile;
  /** the file's inode once seen (null: not yet) */
  ino: number | null;
  /** the end of the last complete line read (its newline included) */
  lineEnd: number;
  /** the file's size at the last read: a poll that finds it unchanged reads nothing */
  seen: number;
}

const EMPTY = Buffer.alloc(0);

export class TrailFollower {
  private at: Place | null = null;
  /** entries up to this seq were shown before (at construction, or before the place was found again) */
  private shown: number;
  /**
   * the seq of the newest entry returned that followed on from the one before it (./search.ts followsOn),
   * or the one given at construction: an entry returned with a seq too high or too low is not one
   */
  private trusted: number;
  /**
   * the seq of the line the place was found after (locate), null when none was found: only the entries
   * above it and at or below `shown` were shown before (those tail printed from journal.db, or returned
   * before the place was found again)
   */
  private placed: number | null = null;
  /** the seq of the entry read just before (an anchor repeats it), kept across a damaged line */
  private prev: number;
  /** a damaged line (not an entry) was read since the entry `prev` */
  private afterDamaged = false;

  /**
   * `after`: the seq of the newest entry already shown (the files' last, or the last tail printed from
   * journal.db); the entries after it are returned. `onShrunk`: a file
   * was found shorter than the bytes read from it, or replaced (see the file's comment). `onOutOfOrder`:
   * an entry returned whose seq does not follow on from the one before it. `onDamaged`: a line that is not
   * an entry, skipped.
   */
  constructor(
    private readonly dir: string,
    private after: number,
    private readonly o: {
      fs?: FollowFs;
      onShrunk?: (file: string, size: number, read: number) => void;
      onOutOfOrder?: (file: string, seq: number, after: number) => void;
      onDamaged?: (file: string) => void;
    } = {},
  ) {
    this.shown = after;
    this.trusted = after;
    this.prev = after;
  }

  private get fs(): FollowFs {
    return this.o.fs ?? nodeFollowFs;
  }

  /** The entry returned last (or the one given at construction). */
  get lastSeq(): number {
    return this.after;
  }

  /** The entries written since the last poll, oldest first. */
  poll(): AuditEntry[] {
    const out: AuditEntry[] = [];
    const segs = this.fs.list(this.dir);
    let located = false; // the place is found again at most once a poll
    for (;;) {
      if (this.at === null) {
        if (located) return out;
        located = true;
        this.at = this.locate(segs);
        if (this.at === null) return out;
        // the entry before the place is the line it was found after
        if (this.placed !== null) this.prev = this.placed;
      }
      const at = this.at;
      const next = segs.find((s) => s.firstSeq > at.seg.firstSeq);
      const st = this.fs.stat(at.seg.path);
      if (st !== null && ((at.ino !== null && st.ino !== at.ino) || st.size < at.lineEnd)) {
        this.o.onShrunk?.(at.seg.name, st.size, at.lineEnd);
        this.at = null;
        this.shown = this.trusted;
        this.prev = this.after;
        this.afterDamaged = false;
        continue;
      }
      if (st !== null) {
        at.ino = st.ino;
        if (st.size !== at.seen) this.readOn(at, st.size, out);
      }
      if (next === undefined) {
        if (st === null) this.at = null; // deleted meanwhile: the place is found again at the next poll
        return out;
      }
      // a newer file exists, so this one had ended before it was created: read to its end just now (or
      // deleted meanwhile by retention), on to the next one
      this.at = { seg: next, ino: null, lineEnd: 0, seen: 0 };
    }
  }

  /** Reads `at`'s file from the end of its last complete line to `size`, returning new entries. */
  private readOn(at: Place, size: number, out: AuditEntry[]): void {
    let pos = at.lineEnd;
    let rest: Buffer = EMPTY;
    while (pos < size) {
      const chunk = this.fs.read(at.seg.path, pos, Math.min(FOLLOW_CHUNK_BYTES, size - pos));
      if (chunk === null || chunk.length === 0) break; // deleted or shorter meanwhile: the next poll sees
      pos += chunk.length;
      const data = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
      const start = pos - data.length; // the file offset of data[0]
      let from = 0;
      for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10, from)) {
        this.take(data.subarray(from, nl), start + from === 0, at.seg.name, out);
        from = nl + 1;
      }
      at.lineEnd = start + from;
      rest = Buffer.from(data.subarray(from));
    }
    at.seen = pos;
  }

  private take(line: Buffer, fileStart: boolean, file: string, out: AuditEntry[]): void {
    const e = parseEntry(line.toString("utf8"));
    // a line that is not an entry (damage the lane kept) is not shown; the entry before it is still the
    // one the next file's anchor repeats (as in ./search.ts readTrail)
    if (!e) {
      this.afterDamaged = true;
      this.o.onDamaged?.(file);
      return;
    }
    // an anchor repeats the entry before it
    if (fileStart && e.seq === this.prev) return;
    const prevSeq = this.prev;
    const damagedBefore = this.afterDamaged;
    this.prev = e.seq;
    this.afterDamaged = false;
    // shown before: the lines the lane's start writes after tail printed them from journal.db (or, after
    // the place was found again, those up to the newest entry returned that followed on). The place is
    // found by position, so an entry at or below the line it was found after is a new one, with a wrong
    // seq: shown (onOutOfOrder)
    if (e.seq <= this.shown && (this.placed === null || e.seq > this.placed)) return;
    const follows = followsOn(prevSeq, e);
    if (!damagedBefore && !follows) this.o.onOutOfOrder?.(file, e.seq, prevSeq);
    out.push(e);
    // the entry returned last, and the newest one that followed on: a place found again (onShrunk) is
    // after either, so a seq too high (or too low) returned last hides no entry after it and brings back
    // none returned before it
    this.after = e.seq;
    if (follows) this.trusted = e.seq;
  }

  /**
   * Where the entries after `after` begin: after the last complete line whose seq is at or below
   * `trusted` or is `after` (at the start both are the one given), searched from the newest file
   * backwards (at the start, the newest file's last line); the oldest file's start when there is none.
   */
  private locate(segs: SegmentFile[]): Place | null {
    this.placed = null;
    for (let i = segs.length - 1; i >= 0; i--) {
      const seg = segs[i]!;
      const st = this.fs.stat(seg.path);
      if (st === null) continue;
      const end = this.endAfter(seg.path, st.size);
      if (end !== null) return { seg, ino: st.ino, lineEnd: end, seen: end };
    }
    const first = segs[0];
    return first ? { seg: first, ino: null, lineEnd: 0, seen: 0 } : null;
  }

  /** The end of the last complete line of the file that is where the place is (atOrBelow), or null. */
  private endAfter(path: string, size: number): number | null {
    let pos = size;
    // bytes from `pos` on not yet split into lines: the start of a line, or (before the first newline is
    // found) the fragment after the last newline, which is not a line
    let rest: Buffer = EMPTY;
    let lineEnd: number | null = null; // the offset of the newline ending the line being assembled
    while (pos > 0) {
      const len = Math.min(FOLLOW_CHUNK_BYTES, pos);
      const chunk = this.fs.read(path, pos - len, len);
      if (chunk === null || chunk.length < len) return null;
      pos -= len;
      const data = rest.length > 0 ? Buffer.concat([chunk, rest]) : chunk;
      let upTo = data.length; // data[0, upTo) still to split
      for (let nl = upTo > 0 ? data.lastIndexOf(10, upTo - 1) : -1; nl >= 0; ) {
        if (lineEnd !== null && this.atOrBelow(data.subarray(nl + 1, lineEnd - pos))) return lineEnd + 1;
        lineEnd = pos + nl;
        upTo = nl;
        nl = upTo > 0 ? data.lastIndexOf(10, upTo - 1) : -1;
      }
      rest = Buffer.from(data.subarray(0, upTo));
    }
    // the file's first line
    if (lineEnd !== null && this.atOrBelow(rest)) return lineEnd + 1;
    return null;
  }

  /**
   * Whether `line` is an entry at or below `trusted`, or the entry returned last (`after`); if so, its seq
   * is where the place is found (placed).
   */
  private atOrBelow(line: Buffer): boolean {
    const e = parseEntry(line.toString("utf8"));
    if (e === null || (e.seq > this.trusted && e.seq !== this.after)) return false;
    this.placed = e.seq;
    return true;
  }
}
