/**
 * `audit verify`'s walk over the segment files, oldest first (docs/audit.md, "Verify"): every line's hash
 * over its raw bytes (entry.ts checkLine), seq gap-free and in order but for a gap the lane recorded,
 * `prev` = the previous entry's hash (an edit, deletion, insertion or reordering breaks it), every file
 * after the first beginning with a byte-exact copy of the previous one's last line, the oldest kept file
 * of a trail retention cut beginning with its anchor checkpoint, and only the newest file ending with an
 * incomplete line (a torn write). The newest file may also hold no line at all when that is what a power
 * cut leaves of a rotation (./torn-tail.ts anchorNotOnDisk; the next start cuts as torn only what this walk
 * takes for torn, ./torn-tail.ts isTornTail). Each entry is handed to the checks of its kind (./verify.ts)
 * in chain order; the first problem that breaks the chain ends the walk.
 */
import { readFileSync } from "node:fs";
import { type AuditEntry, checkLine, GENESIS } from "./entry.js";
import { type SegmentFile, splitLines } from "./segments.js";
import { anchorNotOnDisk } from "./torn-tail.js";
import type { CheckpointChain } from "./verify-checkpoints.js";
import type { TrailCompleteness } from "./verify-guards.js";
import { type Problems, Stop } from "./verify-problems.js";

export class ChainWalk {
  /** the seq the next entry must have */
  expect = 1;
  /** the hash of the last entry walked */
  head = GENESIS;
  first: AuditEntry | null = null;
  last: AuditEntry | null = null;
  /** entries walked (an anchor not counted) */
  entries = 0;
  /** an incomplete last line in the newest file */
  torn: { file: string; bytes: number; afterSeq: number } | null = null;
  /** the first seq of a trail retention cut (it begins with an anchor); null when it begins at seq 1 */
  retainedFrom: number | null = null;
  /** the hash of the entry at the head copy's seq, when the walk met it */
  headCopyAt: string | null = null;
  /**
   * the newest file holds no line, and what it holds is what a power cut leaves of a rotation before the
   * new file's data reached the disk (./torn-tail.ts anchorNotOnDisk): its anchor, the copy of the
   * checkpoint at `seq` that ends `prevFile`, is missing. Not a problem by itself: the lane writes the
   * anchor again at its next start (./recovery.ts); what else the trail held after it is judged against
   * the head copy, the spool, the journal's rows (./verify-file-end.ts) and the station
   * (./verify-checkpoints.ts checkStationWord), as for any newest file.
   */
  anchorMissing: { file: string; prevFile: string; seq: number } | null = null;

  constructor(
    private readonly checkpoints: CheckpointChain,
    private readonly complete: TrailCompleteness,
    private readonly problems: Problems,
    /** the seq of the head copy, whose hash the walk notes (headCopyAt) */
    private readonly headCopySeq: number | null,
    /** the checks of an entry's kind (not called for an `audit.gap` entry) */
    private readonly onEntry: (e: AuditEntry, file: string, line: number) => void,
  ) {}

  /** Walks the files; false when a problem broke the chain (what follows it cannot be judged). */
  walk(segs: readonly SegmentFile[]): boolean {
    let prevLastLine: Buffer | null = null;
    try {
      for (let fi = 0; fi < segs.length; fi++) {
        const seg = segs[fi]!;
        const { lines, fragment } = splitLines(readFileSync(seg.path));
        if (fragment && fi < segs.length - 1)
          this.problems.stop(
            null,
            seg.name,
            lines.length + 1,
            "the file ends with an incomplete line although a newer file follows",
          );
        let start = 0;
        if (fi === 0 && seg.firstSeq > 1) {
          this.anchor(seg, lines[0]);
          start = 1;
        } else if (fi > 0) {
          if (seg.firstSeq !== this.expect)
            this.problems.stop(
              this.expect,
              seg.name,
              1,
              `file ${seg.name} starts at seq ${seg.firstSeq}, but seq ${this.expect} comes next: entries or files are missing`,
            );
          const a = lines[0];
          if (
            a === undefined &&
            fi === segs.length - 1 &&
            anchorNotOnDisk(seg.firstSeq, fragment, prevLastLine, this.last)
          )
            this.anchorMissing = { file: seg.name, prevFile: segs[fi - 1]!.name, seq: seg.firstSeq - 1 };
          else if (!a || !prevLastLine || !a.equals(prevLastLine))
            this.problems.stop(
              seg.firstSeq - 1,
              seg.name,
              1,
              `the first line of ${seg.name} is not a copy of the last line of ${segs[fi - 1]!.name}`,
            );
          start = 1;
        } else {
          this.checkpoints.start();
        }
        for (let li = start; li < lines.length; li++) this.line(lines[li]!, seg.name, li + 1);
        prevLastLine = lines.length > 0 ? lines[lines.length - 1]! : null;
        if (fragment && fi === segs.length - 1)
          this.torn = { file: seg.name, bytes: fragment.length, afterSeq: this.expect - 1 };
      }
    } catch (e) {
      if (!(e instanceof Stop)) throw e;
      return false;
    }
    return true;
  }

  /** the oldest kept file begins with an anchor: verification of what is kept starts there */
  private anchor(seg: SegmentFile, a: Buffer | undefined): void {
    if (!a) this.problems.stop(seg.firstSeq - 1, seg.name, 1, "the oldest kept file has no anchor line");
    const r = checkLine(a!);
    if ("problem" in r) this.problems.stop(seg.firstSeq - 1, seg.name, 1, r.problem);
    const e = (r as { entry: AuditEntry }).entry;
    if (e.type !== "audit.checkpoint" || e.seq !== seg.firstSeq - 1)
      this.problems.stop(
        e.seq,
        seg.name,
        1,
        `the oldest kept file must begin with the checkpoint at seq ${seg.firstSeq - 1}`,
      );
    this.complete.sealed(this.checkpoints.anchor(e, seg.name));
    this.complete.see(e);
    this.head = e.hash;
    this.expect = seg.firstSeq;
    this.retainedFrom = seg.firstSeq;
    this.first = e;
    this.last = e;
  }

  private line(line: Buffer, file: string, lineNo: number): void {
    const r = checkLine(line);
    if ("problem" in r) this.problems.stop(this.expect, file, lineNo, r.problem);
    const e = (r as { entry: AuditEntry }).entry;
    const expect = this.expect;
    if (e.seq !== expect) {
      if (e.seq < expect)
        this.problems.stop(
          e.seq,
          file,
          lineNo,
          `seq ${e.seq} appears after seq ${expect - 1}: a line was inserted, repeated or moved`,
        );
      const gap =
        e.type === "audit.gap" ? (e.data as { missing?: { from: number; to: number } }).missing : undefined;
      if (!gap || gap.from !== expect || gap.to !== e.seq - 1)
        this.problems.stop(
          e.seq,
          file,
          lineNo,
          `seq ${e.seq} follows seq ${expect - 1}: entries ${expect}..${e.seq - 1} are missing here (lines deleted, or moved further down)`,
        );
      this.problems.note(e.seq, file, lineNo, `the lane recorded: ${e.message}`);
      this.head = e.prev; // the gap entry continues from the head copy: check what follows it
    } else if (e.prev !== this.head) {
      this.problems.stop(
        e.seq,
        file,
        lineNo,
        `prev does not match the hash of seq ${e.seq - 1}: the chain is broken (a line before it was changed, inserted or moved)`,
      );
    }
    this.checkpoints.entry(e.seq, e.hash);
    if (e.seq === this.headCopySeq) this.headCopyAt = e.hash;
    if (e.type !== "audit.gap") this.onEntry(e, file, lineNo);
    // past the last line that may be a checkpoint, a tail longer than the lane leaves ends the walk here
    // (as does a stretch past TAIL_ENTRY_CAP anywhere). No file and line: the problem's seq is the
    // tail's first entry, not this one (the message names both seqs), as the end-of-walk check gives none
    const over = this.complete.see(e);
    if (over) this.problems.stop(over.seq, null, null, over.what);
    this.head = e.hash;
    this.expect = e.seq + 1;
    this.first ??= e;
    this.last = e;
    this.entries++;
  }
}
