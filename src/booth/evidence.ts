/**
 * Did a debit happen? Judged from the card alone (docs/booth.md §5), never from what the lane hoped:
 * the card's EP transaction details (0018, newest first, one per committed purchase), its offline serial
 * (the value a new INIT returns: it moves on only when a DEBIT commits), its balance, its 0019 and
 * GET TRANSACTION PROVE (which proves the card's last transaction only).
 *
 * The same judgement serves the booth's own DEBIT whose answer was lost (an intent: serial, time,
 * amount, PSAM terminal all known) and a DSRC suspect settled at the booth (the serial and PSAM only when
 * a B5 reported them). A TAC of all zeros from GET TRANSACTION PROVE is no TAC (docs/protocol.md §6).
 * Pure: the booth gathers the evidence (card-probe.ts), this decides.
 */
import { DEFAULT_NATIONAL_DIALECT, fromBcdDateTime } from "../../firmware-bridge/frames/dialect.js";
import { tacMissing } from "../journal/tac.js";
import type { EntryExitRecord, StationWrite } from "../rsu/driver.js";
import { type Detail0018, isPurchaseDetail, TRANS_TYPE_COMPOSITE } from "./apdus.js";
import { sameStationWrite } from "./record-0019.js";

/** The debit attempt in question, as the lane knows it. */
export interface Attempt {
  /** the card offline serial the attempt's INIT returned; null when no frame reported it */
  offlineSerial: number | null;
  /** yyyymmddhhmmss: the purchase time given to the card (the TAC covers it) */
  transTime: string;
  amount: number;
  /** 12 hex digits; null when unknown */
  psamNo: string | null;
  /** the balance before the attempt; null when unknown */
  balanceBefore: number | null;
  /** the 0019 the attempt wrote (this lane, the purchase time, exit 04 / entry 03); null when unknown */
  write: StationWrite | null;
}

export interface CardEvidence {
  balance: number;
  /**
   * the offline serial a new INIT returned (the next purchase would use it); FFFF when INIT answered 9402,
   * the counter exhausted there (card-probe.ts nextOfflineSerial): the last purchase used FFFE
   */
  nextSerial: number;
  /** 0018 records as read, newest first (record 1 first); empty when the card has none */
  details: Detail0018[];
  /** true when `details` holds every record the card keeps (the read ended with "record not found") */
  detailsComplete: boolean;
  record0019: EntryExitRecord | null;
  /** GET TRANSACTION PROVE for the newest detail's serial, when it was asked */
  proof?: { offlineSerial: number; tac: string; mac2: Buffer } | { offlineSerial: number; sw: string };
}

/**
 * What the probe's INIT said, for a verdict's text: its offline serial, or, for FFFF (a card never returns
 * it: it refuses INIT there), that it answered 9402, the counter exhausted (card-probe.ts nextOfflineSerial).
 */
function initSaid(nextSerial: number): string {
  return nextSerial === 0xffff
    ? "a new INIT answers 9402: the card's offline serial is exhausted at 65535"
    : `a new INIT returns offline serial ${nextSerial}`;
}

export type Verdict =
  | {
      kind: "debited";
      offlineSerial: number;
      /**
       * the transaction type of the card's 0018 record of the purchase: composite (09, TRANS_TYPE_COMPOSITE),
       * the only one isAttempt matches; a composite purchase commits the 0019 cached with it (settle.ts movedOn)
       */
      transType: number;
      /**
       * the TAC when GET TRANSACTION PROVE gave it (only while the debit is the card's last); never one of
       * all zeros (a missing TAC, docs/protocol.md §6)
       */
      tac: string | null;
      /** why `tac` is null (null when there is one): what a suspect left unsettled says (settle.ts) */
      noTac: string | null;
      mac2: Buffer | null;
      /** the balance after it, when it is the card's last transaction */
      balanceAfter: number | null;
      psamNo: string;
      why: string;
    }
  | { kind: "not-debited"; why: string }
  | { kind: "unknown"; why: string };

/** Whether a 0018 record is this attempt's purchase. */
export function isAttempt(a: Attempt, d: Detail0018): boolean {
  return (
    d.transType === TRANS_TYPE_COMPOSITE &&
    d.transTime === a.transTime &&
    d.amount === a.amount &&
    (a.psamNo === null || d.terminalNo.toLowerCase() === a.psamNo.toLowerCase()) &&
    (a.offlineSerial === null || d.offlineSerial === a.offlineSerial)
  );
}

/**
 * A 0018 record that is this purchase in everything but the offline serial (type, time, amount, terminal):
 * the serial the attempt carries may not be its own (a B5 that disagreed with the lane reported it), so
 * such a record is never taken as another purchase: the card cannot be said not to have paid.
 */
function nearAttempt(a: Attempt, d: Detail0018): boolean {
  return (
    a.offlineSerial !== null &&
    isAttempt({ ...a, offlineSerial: null }, d) &&
    d.offlineSerial !== a.offlineSerial
  );
}

/** The most 0018 records the booth reads (the file's usual depth). */
export const MAX_DETAILS = 10;

/**
 * Without the attempt's serial, how much older than the attempt the oldest of MAX_DETAILS records read must
 * be stamped for "the attempt's record would be among them" (each record carries the clock of the terminal
 * that wrote it, which may be behind the lane's).
 */
export const NO_SERIAL_CLOCK_MARGIN_MS = 24 * 3600_000;

/** A yyyymmddhhmmss stamp as ms (NaN when it is none); only differences of two stamps are used. */
const stampMs = (t: string): number => fromBcdDateTime(DEFAULT_NATIONAL_DIALECT, t);

/**
 * True when the details read so far cannot decide yet and the next 0018 record could: nothing matched and
 * the card has more. With the attempt's offline serial known, the purchases are ordered by it (each takes
 * the next serial): reading stops at the first EP purchase whose serial is not above it. A load's serial is
 * the online serial, an ED purchase's the ED's offline serial, other counters (apdus.ts isPurchaseDetail):
 * they are read past. Never by the
 * records' times: each is the clock of the terminal that wrote it, and a purchase after the attempt on a
 * terminal whose clock is behind would stop the reading before the attempt's record. Without the serial
 * every record up to MAX_DETAILS is read (judge then needs them all).
 */
export function needsOlderDetail(a: Attempt, details: Detail0018[], complete: boolean): boolean {
  if (complete || details.length >= MAX_DETAILS) return false;
  if (details.some((d) => isAttempt(a, d) || nearAttempt(a, d))) return false;
  const s = a.offlineSerial;
  if (s === null) return true;
  return !details.some((d) => isPurchaseDetail(d) && d.offlineSerial <= s);
}

export function judge(a: Attempt, ev: CardEvidence): Verdict {
  const idx = ev.details.findIndex((d) => isAttempt(a, d));
  if (idx >= 0) {
    const d = ev.details[idx] as Detail0018;
    const last = idx === 0;
    const p = ev.proof;
    const answered = last && p && p.offlineSerial === d.offlineSerial && "tac" in p ? p : null;
    // a TAC of all zeros is no TAC (decided, docs/protocol.md §6, src/lane/debit-agreement.ts)
    const zeroTac = answered !== null && tacMissing(answered.tac);
    const proved = zeroTac ? null : answered;
    return {
      kind: "debited",
      offlineSerial: d.offlineSerial,
      transType: d.transType,
      tac: proved ? proved.tac : null,
      mac2: proved ? proved.mac2 : null,
      balanceAfter: last ? ev.balance : null,
      psamNo: d.terminalNo,
      noTac: proved
        ? null
        : zeroTac
          ? `GET TRANSACTION PROVE gave TAC ${answered.tac}, all zeros: it proves nothing`
          : "the TAC cannot be proved any more (newer transactions followed)",
      why:
        `0018 record ${idx + 1} is this purchase (serial ${d.offlineSerial}, ${d.amount} fen at ${d.transTime})` +
        (proved
          ? "; GET TRANSACTION PROVE gave its TAC"
          : zeroTac
            ? `; GET TRANSACTION PROVE gave TAC ${answered.tac} (all zeros: proves nothing)`
            : last
              ? ""
              : "; newer transactions followed it"),
    };
  }
  const near = ev.details.find((d) => nearAttempt(a, d));
  if (near)
    return {
      kind: "unknown",
      why: `0018 record serial ${near.offlineSerial} is this purchase's time, amount and terminal, not its serial ${a.offlineSerial}`,
    };
  const wrote = a.write !== null && sameStationWrite(ev.record0019, a.write);
  if (wrote) {
    // 0019 is written only by the DEBIT that commits it; without its 0018 record the two disagree.
    return { kind: "unknown", why: "0019 shows this purchase's station and time but no 0018 record matches" };
  }
  const s = a.offlineSerial;
  if (s !== null) {
    if (ev.nextSerial === s) {
      if (a.balanceBefore !== null && ev.balance !== a.balanceBefore)
        return {
          kind: "unknown",
          why: `the offline serial is still ${s} but the balance is ${ev.balance}, not ${a.balanceBefore}`,
        };
      return {
        kind: "not-debited",
        why: `${initSaid(ev.nextSerial)}: no purchase has used it (balance ${ev.balance})`,
      };
    }
    // an EP purchase's: a load's serial is the online serial, an ED purchase's the ED's offline serial,
    // either of which may equal s by chance
    const other = ev.details.find((d) => isPurchaseDetail(d) && d.offlineSerial === s);
    if (other)
      return {
        kind: "not-debited",
        why: `offline serial ${s} was used by another purchase (${other.amount} fen at ${other.transTime}, terminal ${other.terminalNo})`,
      };
  }
  const oldest = ev.details[ev.details.length - 1];
  if (s !== null) {
    // the serial moved on past the attempt's, and no record read has it: a purchase took serial s (only a
    // committed DEBIT moves it), so its record is missing or not read yet; the card does not say whose
    return {
      kind: "unknown",
      why:
        `${initSaid(ev.nextSerial)}, past the attempt's ${s}, and no 0018 record read ` +
        `(${ev.details.length}) has serial ${s}`,
    };
  }
  // no serial known: every record the card keeps was read, or MAX_DETAILS of them and the oldest stamped a
  // day or more before the attempt (the attempt's record, had it been written, would be among the newest,
  // unless ten purchases since were stamped that far behind)
  const covered =
    ev.detailsComplete ||
    (ev.details.length >= MAX_DETAILS &&
      oldest !== undefined &&
      stampMs(a.transTime) - stampMs(oldest.transTime) >= NO_SERIAL_CLOCK_MARGIN_MS);
  if (covered) {
    return {
      kind: "not-debited",
      why:
        ev.details.length === 0
          ? "the card has no transaction details: it never paid"
          : `no 0018 record is this purchase, and the ${ev.details.length} records read reach back before it (${oldest?.transTime})`,
    };
  }
  return {
    kind: "unknown",
    why: `no 0018 record matches and the records read (${ev.details.length}) do not reach back before ${a.transTime}`,
  };
}
