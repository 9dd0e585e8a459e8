/**
 * A step of opening the trail (./recovery.ts), only when journal.db is behind the trail: the debit intents
 * the lost journal.db held open for the back office after journal.db was last backed up, as the trail names
 * them. An intent is not in the trail, but each start that keeps one writes an alarm naming its card and
 * OBU (`DEBIT_INTENT_BEHIND_TRAIL`: an intent kept when an earlier restore was gone on with, src/lane/
 * recovery.ts and src/booth/recovery-book.ts; `DEBIT_INTENT_UNREADABLE`, `BOOTH_INTENT_UNREADABLE`). Such
 * an intent may be missing from the restored file (written after its backup), and its debit may have
 * happened unrecorded: the journal keeps one intent rebuilt from each (src/journal/behind-trail.ts), so
 * that its card and OBU stay held until an operator resolves it.
 *
 * Read newest first (./trail-behind-entries.ts): an alarm is taken unless a newer record entry of a
 * transaction or a suspect names its card or OBU (`record.commit`: the intent became that record, or was
 * resolved and the card traded since); a stop's does not (a held card's vehicle is stopped while held).
 * The journal keeps the audit seq of the oldest alarm of each taken intent (older ones of the same card or
 * OBU with no transaction or suspect entry naming it in between: each start raises it again) from audit retention
 * (src/journal/journal.ts auditFloor), so that a later restore's scan finds an alarm naming it again.
 */

import type { SegmentFile } from "./segments.js";
import { entriesAfterLastSeq } from "./trail-behind-entries.js";

/** The alarms of an intent kept for the back office. */
export const KEPT_INTENT_ALARMS: readonly string[] = [
  "DEBIT_INTENT_BEHIND_TRAIL",
  "DEBIT_INTENT_UNREADABLE",
  "BOOTH_INTENT_UNREADABLE",
];

/** A kept intent's card and OBU, as the newest alarm naming them says. */
export interface TrailHeldIntent {
  code: string;
  cardId: string | null;
  obuSerial: string | null;
  /** the alarm's message (it names the intent's id in the lost journal.db) and time */
  message: string;
  at: string;
  /**
   * the audit seq of the oldest alarm of it in the kept trail (that one and every newer alarm of it, its
   * alarm each start raises again, the next scan reads): the journal keeps it from audit retention
   */
  auditSeq: number;
}

const keysOf = (cardId: string | null, obuSerial: string | null): string[] =>
  [cardId && `c${cardId}`, obuSerial && `o${obuSerial}`].filter((k): k is string => !!k);

const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);

/** The kept intents the trail names after journal.db's last record, oldest first, one per card and OBU. */
export function trailHeldIntents(segments: readonly SegmentFile[], lastSeq: number): TrailHeldIntent[] {
  const traded = new Set<string>();
  const out: TrailHeldIntent[] = [];
  // the taken intents by card and OBU, until an older record entry names them (its alarms older than that
  // are of an intent resolved before)
  const taken = new Map<string, TrailHeldIntent>();
  const marks = KEPT_INTENT_ALARMS.map((c) => `"code":"${c}"`);
  for (const { entry: e, jseq } of entriesAfterLastSeq(segments, lastSeq, marks)) {
    const d = (e.data ?? {}) as Record<string, unknown>;
    const cardId = str(d.cardId);
    const obuSerial = str(d.obuSerial);
    if (jseq !== null) {
      // a settlement shows no trade of the card; a transaction's or a suspect's commit does (or the intent's
      // own record). A stop does not: a held card's vehicle back at the lane is stopped (UNSETTLED_DEBIT), a
      // booth case of it closed unpaid, and neither says the intent was resolved
      if (e.type !== "record.commit" || d.kind === "stop") continue;
      for (const k of keysOf(cardId, obuSerial)) {
        traded.add(k);
        taken.delete(k);
      }
      continue;
    }
    if (typeof d.code !== "string" || !KEPT_INTENT_ALARMS.includes(d.code)) continue;
    if (cardId === null && obuSerial === null) continue;
    const keys = keysOf(cardId, obuSerial);
    if (keys.some((k) => traded.has(k))) {
      // an older alarm of an intent taken (each start raises it again): its oldest is the one kept
      for (const k of keys) {
        const t = taken.get(k);
        if (t) t.auditSeq = e.seq;
      }
      continue;
    }
    const t: TrailHeldIntent = {
      code: d.code,
      cardId,
      obuSerial,
      message: typeof e.message === "string" ? e.message : "",
      at: typeof e.time === "string" ? e.time : "",
      auditSeq: e.seq,
    };
    for (const k of keys) {
      traded.add(k);
      taken.set(k, t);
    }
    out.push(t);
  }
  return out.reverse();
}
