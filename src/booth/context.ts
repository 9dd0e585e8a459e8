/**
 * What the booth's flows share (charge.ts, settle.ts, recover.ts): the reader, the PSAM session, the
 * journal and the lane hook, the options, and the ways to tell the collector (screen, beeper/LED, audit,
 * barrier). booth.ts builds one; the queue is case-desk.ts's, the order of work card-loop.ts's.
 */
import { randomUUID } from "node:crypto";
import { Subject } from "rxjs";
import type { EtcError } from "../../firmware-bridge/errors.js";
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import type { Logger } from "../../firmware-bridge/log.js";
import type { CardReader } from "../../firmware-bridge/reader/card-reader.js";
import type { AuditEventInput } from "../audit/entry.js";
import type { EntryIds } from "../audit/events.js";
import type { CaseClosedNote, CommittedRecord, NewLaneRecord } from "../journal/types.js";
import type { Settlement } from "../lane/ports.js";
import type { Tariff } from "../tariff/tariff.js";
import type { RecordContext } from "./booth-records.js";
import type { BoothCase } from "./cases.js";
import type { BoothJournal, BoothLaneHook } from "./ports.js";
import type { Prompt } from "./prompts.js";
import type { PsamSession } from "./psam-session.js";
import type { Layout0019Name } from "./record-0019.js";
import type { ReaderClock } from "./timed-reader.js";

/**
 * Whose paid record a barrier opens for, as a BARRIER_NOT_OPENED alarm names it: the booth's own, or the
 * lane's (a suspect a late B5 or B8, or an operator, settled as paid while the booth proved it from the card:
 * settle.ts settledMeanwhile; effects.ts openBarrier), with who settled it (its `extra.settlement.settledBy`).
 */
export type BarrierFor = { whose: "booth" } | { whose: "lane"; settledBy: string };

export interface BoothOptions {
  /** the PSAM slot the booth debits with */
  psamSlot: number;
  /** how long the booth waits for the original card after a DEBIT whose answer was lost */
  originalCardWaitMs: number;
  /**
   * cases opened longer ago than this leave the queue while the lane runs (checked when a case arrives
   * and every minute: case-desk.ts expire) and are not rebuilt at start (cases.ts rebuildCases), so both
   * follow one rule; the case being worked on, the taken one and a debit being recovered stay
   */
  caseMaxAgeMinutes: number;
  /**
   * at most this many cases wait; a case arriving at a full queue pushes out the oldest waiting one (never
   * the case being worked on, the taken one, one being cancelled or a recovery), with an alarm
   */
  queueMax: number;
  /** stop reasons that make a booth case */
  offerFor: readonly string[];
  /** the key index INIT names (the cards' purchase key; 1 on national ETC cards) */
  keyIndex: number;
  /** MAC1's diversification levels: 2 (issuer divisor, card serial; national ETC cards) or 1 (card serial) */
  diversificationLevels: 1 | 2;
  /** the 0019 layout: by card version ("auto") or one for every card */
  layout0019: "auto" | Layout0019Name;
  /** exit: entries older than this are "timeout vehicles"; 0 disables the check */
  maxTripHours: number;
}

/** One durable booth outcome (the same shape as the controller's outcomes). */
export interface BoothOutcome {
  record: CommittedRecord;
  decisionMs: number;
  barrierAt: number | null;
  commitMs: number | null;
}

export interface BoothCounters {
  transactions: number;
  /** of which the TAC came from GET TRANSACTION PROVE after a lost DEBIT answer */
  proved: number;
  /** DSRC or booth suspects settled as debited (booth-prove) */
  settledDebited: number;
  /** suspects settled as not debited (booth-card) */
  settledNotDebited: number;
  /** debits the card shows but the record cannot become a transaction (PSAM serial or TAC unknown) */
  paidUnsettled: number;
  /** BOOTH_DEBIT_UNCONFIRMED suspects written */
  unconfirmed: number;
  /** lost DEBIT answers recovered from the card */
  recoveries: number;
  refusals: number;
  psamErrors: number;
  cardErrors: number;
  cancelled: number;
  journalFailures: number;
}

/** One booth transaction's time, card read to durable record (ms). */
export interface BoothTiming {
  /** card read -> record durable, everything included (the wait for a quiet moment too) */
  totalMs: number;
  /** waiting on the reader: the line, the reader, the card, the PSAM */
  readerMs: number;
  /** the lane's own work: totalMs - readerMs - quietMs (checks, intent, records, the journal commit) */
  laneMs: number;
  /** of which the journal commit (one fsync) */
  commitMs: number;
  /** of which the debit intent: its write and the fdatasync DEBIT waits for (docs/booth.md §5.1) */
  intentMs: number;
  /** before its commit the booth waited this long for no DSRC transaction to be open (in totalMs) */
  quietMs: number;
  /** bytes on the reader line, both directions (when the reader driver counts them) */
  bytes: number | null;
}

export interface BoothContext {
  readonly reader: CardReader;
  readonly clock: ReaderClock;
  readonly psam: PsamSession;
  readonly journal: BoothJournal;
  readonly lane: BoothLaneHook;
  readonly tariff: Tariff | null;
  readonly dialect: Dialect;
  readonly rec: RecordContext;
  readonly options: BoothOptions;
  readonly readerPort: string;
  readonly log: Logger;
  readonly now: () => number;
  readonly wallNow: () => number;
  readonly counters: BoothCounters;
  /** names this process in debit intents (a MAC1's PSAM session lives only in its own process) */
  readonly process: string;
  show(p: Prompt, c: BoothCase | null): void;
  /** beep and LED on the reader: green when done, red when refused; never fails the flow */
  signal(kind: "done" | "refused"): Promise<void>;
  audit(
    type: string,
    severity: "info" | "warn" | "alarm",
    message: string,
    data?: Record<string, unknown>,
  ): void;
  /** `ids`: the card and OBU the alarm is about, in its audit entry's data */
  alarm(code: string, message: string, ids?: EntryIds): void;
  /** a durable record of this booth: audit, outcome, counters */
  recorded(rec: CommittedRecord, barrier: boolean, commitMs: number | null): void;
  /**
   * the barrier for a paid record that is not the booth's own (a suspect the lane settled as paid while
   * the booth proved it: settle.ts settledMeanwhile), as `recorded` opens it, with no outcome of its own;
   * `whose` names the record in a BARRIER_NOT_OPENED alarm (BarrierFor above)
   */
  openBarrier(rec: CommittedRecord, whose: BarrierFor): void;
  /**
   * Commit, after letting pending I/O (an RSU frame already read) run first: the commit's fsync is
   * synchronous. On failure: logged in full, counted, alarm; resolves undefined. `closeCases`: see
   * effects.ts tryCommit (a paid record that settles its purchase's suspect in place).
   */
  tryCommit(
    rec: NewLaneRecord,
    intentId?: number,
    closeCases?: () => readonly CaseClosedNote[],
  ): Promise<CommittedRecord | undefined>;
  /** the last tryCommit/trySettle: how long it waited for a quiet moment, how long the commit took */
  lastCommit: { quietMs: number; commitMs: number };
  /**
   * as tryCommit; "refused": the suspect was settled meanwhile (nothing changed, no alarm). `closeCases`,
   * asked right before the write: the booth cases the settlement closes, noted closed in its transaction
   */
  trySettle(
    seq: number,
    s: Settlement,
    closeCases?: () => readonly CaseClosedNote[],
  ): Promise<CommittedRecord | "refused" | undefined>;
  /**
   * journal.noteDebitShown after the same quiet moment as trySettle (with case notes it has an fsync of its
   * own, and no RSU frame waits on it); `closeCases`, asked right before the write, as trySettle's. Throws
   * as noteDebitShown does; false, nothing written, when the record is no longer a suspect (settled
   * meanwhile: settle.ts settledMeanwhile).
   */
  noteShown(
    seq: number,
    entry: AuditEventInput,
    closeCases: () => readonly CaseClosedNote[],
  ): Promise<boolean>;
  /**
   * Wait on the reader's events: resolves on the next one, at once when one came since generation `since`
   * (see gen()), or after `ms`.
   */
  wait(ms: number, signal?: AbortSignal, since?: number): Promise<void>;
  /**
   * the event generation now: it counts the reader's card events and link changes (card-loop.ts) and the
   * booth's stop; not the collector's take or cancel (neither applies to a debit being recovered)
   */
  gen(): number;
  /** bytes the reader link carried so far, both directions; null when the driver does not count them */
  lineBytes(): number | null;
  /** the last transaction's timing (bench, status) */
  lastTiming: BoothTiming | null;
}

export function newCounters(): BoothCounters {
  return {
    transactions: 0,
    proved: 0,
    settledDebited: 0,
    settledNotDebited: 0,
    paidUnsettled: 0,
    unconfirmed: 0,
    recoveries: 0,
    refusals: 0,
    psamErrors: 0,
    cardErrors: 0,
    cancelled: 0,
    journalFailures: 0,
  };
}

export function processToken(): string {
  return `${process.pid}-${randomUUID()}`;
}

/** Wakes whoever waits on the booth's events (card inserted/removed, reader link change, the booth's stop). */
export class Wakeup {
  private readonly s = new Subject<void>();
  private n = 0;

  get generation(): number {
    return this.n;
  }

  wake(): void {
    this.n++;
    this.s.next();
  }

  wait(ms: number, signal?: AbortSignal, since = this.n): Promise<void> {
    if (since !== this.n || signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(t);
        sub.unsubscribe();
        signal?.removeEventListener("abort", finish);
        resolve();
      };
      const t = setTimeout(finish, Math.max(0, ms));
      const sub = this.s.subscribe(finish);
      signal?.addEventListener("abort", finish);
    });
  }
}

export function errText(e: unknown): string {
  const code = (e as EtcError | undefined)?.code;
  return `${e instanceof Error ? e.message : String(e)}${code ? ` [${code}]` : ""}`;
}
