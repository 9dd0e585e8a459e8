/**
 * The double-debit guards: an OBU (contract serial) or card that traded here within
 * `recentTradeWindowMs` is not traded again (ALREADY_TRADED), and one with an unsettled debit is held
 * (UNSETTLED_DEBIT): in memory for `unsettledHoldMs`, seeded at start from the journal's recent
 * transactions and unsettled suspects. The memory is the fast path: the controller also asks the journal
 * for an unsettled suspect or an open debit intent of a card or OBU the memory does not hold
 * (controller.ts `journalHolds`), so a hold lasts until its suspect is settled or its intent resolved, as
 * long as that takes. Windows run on the monotonic
 * clock (a wall-clock step never opens or extends a hold); seeding converts the journal's wall times once.
 *
 * It also remembers which sequence numbers recorded the recent debits of each OBU MAC id, so a repeated
 * B5 of a debit already recorded (e.g. one the RSU repeats after a restart) is recognised. That memory has
 * its own window, `repeatedB5WindowMs` (at least a minute, src/config/schema.ts), never the recent-trade
 * window nor the unsettled hold: a lane that lets a card trade again at once (`recentTradeWindowMs: 0`) or
 * holds it only briefly in memory (`unsettledHoldMs: 0`) must still know the B5 the RSU repeats is one it
 * recorded (a transaction or a suspect, an ORPHAN_B5 above all), or that debit would be recorded twice.
 * A debit this process recorded is kept with its B5's TAC and serials (recordedB5): that B5 repeated while
 * the OBU's next debit waits for its answer is not that answer.
 *
 * Two memories live outside the windows, for a debit already under way:
 * - which card or OBU paid since a given moment (paidMark / paidSince): each payment noted here (rememberTraded,
 *   recordedDebit) gets a number, so the OBU machine asks at B4 whether its OBU paid since its B2 (the booth
 *   charging the vehicle's case meanwhile), whatever `recentTradeWindowMs` is (0 included), and the booth
 *   asks before its DEBIT whether the case's OBU paid over DSRC since it began (src/booth/card-loop.ts);
 * - the booth's charge in progress (occupy / vacate): a counted marker `unsettled()` reads, which
 *   `unsettledHoldMs` does not expire and no `release()` (a DSRC debit of the same card or OBU ending)
 *   removes: no C6 reaches the card or the case's OBU while the booth may debit them (src/booth/charge.ts).
 */
import type { TradeResult } from "../rsu/driver.js";
import type { GuardKey } from "./obu-machine-types.js";
import type { GuardRow } from "./ports.js";

export interface TradeGuardOptions {
  recentTradeWindowMs: number;
  /** how long a recorded debit's B5 is recognised when the RSU repeats it (also across a restart) */
  repeatedB5WindowMs: number;
  unsettledHoldMs: number;
  /** monotonic ms */
  now: () => number;
}

/** What identifies the B5 of a recorded debit: its TAC and serials, as a record keeps them (hex). */
interface ProofFields {
  tac: string | null;
  iccPaySerial: string | null;
  psamTransSerial: string | null;
}

const proofKey = (r: ProofFields): string | null =>
  r.tac === null ? null : `${r.tac}|${r.iccPaySerial}|${r.psamTransSerial}`.toLowerCase();

/**
 * How long a payment is kept for paidSince: far longer than a debit under way takes (B2 to B4 is a few
 * obuTimeoutMs, at most 30 s each: src/config/schema.ts; a booth charge, its reader's timeouts).
 */
const PAID_MEMORY_MS = 600_000;

const keysOf = (k: GuardKey): string[] => [
  ...(k.obuSerial ? [`o:${k.obuSerial}`] : []),
  ...(k.cardId ? [`c:${k.cardId}`] : []),
];

/**
 * Key -> monotonic time. Keys are kept in the order they were last set (delete, then set), so expired
 * ones are always at the front: each remember drops only what has expired, never scanning live entries.
 */
class Window {
  private readonly map = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly now: () => number,
  ) {}

  has(key: string): boolean {
    const t = this.map.get(key);
    if (t === undefined) return false;
    if (this.now() - t <= this.windowMs) return true;
    this.map.delete(key);
    return false;
  }

  set(key: string, at = this.now()): void {
    this.map.delete(key);
    this.map.set(key, at);
    const cutoff = this.now() - this.windowMs;
    for (const [k, t] of this.map) {
      if (t >= cutoff) break;
      this.map.delete(k);
    }
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  get size(): number {
    return this.map.size;
  }
}

export class TradeGuards {
  private readonly traded: Window;
  private readonly held: Window;
  /** keys pin() holds for the life of the process */
  private readonly pinned = new Set<string>();
  /**
   * OBU MAC id (upper case) -> recent debits recorded for it; `proof`: the TAC and serials of the B5 that
   * recorded it (proofKey), when noted by this process (noteRecorded; a seeded one has none)
   */
  private readonly debits = new Map<string, { seq: number; at: number; proof: string | null }[]>();
  /** keys the booth is charging now (occupy), with how many charges hold each */
  private readonly busy = new Map<string, number>();
  /** key -> the number of its last payment (paidMark) and when (monotonic), oldest first */
  private readonly paid = new Map<string, { n: number; at: number }>();
  /** payments noted so far (paidMark) */
  private payments = 0;
  /** the highest payment number dropped from `paid` for its age: a mark older than it cannot be answered */
  private forgotten = 0;

  constructor(private readonly o: TradeGuardOptions) {
    this.traded = new Window(o.recentTradeWindowMs, o.now);
    this.held = new Window(o.unsettledHoldMs, o.now);
  }

  /** Windows the journal must be asked about at start (wall ms since which rows matter). */
  seedSince(wallNowMs: number): { traded: number; unsettled: number } {
    const traded = Math.max(this.o.recentTradeWindowMs, this.o.repeatedB5WindowMs);
    // a suspect holds its card and OBU within unsettledHoldMs, and its B5 (an ORPHAN_B5's above all) is
    // recognised within repeatedB5WindowMs: the rows reach back over the longer of the two
    const unsettled = Math.max(this.o.unsettledHoldMs, this.o.repeatedB5WindowMs);
    return { traded: wallNowMs - traded, unsettled: wallNowMs - unsettled };
  }

  /**
   * Seed from the journal: a row created at wall time `createdAtMs` counts as remembered
   * `wallNowMs - createdAtMs` ms ago on the monotonic clock. Rows from the future (the wall clock stepped
   * back) count as now.
   */
  seed(rows: { traded: GuardRow[]; unsettled: GuardRow[] }, wallNowMs: number): void {
    const mono = this.o.now();
    const at = (r: GuardRow): number => mono - Math.max(0, wallNowMs - r.createdAtMs);
    const byTime = (a: GuardRow, b: GuardRow): number => a.createdAtMs - b.createdAtMs;
    // each list reaches back over the longer of its two windows (seedSince)
    for (const r of [...rows.traded].sort(byTime)) this.tradedAt(r, at(r));
    for (const r of [...rows.unsettled].sort(byTime)) {
      const t = at(r);
      // held in memory within unsettledHoldMs (beyond it the journal holds: controller.ts `journalHolds`)
      if (mono - t <= this.o.unsettledHoldMs) for (const k of keysOf(r)) this.held.set(k, t);
      // a suspect records a B5 too (an ORPHAN_B5 names neither card nor OBU serial): the RSU repeating that
      // B5 after a restart is recognised as recorded, not recorded again (late-answers.ts), however short
      // unsettledHoldMs is (0 included)
      this.noteDebit(r.obuId, r.seq, t);
    }
  }

  /**
   * A debit recorded for a trade made at wall time `r.createdAtMs` (a suspect settled as paid by hand,
   * maybe long after): remembered as of its trade, as seeding does: a recent trade and, for the RSU
   * repeating its B5, a recorded debit of the OBU.
   */
  recordedDebit(r: GuardRow, wallNowMs: number): void {
    this.tradedAt(r, this.o.now() - Math.max(0, wallNowMs - r.createdAtMs));
    this.notePaid(r);
  }

  private tradedAt(r: GuardRow, at: number): void {
    if (this.o.now() - at <= this.o.recentTradeWindowMs) for (const k of keysOf(r)) this.traded.set(k, at);
    this.noteDebit(r.obuId, r.seq, at);
  }

  recentlyTraded(k: GuardKey): boolean {
    return keysOf(k).some((key) => this.traded.has(key));
  }

  unsettled(k: GuardKey): boolean {
    return keysOf(k).some((key) => this.held.has(key) || this.pinned.has(key) || this.busy.has(key));
  }

  /** For the status service and the booth: is this card id or OBU contract serial held as unsettled? */
  isHeld(id: string): boolean {
    return this.unsettled({ cardId: id, obuSerial: id });
  }

  rememberTraded(k: GuardKey): void {
    for (const key of keysOf(k)) this.traded.set(key);
    this.notePaid(k);
  }

  /** The number of the last payment noted: a later paidSince(k, mark) says whether k paid after it. */
  paidMark(): number {
    return this.payments;
  }

  /**
   * Whether this card or OBU paid (a payment noted here) after `mark` (paidMark). A mark older than the
   * memory (PAID_MEMORY_MS) with payments since that were dropped answers true: it cannot say "not paid".
   */
  paidSince(k: GuardKey, mark: number): boolean {
    if (this.forgotten > mark) return true;
    return keysOf(k).some((key) => (this.paid.get(key)?.n ?? 0) > mark);
  }

  private notePaid(k: GuardKey): void {
    const at = this.o.now();
    const n = ++this.payments;
    for (const key of keysOf(k)) {
      this.paid.delete(key);
      this.paid.set(key, { n, at });
    }
    for (const [key, v] of this.paid) {
      if (at - v.at <= PAID_MEMORY_MS) break;
      this.paid.delete(key);
      this.forgotten = Math.max(this.forgotten, v.n);
    }
  }

  /**
   * The booth is charging this card and OBU (src/booth/charge.ts): they are unsettled until vacate(),
   * however long that takes, and whatever release() says meanwhile. Counted: each occupy has its vacate.
   */
  occupy(k: GuardKey): void {
    for (const key of keysOf(k)) this.busy.set(key, (this.busy.get(key) ?? 0) + 1);
  }

  /** The booth's charge of this card and OBU is over (paid, refused, or handed to its recovery). */
  vacate(k: GuardKey): void {
    for (const key of keysOf(k)) {
      const n = (this.busy.get(key) ?? 0) - 1;
      if (n > 0) this.busy.set(key, n);
      else this.busy.delete(key);
    }
  }

  /**
   * A recorded debit of this OBU MAC id (to recognise the RSU repeating its B5). The OBUs are kept in the
   * order they last had a debit noted (delete, then set), so those whose debits all expired are at the
   * front: each call drops only those, never scanning live ones (a lane at its full rate keeps
   * repeatedB5WindowMs x rate OBUs here: a scan of them all per vehicle made the lane slower the longer
   * it ran).
   */
  noteDebit(obuId: string, seq: number, at = this.o.now()): void {
    this.note(obuId, seq, at, null);
  }

  /**
   * A debit this process just recorded (a transaction, a settled suspect, an ORPHAN_B5), noted with the TAC
   * and serials it carries, so that its B5 repeated while the OBU's next debit waits for its answer is
   * known for what it is (recordedB5), without a journal read.
   */
  noteRecorded(r: ProofFields & { obuId: string; seq: number }): void {
    this.note(r.obuId, r.seq, this.o.now(), proofKey(r));
  }

  /**
   * Whether this B5 (TAC, card offline serial, PSAM serial) is that of a debit of its OBU recorded within
   * `repeatedB5WindowMs` by this process (noteRecorded): one Map lookup, nothing for an OBU without one.
   */
  recordedB5(b5: TradeResult): boolean {
    const list = this.debits.get(b5.obuId.toUpperCase());
    if (!list || b5.tac === null) return false;
    const key = proofKey({
      tac: b5.tac,
      iccPaySerial: b5.iccPaySerial === null ? null : b5.iccPaySerial.toString(16).padStart(4, "0"),
      psamTransSerial: b5.psamTransSerial === null ? null : b5.psamTransSerial.toString(16).padStart(8, "0"),
    });
    const cutoff = this.o.now() - this.o.repeatedB5WindowMs;
    return list.some((d) => d.proof === key && d.at >= cutoff);
  }

  private note(obuId: string, seq: number, at: number, proof: string | null): void {
    const id = obuId.toUpperCase();
    const cutoff = this.o.now() - this.o.repeatedB5WindowMs;
    const list = (this.debits.get(id) ?? []).filter((d) => d.at >= cutoff);
    list.push({ seq, at, proof });
    this.debits.delete(id);
    this.debits.set(id, list);
    for (const [k, v] of this.debits) {
      if (v.some((d) => d.at >= cutoff)) break;
      this.debits.delete(k);
    }
  }

  /** Sequence numbers of this OBU's debits recorded within `repeatedB5WindowMs`, newest first. */
  recentDebits(obuId: string): number[] {
    const cutoff = this.o.now() - this.o.repeatedB5WindowMs;
    return (this.debits.get(obuId.toUpperCase()) ?? [])
      .filter((d) => d.at >= cutoff)
      .map((d) => d.seq)
      .reverse();
  }

  hold(k: GuardKey): void {
    for (const key of keysOf(k)) this.held.set(key);
  }

  /**
   * Held for the life of the process, past `unsettledHoldMs` and whatever release() says: what a debit
   * intent no one can read names (recovery.ts; the intent stays in the journal, so every start pins it
   * again until the back office removes it), and a debit whose record or intent rewrite the journal did
   * not take (effect-runner.ts, machines.ts; the lane stays closed until a restart records it).
   */
  pin(k: GuardKey): void {
    for (const key of keysOf(k)) this.pinned.add(key);
  }

  /** The debit was settled (proved): the hold ends. */
  release(k: GuardKey): void {
    for (const key of keysOf(k)) this.held.delete(key);
  }

  /** How many keys each memory keeps (expired ones included until they are dropped). */
  get sizes(): { traded: number; held: number; debitObus: number; paid: number } {
    return {
      traded: this.traded.size,
      held: this.held.size,
      debitObus: this.debits.size,
      paid: this.paid.size,
    };
  }
}
