/**
 * A step of opening the trail (./recovery.ts), only when journal.db is behind the trail
 * (./recovery-journal-seqs.ts journalBehind): which of the records journal.db lacks are suspects not
 * settled. A record's entry (`record.commit`, then one `record.settle` per settlement: ./records.ts
 * RecordEntryData) carries its journal seq, trade id, kind, outcome, card id, OBU contract serial and MAC
 * id and amount, not the record itself (only its digest): the record cannot be put back from it, but its
 * newest entry says whether it is a suspect still (a settlement changes its kind), and which card and OBU
 * that suspect holds. The journal keeps what is found here and holds those cards and OBUs after an
 * operator goes on with the file (src/journal/behind-trail.ts).
 *
 * The kept trail is read backwards from its end, up to the commit entry of the last record journal.db
 * holds (./trail-behind-entries.ts): the newest entry of each missing record is the first one met.
 */
import type { SegmentFile } from "./segments.js";
import { entriesAfterLastSeq } from "./trail-behind-entries.js";

/** A suspect the trail holds and journal.db does not, unsettled as of the trail's newest entry of it. */
export interface TrailOnlySuspect {
  jseq: number;
  tradeId: string;
  outcome: string;
  cardId: string | null;
  obuSerial: string | null;
  obuId: string | null;
  plate: string | null;
  amount: number;
  /** the suspect's revision and the SHA-256 of its JSON at it, as the entry names them (`rec`) */
  revision: number;
  digest: string;
  /** the entry's time (the lane's local time with its offset): when the suspect was recorded */
  recordedAt: string;
  /**
   * the audit seq of its `record.commit` entry (the oldest of its entries in the kept trail): with no row
   * to bind it, the kept suspect keeps that entry from audit retention itself (Journal.auditFloor), so that
   * a later restore of a file without it finds it there again
   */
  auditSeq: number;
}

/** The unsettled suspects among journal records after `lastSeq` in the kept trail, oldest first. */
export function trailOnlySuspects(segments: readonly SegmentFile[], lastSeq: number): TrailOnlySuspect[] {
  const seen = new Set<number>();
  const out: TrailOnlySuspect[] = [];
  // newest first: the last entry met of a record is its oldest, its record.commit
  const firstEntry = new Map<number, number>();
  for (const { entry: e, jseq } of entriesAfterLastSeq(segments, lastSeq)) {
    if (jseq === null || jseq <= lastSeq) continue;
    firstEntry.set(jseq, e.seq);
    if (seen.has(jseq)) continue;
    seen.add(jseq);
    const d = e.data as Record<string, unknown> & {
      rec: { tradeId?: unknown; revision?: unknown; digest?: unknown };
    };
    if (d.kind !== "suspect") continue;
    out.push({
      jseq,
      tradeId: typeof d.rec.tradeId === "string" ? d.rec.tradeId : "",
      outcome: typeof d.outcome === "string" ? d.outcome : "",
      cardId: typeof d.cardId === "string" && d.cardId !== "" ? d.cardId : null,
      obuSerial: typeof d.obuSerial === "string" && d.obuSerial !== "" ? d.obuSerial : null,
      obuId: typeof d.obuId === "string" && d.obuId !== "" ? d.obuId : null,
      plate: typeof d.plate === "string" && d.plate !== "" ? d.plate : null,
      amount: typeof d.amount === "number" ? d.amount : 0,
      revision: typeof d.rec.revision === "number" ? d.rec.revision : 1,
      digest: typeof d.rec.digest === "string" ? d.rec.digest : "",
      recordedAt: typeof e.time === "string" ? e.time : "",
      auditSeq: e.seq,
    });
  }
  for (const s of out) s.auditSeq = firstEntry.get(s.jseq) ?? s.auditSeq;
  return byJseq(out);
}

const byJseq = (l: TrailOnlySuspect[]): TrailOnlySuspect[] => l.sort((a, b) => a.jseq - b.jseq);
