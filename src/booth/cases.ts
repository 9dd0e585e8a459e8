/**
 * The booth's queue of cases (docs/booth.md §4): vehicles the lane sent to the booth, in the order they
 * were sent, each linked to the journal record of the DSRC attempt that failed (a stop whose reason the
 * booth may handle, or a suspect debit to settle), plus the booth's own unconfirmed debits (recovery) and
 * vehicles the collector takes without a DSRC attempt (walk-up).
 *
 * The queue is rebuilt from the journal at start by the rule the running desk follows (case-desk.ts): a
 * booth record that closed a case names it (`extra.booth.case`, or a settlement's `evidence.boothCase`),
 * and a case closed with no record naming it is noted in the journal (its booth_closed), so the cases are
 * the eligible records of the last `caseMaxAgeMinutes` that no later record closed and the booth did not
 * note closed. A suspect the lane settled paid in place (a late B5 or B8) keeps its seq and closes the
 * vehicle's cases recorded after it, up to its settlement (settledInPlace). A suspect the booth settled
 * "not debited" closes nothing by a link: its settlement names
 * the case the vehicle at the booth pays on (card-loop.ts payCaseOf), which still has to pay, and when
 * that is the suspect's own case, the settled record is still a case (notDebitedOwnCase).
 */
import type { CommittedRecord } from "../journal/types.js";
import { SUSPECT_REASONS } from "../lane/stop-reasons.js";

/**
 * Stop reasons the booth takes by default: the card itself may pay, only the DSRC path failed. Reasons
 * about the card (status list, expiry, no entry, insufficient balance, ...) go to the manual lane instead.
 */
export const DEFAULT_BOOTH_REASONS = [
  "OBU_NO_CARD",
  "OBU_CARD_ERROR",
  "OBU_TAMPERED",
  "OBU_LOCKED",
  "OBU_READ_FAILED",
  "OBU_DATA_INVALID",
  "OBU_BATTERY_LOW",
  "OBU_EXPIRED",
  "OBU_NOT_YET_VALID",
  "OBU_ISSUER_INVALID",
  "VEHICLE_READ_FAILED",
  "FRAME_INCOMPLETE",
  "CARD_READ_FAILED",
  "CARD_OBU_MISMATCH",
  "TRADE_FAILED",
  "OBU_LEFT",
  "LANE_CLOSED",
  "DEBIT_NOT_SENT",
  "UNSETTLED_DEBIT",
  "CLASS_MISMATCH",
] as const;

/** Suspect outcomes settled at the booth from card evidence (ORPHAN_B5 names no card: not a case). */
export const SUSPECT_CASES = [...SUSPECT_REASONS, "BOOTH_DEBIT_UNCONFIRMED"] as const;

export type BoothCaseKind = "stop" | "suspect" | "recovery" | "walk-up";

export interface BoothCase {
  /**
   * "s<seq>" for a journal record, "r<intent id>" for a debit to recover, "w<n>" for a walk-up (n above
   * every walk-up this process or the killed one before it left in the journal: case-desk.ts knowWalkUp)
   */
  id: string;
  kind: BoothCaseKind;
  /** the stop reason or suspect outcome; BOOTH_RECOVERY; WALK_UP */
  reason: string;
  /** wall ms: when the lane sent the vehicle to the booth */
  openedAt: number;
  /** the journal record of the DSRC attempt */
  seq: number | null;
  tradeId: string | null;
  obuId: string | null;
  obuSerial: string | null;
  cardId: string | null;
  plate: string | null;
  plateColor: number | null;
  vehicleClass: number | null;
  /** suspects: the amount in question */
  amount: number | null;
  /**
   * wall ms: when it joined this process's queue, when that is later than `openedAt` (the case of an old
   * suspect found on its card: case-desk.ts suspectCase); its age for `caseMaxAgeMinutes` counts from here
   */
  queuedAt?: number;
}

/** What a booth record keeps about the case it closes (record.extra.booth.case). */
export interface CaseLink {
  id: string;
  seq: number | null;
  reason: string;
}

export function caseOf(r: CommittedRecord, reasons: ReadonlySet<string>): BoothCase | null {
  const suspect = r.kind === "suspect" && (SUSPECT_CASES as readonly string[]).includes(r.outcome);
  const stop = r.kind === "stop" && reasons.has(r.outcome);
  if (!suspect && !stop) return null;
  return recordCase(r, suspect ? "suspect" : "stop", r.outcome, suspect ? r.amount : null);
}

/** The case of record `r`: its id, time and vehicle from the record, the rest as given. */
export function recordCase(
  r: CommittedRecord,
  kind: "suspect" | "stop",
  reason: string,
  amount: number | null,
): BoothCase {
  return {
    id: `s${r.seq}`,
    kind,
    reason,
    openedAt: Date.parse(r.createdAt),
    seq: r.seq,
    tradeId: r.tradeId,
    obuId: r.obuId || null,
    obuSerial: r.obuSerial,
    cardId: r.cardId,
    plate: r.plate,
    plateColor: r.plateColor,
    vehicleClass: r.vehicleClass,
    amount,
  };
}

interface SettlementExtra {
  settlement?: {
    settledBy?: string;
    settledAt?: string;
    lastSeq?: number;
    previous?: { kind?: string; outcome?: string; amount?: number };
    evidence?: { boothCase?: CaseLink };
  };
}

/**
 * The case a booth record closed, if it closed one. A booth settlement "not debited" (settledBy
 * booth-card) closes none: it names the case the vehicle at the booth pays on, afresh.
 */
export function linkOf(r: CommittedRecord): CaseLink | null {
  const b = (r.extra as { booth?: { case?: CaseLink } } | undefined)?.booth;
  if (b?.case && typeof b.case.id === "string") return b.case;
  const s = (r.extra as SettlementExtra | undefined)?.settlement;
  if (s?.settledBy === "booth-card") return null;
  return s?.evidence?.boothCase ?? null;
}

/**
 * The walk-up number (`w<n>`) of every walk-up case record `r` names (the case a booth record closed,
 * `extra.booth.case`; the case a settlement names, `evidence.boothCase`): case-desk.ts numbers its walk-ups
 * above them (knowWalkUp).
 */
export function walkUpNumbers(r: CommittedRecord): number[] {
  const ids = [
    (r.extra as { booth?: { case?: { id?: unknown } } } | undefined)?.booth?.case?.id,
    (r.extra as SettlementExtra | undefined)?.settlement?.evidence?.boothCase?.id,
  ];
  return ids.flatMap((id) => walkUpNumber(id) ?? []);
}

/** n of a walk-up case id `w<n>`, or null for any other value. */
export function walkUpNumber(id: unknown): number | null {
  const m = typeof id === "string" ? /^w([1-9][0-9]{0,14})$/.exec(id) : null;
  return m ? Number(m[1]) : null;
}

/**
 * A suspect the booth settled "not debited" whose settlement names its own case (the case to pay on): that
 * case, as the running desk keeps it (the suspect's, card-loop.ts), with the outcome and amount the record
 * had before (extra.settlement.previous). Null for any other record: one whose settlement names another case
 * (of its vehicle, standing for it, or another vehicle's the card pays on) has its own closed by that
 * settlement, in the same write as the verdict (card-loop.ts closing notes it closed in that write too).
 */
function notDebitedOwnCase(r: CommittedRecord): BoothCase | null {
  const s = (r.extra as SettlementExtra | undefined)?.settlement;
  if (r.kind !== "stop" || s?.settledBy !== "booth-card" || s.evidence?.boothCase?.seq !== r.seq) return null;
  const prev = s.previous;
  return recordCase(r, "suspect", prev?.outcome ?? r.outcome, prev?.amount ?? null);
}

/**
 * A suspect the lane settled paid in place (a late B5 or B8: a transaction with `extra.settlement`,
 * `settledBy` b5 or b8) keeps its seq, below the vehicle's cases recorded while it waited (the
 * UNSETTLED_DEBIT stop its hold caused above all). The running desk closed those when the settlement
 * reached it (case-desk.ts onLaneRecord: the cases of its OBU or card queued then); this says which records
 * they are, from the settlement alone: those of its OBU or card above its seq and up to the journal's last
 * seq when it was settled (`lastSeq`, src/journal/records.ts settledRecord), or, for a settlement written
 * before it carried that, created up to its `settledAt` (the only order it has). Null for any other record:
 * a settlement by hand closes only its own case there, and the booth's own settlements closed the cases
 * they did with the records and notes they wrote (card-loop.ts).
 */
export function settledInPlace(r: CommittedRecord): ((c: CommittedRecord) => boolean) | null {
  const s = (r.extra as SettlementExtra | undefined)?.settlement;
  if (r.kind !== "transaction" || r.revision < 2 || (s?.settledBy !== "b5" && s?.settledBy !== "b8"))
    return null;
  const lastSeq = s.lastSeq;
  const settledAt = s.settledAt === undefined ? Number.NaN : Date.parse(s.settledAt);
  const before = (c: CommittedRecord): boolean =>
    typeof lastSeq === "number" ? c.seq <= lastSeq : Date.parse(c.createdAt) <= settledAt;
  return (c) =>
    c.seq > r.seq &&
    ((!!r.obuSerial && c.obuSerial === r.obuSerial) || (!!r.cardId && c.cardId === r.cardId)) &&
    before(c);
}

/**
 * Whether transaction `r` closes case `c` at the rebuild (rebuildCases): a payment of its OBU or card
 * recorded after it. The running desk needs no note for such a case (case-desk.ts paidAtBooth).
 */
export function paidAfter(
  r: Pick<CommittedRecord, "kind" | "seq" | "obuSerial" | "cardId">,
  c: Pick<BoothCase, "seq" | "obuSerial" | "cardId">,
): boolean {
  return (
    r.kind === "transaction" &&
    c.seq !== null &&
    c.seq < r.seq &&
    ((!!r.obuSerial && c.obuSerial === r.obuSerial) || (!!r.cardId && c.cardId === r.cardId))
  );
}

export class BoothCases {
  private readonly byId = new Map<string, BoothCase>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.byId.size;
  }

  list(): BoothCase[] {
    return [...this.byId.values()];
  }

  get(id: string): BoothCase | undefined {
    return this.byId.get(id);
  }

  /**
   * Adds a case at the tail; `added` false when it is there already. When the queue is full, the oldest
   * case that may leave (`dropped`) makes room: never a debit being recovered, nor a case in `keep` (the
   * one being worked on, the one the collector took, one being cancelled: case-desk.ts). When none may
   * leave, the new case is not added (`full`).
   */
  add(
    c: BoothCase,
    keep: ReadonlySet<string> = new Set(),
  ): { added: boolean; dropped: BoothCase | undefined; full: boolean } {
    if (this.byId.has(c.id)) return { added: false, dropped: undefined, full: false };
    let dropped: BoothCase | undefined;
    if (this.byId.size >= this.max) {
      dropped = [...this.byId.values()].find((x) => x.kind !== "recovery" && !keep.has(x.id));
      if (!dropped) return { added: false, dropped: undefined, full: true };
      this.byId.delete(dropped.id);
    }
    this.byId.set(c.id, c);
    return { added: true, dropped, full: false };
  }

  /**
   * The cases opened (or queued, `queuedAt`) before `before` (wall ms) that may leave (not a recovery, none
   * in `keep`), oldest first.
   */
  olderThan(before: number, keep: ReadonlySet<string>): BoothCase[] {
    return this.list().filter(
      (c) => c.kind !== "recovery" && !keep.has(c.id) && Math.max(c.openedAt, c.queuedAt ?? 0) < before,
    );
  }

  /** Puts a case at the head (a debit to recover comes before everything). */
  addFirst(c: BoothCase): void {
    const rest = [...this.byId.values()].filter((x) => x.id !== c.id);
    this.byId.clear();
    this.byId.set(c.id, c);
    for (const x of rest) this.byId.set(x.id, x);
  }

  remove(id: string): BoothCase | undefined {
    const c = this.byId.get(id);
    this.byId.delete(id);
    return c;
  }

  /** The case for this card: one that names it, else the oldest that names no card (none in `except`). */
  forCard(cardId: string, except: ReadonlySet<string> = new Set()): BoothCase | undefined {
    const all = this.list().filter((c) => c.kind !== "recovery" && !except.has(c.id));
    return all.find((c) => c.cardId === cardId) ?? all.find((c) => c.cardId === null);
  }

  /** Cases of this OBU serial or card id (a later DSRC transaction closes them). */
  matching(k: { obuSerial: string | null; cardId: string | null }): BoothCase[] {
    return this.list().filter(
      (c) =>
        c.kind !== "recovery" &&
        ((k.obuSerial !== null && c.obuSerial === k.obuSerial) ||
          (k.cardId !== null && c.cardId === k.cardId)),
    );
  }
}

/**
 * The cases among the records of the last window (oldest first): eligible records that no later booth
 * record closed, the booth did not note closed (`noted`: the journal's booth_closed, a case that left the
 * queue with no record naming it), no later transaction of the same OBU or card paid, and no earlier
 * suspect of the same OBU or card settled paid in place after them (settledInPlace; `records` may hold such
 * a suspect from before the window: case-desk.ts restore).
 */
export function rebuildCases(
  records: readonly CommittedRecord[],
  reasons: ReadonlySet<string>,
  noted: Iterable<number> = [],
): BoothCase[] {
  const closed = new Set<number>(noted);
  const settled: ((c: CommittedRecord) => boolean)[] = [];
  for (const r of records) {
    const l = linkOf(r);
    if (l?.seq !== null && l?.seq !== undefined) closed.add(l.seq);
    const closes = settledInPlace(r);
    if (closes) settled.push(closes);
  }
  const sorted = [...records].sort((a, b) => a.seq - b.seq);
  const out: BoothCase[] = [];
  for (const r of sorted) {
    if (r.kind === "transaction") {
      for (let i = out.length - 1; i >= 0; i--) if (paidAfter(r, out[i] as BoothCase)) out.splice(i, 1);
      continue;
    }
    if (closed.has(r.seq) || settled.some((closes) => closes(r))) continue;
    const c = caseOf(r, reasons) ?? notDebitedOwnCase(r);
    if (c) out.push(c);
  }
  return out;
}
