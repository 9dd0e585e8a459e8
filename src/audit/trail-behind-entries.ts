/**
 * The kept trail's entries after journal.db's last record, newest first, for the scans of a journal.db
 * found behind the trail (./trail-only-suspects.ts, ./trail-held-intents.ts). Read backwards from the
 * trail's end up to the commit entry of the last record journal.db holds (record commits are in
 * journal-seq order), or the `journal.bound` entry at or before the first missing seq. Only lines holding
 * one of `marks` are parsed (the record and binding entries are always read: they end the walk).
 */
import { type ClaimedEntry, claimedEntry } from "./entry.js";
import { commitJseq } from "./recovery-journal-seqs.js";
import { linesBackwards, type SegmentFile } from "./segments.js";

const RECORD_MARK = '"type":"record.';
const BOUND_MARK = '"type":"journal.bound"';

/**
 * An entry after the last record journal.db holds, read by what it claims (claimedEntry: a line with one
 * damaged byte in its head still names its record); `jseq` is a record entry's journal seq.
 */
export interface EntryAfter {
  entry: ClaimedEntry;
  jseq: number | null;
}

export function* entriesAfterLastSeq(
  segments: readonly SegmentFile[],
  lastSeq: number,
  marks: readonly string[] = [],
): Generator<EntryAfter> {
  for (let i = segments.length - 1; i >= 0; i--) {
    for (const { line } of linesBackwards(segments[i]!.path)) {
      const isRecord = line.includes(RECORD_MARK);
      if (!isRecord && !line.includes(BOUND_MARK) && !marks.some((m) => line.includes(m))) continue;
      const e = claimedEntry(line.toString("utf8"));
      if (!e) continue;
      if (e.type === "journal.bound") {
        const from = (e.data as { boundFrom?: unknown } | undefined)?.boundFrom;
        if (typeof from === "number" && from <= lastSeq + 1) return;
        continue;
      }
      if (e.type !== "record.commit" && e.type !== "record.settle") {
        yield { entry: e, jseq: null };
        continue;
      }
      const jseq = commitJseq(e.data);
      if (jseq === null) continue;
      if (jseq <= lastSeq) {
        if (e.type === "record.commit") return;
        // a settlement after the backup of a record journal.db holds
        yield { entry: e, jseq };
        continue;
      }
      yield { entry: e, jseq };
    }
  }
}
