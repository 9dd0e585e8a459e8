/**
 * Station records against the simulator's ledger (what the cards really paid), with the frame log to
 * tell which debits fell into a "crash window": the lane controller was killed after its C6 reached the
 * RSU and before it answered the B5 (or the B8 of the C8 it sent instead). See docs/reliability.md.
 */
import { readFileSync } from "node:fs";
import type { StationTxn } from "../../sim/harness/procs.js";
import type { LedgerEntry } from "../../sim/ledger/ledger.js";

export interface FrameLine {
  t: number;
  dir: "rx" | "tx";
  frame?: { type: string; obuId?: string; purchaseTime?: string; tac?: string; errorCode?: number };
  handling?: string;
}

export function readJsonLines<T>(path: string): T[] {
  const text = readFileSync(path, "utf8");
  const out: T[] = [];
  for (const line of text.split("\n")) if (line.trim()) out.push(JSON.parse(line) as T);
  return out;
}

export interface CrashWindow {
  ledgerSeq: number;
  cardId: string;
  /** frame-log t (ms since the RSU started) of the C6 and of the restarted lane's C0 */
  c6At: number;
  c0At: number;
  /** how the station ended up with it */
  recordedAs: "transaction" | "suspect" | "none";
}

export interface Reconciliation {
  ledgerDebits: number;
  ledgerTorn: number;
  stationRecords: number;
  stationTransactions: number;
  stationSuspects: number;
  stationStops: number;
  /**
   * re-sends the station counted (the same trade id arriving again at a revision it already held): expected
   * after kills and outages. A settled suspect's new revision is not a re-send: it is the same record.
   */
  stationResends: number;
  /** station records at a revision above 1: suspects the lane settled in place (each one record) */
  stationSettled: number;
  /** ledger debits matched by card id + card offline serial + TAC to exactly one station transaction */
  matched: number;
  /** torn debits (answer lost on the air, not settled by C8/B8) matched to a suspect record */
  matchedSuspect: number;
  /** ledger debits with no station record at all, outside crash windows */
  lost: LedgerEntry[];
  /** ledger debits recorded as two or more distinct station transactions */
  duplicates: { key: string; tradeIds: string[] }[];
  /**
   * ledger debits the station holds more than one record of, counting transactions (card id + offline
   * serial + TAC) and suspects (card id + amount + transTime, or the debit's TAC with its offline serial or
   * none and its card id or none: an ORPHAN_B5 of its B5 or B8) together: a transaction and a suspect of the
   * same debit, or two suspects of it (a second restart recovering the same debit intent), as well as the
   * two transactions `duplicates` lists. A suspect of a card that was never debited matches no debit and is
   * not counted here (it is in `suspectsWithoutDebit`).
   */
  recordedTwice: { ledgerSeq: number; cardId: string; transactions: string[]; suspects: string[] }[];
  /** station transactions that match no ledger debit */
  extras: StationTxn[];
  crashWindows: CrashWindow[];
  /** cards with more than one debit in the ledger (each vehicle has its own card: a double charge) */
  doubleCharged: { cardId: string; debits: number; crashWindow: boolean }[];
  /** station suspect records that match no ledger debit (the card did not pay: e.g. it left during the debit) */
  suspectsWithoutDebit: number;
}

const num = (v: unknown): number | null => {
  if (typeof v === "number") return v;
  if (typeof v === "string" && /^[0-9a-fA-F]+$/.test(v)) return Number.parseInt(v, 16);
  return null;
};

function rec(t: StationTxn): {
  cardId: string | null;
  tac: string | null;
  serial: number | null;
  amount: number;
  transTime: string | null;
} {
  const r = t.record as Record<string, unknown>;
  return {
    cardId: (r.cardId as string | null) ?? null,
    tac: typeof r.tac === "string" ? r.tac.toLowerCase() : null,
    serial: num(r.iccPaySerial),
    amount: Number(r.amount),
    transTime: (r.transTime as string | null) ?? null,
  };
}

const keyOf = (cardId: string, serial: number, tac: string): string =>
  `${cardId}/${serial}/${tac.toLowerCase()}`;

/**
 * For each ledger debit: the C6 that made it (rx C6 for its OBU with PurchaseTime = transTime), then
 * the lane frames after it. If the lane's next word about that OBU (C1 or C2) comes before a C0, the lane
 * was alive to handle the answer; if a C0 (a restarted lane initialising the RSU) comes first, the
 * controller died between its C6 and its answer: a crash window.
 */
export function crashWindowOf(frames: FrameLine[], l: LedgerEntry): { c6At: number; c0At: number } | null {
  const obu = l.obuId.toLowerCase();
  let c6 = -1;
  for (let i = frames.length - 1; i >= 0; i--) {
    const f = frames[i] as FrameLine;
    if (
      f.dir === "rx" &&
      (f.frame?.type === "C6" || f.frame?.type === "C3") &&
      f.frame.obuId?.toLowerCase() === obu &&
      f.frame.purchaseTime === l.transTime
    ) {
      c6 = i;
      break;
    }
  }
  if (c6 < 0) return null;
  for (let i = c6 + 1; i < frames.length; i++) {
    const f = frames[i] as FrameLine;
    if (f.dir !== "rx" || !f.frame) continue;
    if (f.frame.type === "C0") return { c6At: (frames[c6] as FrameLine).t, c0At: f.t };
    if ((f.frame.type === "C1" || f.frame.type === "C2") && f.frame.obuId?.toLowerCase() === obu) return null;
  }
  return null;
}

export function reconcile(ledger: LedgerEntry[], station: StationTxn[], frames: FrameLine[]): Reconciliation {
  const tx = station.filter((s) => s.kind === "transaction");
  const suspects = station.filter((s) => s.kind === "suspect");
  const byKey = new Map<string, StationTxn[]>();
  for (const s of tx) {
    const r = rec(s);
    if (r.cardId === null || r.tac === null || r.serial === null) continue;
    const k = keyOf(r.cardId, r.serial, r.tac);
    byKey.set(k, [...(byKey.get(k) ?? []), s]);
  }
  const ledgerKeys = new Set<string>();
  const usedSuspects = new Set<string>();
  const out: Reconciliation = {
    ledgerDebits: ledger.length,
    ledgerTorn: ledger.filter((l) => l.outcome === "torn-after-debit").length,
    stationRecords: station.length,
    stationTransactions: tx.length,
    stationSuspects: suspects.length,
    stationStops: station.filter((s) => s.kind === "stop").length,
    stationResends: station.reduce((n, s) => n + s.arrivals - 1 - s.updates, 0),
    stationSettled: station.filter((s) => s.revision > 1).length,
    matched: 0,
    matchedSuspect: 0,
    lost: [],
    duplicates: [],
    recordedTwice: [],
    extras: [],
    crashWindows: [],
    doubleCharged: [],
    suspectsWithoutDebit: 0,
  };
  // a suspect of this debit: one of its card, amount and purchase time (a debit intent the lane recorded), or
  // one carrying its TAC (an ORPHAN_B5: no card id, amount 0, the TAC and serials of the B5 or B8 it keeps)
  const suspectsOf = (l: LedgerEntry): StationTxn[] =>
    suspects.filter((s) => {
      if (usedSuspects.has(s.tradeId)) return false;
      const r = rec(s);
      if (r.cardId === l.cardId && r.amount === l.amount && r.transTime === l.transTime) return true;
      return (
        r.tac === l.tac.toLowerCase() &&
        (r.cardId === null || r.cardId === l.cardId) &&
        (r.serial === null || r.serial === l.iccPaySerial)
      );
    });
  // first pass: each debit without a transaction takes one suspect of its own, so that a later debit of the
  // same card, amount and time does not take it as a second record in the second pass
  const firstSuspect = new Map<LedgerEntry, StationTxn>();
  for (const l of ledger) {
    if ((byKey.get(keyOf(l.cardId, l.iccPaySerial, l.tac)) ?? []).length > 0) continue;
    const s = suspectsOf(l)[0];
    if (!s) continue;
    usedSuspects.add(s.tradeId);
    firstSuspect.set(l, s);
  }
  for (const l of ledger) {
    const k = keyOf(l.cardId, l.iccPaySerial, l.tac);
    ledgerKeys.add(k);
    const hits = byKey.get(k) ?? [];
    if (hits.length > 1) out.duplicates.push({ key: k, tradeIds: hits.map((h) => h.tradeId) });
    // second pass: every other suspect of this debit is one more record of it
    const first = firstSuspect.get(l);
    const more = suspectsOf(l);
    for (const s of more) usedSuspects.add(s.tradeId);
    const itsSuspects = [...(first ? [first] : []), ...more];
    if (hits.length + itsSuspects.length > 1)
      out.recordedTwice.push({
        ledgerSeq: l.seq,
        cardId: l.cardId,
        transactions: hits.map((h) => h.tradeId),
        suspects: itsSuspects.map((s) => s.tradeId),
      });
    const cw = crashWindowOf(frames, l);
    let recordedAs: CrashWindow["recordedAs"] = "none";
    if (hits.length >= 1) {
      out.matched++;
      recordedAs = "transaction";
    } else if (first) {
      recordedAs = "suspect";
      if (!cw) out.matchedSuspect++;
    } else if (!cw) out.lost.push(l);
    if (cw) out.crashWindows.push({ ledgerSeq: l.seq, cardId: l.cardId, ...cw, recordedAs });
  }
  for (const s of tx) {
    const r = rec(s);
    const k =
      r.cardId !== null && r.tac !== null && r.serial !== null ? keyOf(r.cardId, r.serial, r.tac) : "";
    if (!ledgerKeys.has(k)) out.extras.push(s);
  }
  out.suspectsWithoutDebit = suspects.filter((s) => !usedSuspects.has(s.tradeId)).length;
  const perCard = new Map<string, LedgerEntry[]>();
  for (const l of ledger) perCard.set(l.cardId, [...(perCard.get(l.cardId) ?? []), l]);
  const cwSeqs = new Set(out.crashWindows.map((c) => c.ledgerSeq));
  for (const [cardId, ls] of perCard)
    if (ls.length > 1)
      out.doubleCharged.push({ cardId, debits: ls.length, crashWindow: ls.some((l) => cwSeqs.has(l.seq)) });
  return out;
}
