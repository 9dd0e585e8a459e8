/**
 * The declarations of the per-OBU transaction machine (obu-machine.ts): what it reads from the lane
 * (`MachineCtx`), the states a vehicle's transaction passes through, the events that move it and the
 * effects a transition asks the lane to run (effect-runner.ts runs them).
 */
import type { EntryIds } from "../audit/events.js";
import type { NewLaneRecord, StatusListVersionsUsed } from "../journal/types.js";
import type {
  CardInfo,
  EntryExitRecord,
  ObuInfo,
  RsuCommand,
  TacResult,
  TradeResult,
  VehicleInfo,
} from "../rsu/driver.js";
import type { FeeResult } from "../tariff/tariff.js";
import type { SuspectReason } from "./stop-reasons.js";

/** Card types of 0015 (docs/protocol.md §8). */
export const CARD_STORED_VALUE = 0x16;
export const CARD_CREDIT = 0x17;

// ---- context ----------------------------------------------------------------------------------

export interface StatusListAnswer {
  listed: boolean;
  /**
   * false: the list was not consulted (no list loaded, traded under `statusList.whenMissing: trade`);
   * `listed: false` then means "not checked", and the records say so (`extra.statusListChecked: false`)
   */
  checked?: false;
  /** set when the list is not healthy and the configured policy is to trade on (kept in the record) */
  health?: string;
  entry?: { kind: "card" | "obu"; id: string; listType: number; listTypeName: string; reason: string };
  versions: { full: string | null; delta: string | null };
}

export interface GuardKey {
  obuSerial?: string | null;
  cardId?: string | null;
}

export interface MachineCtx {
  lane: { network: string; station: string; lane: number; role: "entry" | "exit" };
  /** wall clock, ms since the epoch */
  nowMs: number;
  /** the lane's local offset (dates on OBU and card are local calendar dates) */
  utcOffsetMinutes: number;
  options: {
    obuTimeoutMs: number;
    b5TimeoutMs: number;
    b8TimeoutMs: number;
    maxTripHours: number;
    lowBattery: "warn" | "stop";
    /** how the B2 tamper byte reads (config transaction.tamperByte) */
    tamperByte: "ignore" | "stop-nonzero" | "stop-zero";
  };
  entryWrite: "c6" | "c3";
  alreadyTradedStopType: 1 | 3;
  rsuProtocol: string;
  tariffVersion: string | null;
  fee(network: string, station: string, vehicleClass: number): FeeResult;
  /**
   * Synchronous status-list lookup. Throws when the list cannot answer (lookup failure, or no usable
   * list under the "close" policy): the vehicle is then stopped with STATUS_LIST_FAILED, never traded.
   */
  lookup(q: { cardId?: string; obuId?: string }): StatusListAnswer;
  recentlyTraded(k: GuardKey): boolean;
  unsettled(k: GuardKey): boolean;
  /** the number of the last payment noted (trade-guards.ts paidMark): taken at B2 */
  paidMark(): number;
  /** whether this card or OBU paid after `mark` (trade-guards.ts paidSince): asked at B4 */
  paidSince(k: GuardKey, mark: number): boolean;
}

// ---- states -----------------------------------------------------------------------------------

export interface ObuFacts {
  obuId: string;
  obuSerial: string;
  issuerId: string;
  divFactor: string;
  batteryLow: boolean;
}

export interface VehicleFacts {
  plate: string;
  plateColor: number;
  vehicleClass: number;
}

export interface CardFacts {
  cardId: string;
  cardType: number;
  issuerId: string;
  cardNetwork: string;
  balance: number;
  lastRecord: EntryExitRecord;
}

export interface Price {
  amountDue: number | null;
  discountPercent: number | null;
  amount: number;
  /**
   * The version of the tariff that priced it (null on an entry lane): the record names it, not the tariff
   * of the process that writes the record, which after a restart may be another table
   * (src/lane/obu-outcomes.ts baseRecord). Absent in a price kept in an intent of an earlier version: its
   * record then names the tariff loaded now, as those versions did.
   */
  tariffVersion?: string | null;
}

/** What every state after B2 carries to the record: the lists used and the warnings so far. */
export interface Common {
  versions: StatusListVersionsUsed;
  warnings: string[];
  /**
   * the lookup that decides (B2's, then from the B4 on the B4's of card and OBU) was not checked against a
   * list (no list loaded, policy trade)
   */
  unchecked?: true;
}

export interface DebitFacts {
  obu: ObuFacts;
  vehicle: VehicleFacts;
  card: CardFacts;
  price: Price;
  purchaseTimeMs: number;
  /** the debit command as sent (C6/C3) */
  command: Extract<RsuCommand, { kind: "debit" }>;
  rawB4: string;
}

export type ObuState =
  | { phase: "idle" }
  /** `paidMark`: the payments noted at B2 (ctx.paidMark): B4 asks whether the OBU paid since */
  | ({ phase: "await-b3"; obu: ObuFacts; resends: number; paidMark: number } & Common)
  | ({
      phase: "await-b4";
      obu: ObuFacts;
      vehicle: VehicleFacts;
      resends: number;
      paidMark: number;
    } & Common)
  | ({ phase: "await-b5"; debit: DebitFacts } & Common)
  | ({
      phase: "await-b8";
      debit: DebitFacts;
      /** the B5 that named the serial (C8 is only ever sent with a serial a B5 reported) */
      b5: TradeResult;
      rawB5: string | null;
      why: SuspectReason;
      epSerial: number;
      /** why the B5 did not prove the debit, when it said more than its code (its suspect names it) */
      problem?: string;
    } & Common)
  | { phase: "done"; kind: "transaction" | "stop" | "suspect"; outcome: string };

export type ObuPhase = ObuState["phase"];

// ---- events and effects -----------------------------------------------------------------------

export type ObuEvent =
  | { kind: "obu"; info: ObuInfo }
  | { kind: "vehicle"; info: VehicleInfo }
  | { kind: "card"; info: CardInfo; raw: string }
  /**
   * A B5. `restored`: it reached a debit restored from a killed process's intent and still waiting for
   * that process's answer (machines.ts `recovered`): a restored await-b8 answers the RSU's repeat of the B5
   * its C8 asks about with that C8, which the killed process may never have sent. `withinRetries`: it came
   * within the RSU's retransmission schedule of the B5 this process answered with the await-b8's C8
   * (machines.ts `c8AnsweredAt`): the RSU repeating that B5 then has not received the C8, which is sent
   * again.
   */
  | { kind: "trade"; info: TradeResult; raw: string; restored?: true; withinRetries?: true }
  | { kind: "tac"; info: TacResult; raw: string }
  /** the deadline `timeoutMs` asked for has passed */
  | { kind: "timeout" }
  /** the RSU started over with this OBU (a new B2): its earlier transaction is over */
  | { kind: "superseded" }
  /**
   * The lane closed (RSU link down, RSU reboot, drain): a vehicle before its debit is stopped; a debit
   * in flight keeps waiting for its answer within its own deadline.
   */
  | { kind: "lane-closed" }
  /** graceful stop: the drain window is over and this debit's answer has not come */
  | { kind: "lane-stopped" }
  /**
   * The debit command this await-b5 was entered with was refused by the link before any byte was written
   * (`code`: the link's error, e.g. E302_LINK_DOWN): the card cannot have been touched.
   */
  | { kind: "not-sent"; code: string }
  /**
   * Restored from a debit intent after a crash. With `answer`: the B5 (or B8) that ended the debit had
   * reached the dead process, which wrote it into the intent before replying (the record is made from
   * it now). Without: the answer did not come before C0 resets the RSU.
   */
  | { kind: "recovered"; answer?: DebitAnswer };

/** A debit's answer as the intent keeps it (the frame's decoded fields and its raw hex). */
export type DebitAnswer =
  | { kind: "trade"; info: TradeResult; raw: string }
  | { kind: "tac"; info: TacResult; raw: string };

export interface Display {
  /** main line, Chinese */
  text: string;
  /** second line: where to go, balance left... */
  detail: string;
  tone: "ok" | "stop" | "warn";
}

export type Effect =
  /** answer the frame that carried the event */
  | { kind: "reply"; command: RsuCommand; stage: string }
  /** a lane-initiated command (C8 after a missing B5) */
  | { kind: "send"; command: RsuCommand; stage: string }
  /** durable commit; on failure the driver skips the rest and closes the lane */
  | { kind: "commit"; record: NewLaneRecord }
  | { kind: "barrier-open" }
  | { kind: "display"; display: Display }
  /** guard updates: traded (recent-trade window), unsettled (hold), released (a hold ends: the debit is known) */
  | { kind: "remember"; traded?: GuardKey; unsettled?: GuardKey; released?: GuardKey }
  /** `ids`: the card and OBU it is about, in its audit entry's data (src/audit/events.ts EntryIds) */
  | { kind: "alarm"; code: string; message: string; ids?: EntryIds }
  /** counted and logged, not journaled (a re-read of a vehicle that already paid) */
  | { kind: "note"; code: string; message: string };

export interface Transition {
  state: ObuState;
  effects: Effect[];
  /**
   * Arm a deadline this many ms from now, replacing any previous one. Undefined with the same state
   * object (an event the state ignores) keeps the running deadline; undefined with a new state clears it.
   */
  timeoutMs?: number;
}
