/**
 * The DSRC transaction with one OBU at a time, after the public lane-RSU firmware's RSU_* modes:
 * search -> B2 -(C1)-> B3 -(C1)-> B4 -(C6/C3)-> purchase -> B5 -(C1)-> release, and C8 -> B8. Before
 * each frame the RSU spends `dsrcMs` on the air. A lane frame that is not legal in the current step,
 * or names another OBU, gets nothing and is reported as ignored (with why); it answers nothing, so the
 * pending frame keeps being repeated (each handler takes the answer only once it accepts the frame).
 * A C8 for another OBU in range sets the current transaction aside until the B8's transaction ends.
 * The purchase itself, the cards and the ledger are in ./purchase.ts.
 */
import { isEtcError } from "../../firmware-bridge/errors.js";
import type { Frame } from "../../firmware-bridge/frames/catalogue.js";
import { fromCardUnix, toCardUnix, toWireUnix } from "../../firmware-bridge/frames/dialect.js";
import { SW, swHex } from "../card/apdu.js";
import { FILE_0019_LENGTH } from "../card/card-files.js";
import { CardErrorCodes } from "../card/crypto/errors.js";
import { TRANS_TYPE } from "../card/sim-card.js";
import type { PurchaseOutcome, PurchaseResult, TearPoint } from "../card/types.js";
import type { FaultFrame, VehicleFault } from "../scenario/schema.js";
import type { SimContext } from "./context.js";
import type { LaneAnswer, Pending, RsuLinkSide } from "./link.js";
import { OBU_TRADE_TYPE, type PurchaseRequest, type Purchases, withRecordTime } from "./purchase.js";
import { withRawField } from "./raw-fields.js";
import {
  type B5ShortFacts,
  b2Frame,
  b3Frame,
  b4Frame,
  b5Frame,
  b5ShortFrame,
  b8Frame,
  errorFrame,
  type PurchaseAttempt,
  RSU_ERR,
  uncertainB5Frame,
} from "./rsu-frames.js";
import type { Traffic, VState } from "./traffic.js";
import type { RsuMode, VehicleOutcome } from "./types.js";

type Step = "b2" | "b3" | "b4" | "b5" | "b8";
const STEP_FRAME: Record<Step, FaultFrame> = { b2: "B2", b3: "B3", b4: "B4", b5: "B5", b8: "B8" };

interface Txn {
  v: VState;
  step: Step;
  /** The last frame was an error form (ErrorCode != 0). */
  error: boolean;
  frame: Frame | undefined;
  /** B5 reported a purchase (or B8 found the TAC): the card paid. */
  paid: boolean;
  /** B5 00 answered an EF04-only C6: the OBU's EF04 was written, nothing was paid. */
  ef04Only: boolean;
}

/** A national C8's EF04 request: EF04CmdType 00 TAC only, 01 TAC and write `ef04Info` to the OBU's EF04. */
export interface C8Ef04 {
  cmdType: number;
  ef04Info: string | undefined;
}

/** C8 EF04CmdType: 00 TAC only, 01 TAC and write the EF04 (docs/protocol.md §7). */
const C8_EF04_WRITE = 0x01;

/** What the transaction needs from the rest of the RSU. */
export interface TransactionHost {
  /** Initialised, not rebooting, antenna open: the RSU may search for OBUs. */
  canSearch(): boolean;
  /** The antenna is open (C4 01, 4C, `antennaOnAtInit`): closed, the RSU reaches no OBU, a C8's included. */
  antennaOpen(): boolean;
  /** Extra delay before every answer (the RSU-level slow fault). */
  slowMs(): number;
  /** RSU-level faults a vehicle triggers before a frame (reboot instead of it, unplug before it). */
  reboot(bootMs?: number): void;
  unplug(durationMs: number): void;
  updateMode(): void;
}

/** A transaction set aside while the RSU serves a C8 for another OBU, with its frame awaiting an answer. */
interface SetAside {
  txn: Txn;
  pending: Pending | undefined;
}

export class DsrcTransactions {
  private cur: Txn | undefined;
  /**
   * The transaction a C8 for another OBU in range set aside: untouched (not released, its OBU not
   * searched again) until the C8's transaction ends, then current again (`resume`).
   */
  private aside: SetAside | undefined;
  /** The RSU is on the air (DSRC) until this timer fires. */
  private busy: unknown;
  private readonly recentSuccess = new Map<string, number>();

  constructor(
    private readonly ctx: SimContext,
    private readonly link: RsuLinkSide,
    private readonly traffic: Traffic,
    private readonly purchases: Purchases,
    private readonly host: TransactionHost,
    /** A traded OBU is not traded again for this long (legacy C0 WaitTime overrides it). */
    public recentSuccessMs: number,
  ) {}

  /** The mode this part puts the RSU in, if any: on the air, or waiting for the lane's answer. */
  mode(): RsuMode | undefined {
    if (this.busy !== undefined) return "dsrc";
    if (this.cur) return `wait-${this.cur.step}`;
    // A B8 for an OBU out of range belongs to no transaction: its answer is still awaited.
    if (this.link.pending?.frame.type === "B8") return "wait-b8";
    return undefined;
  }

  get onTheAir(): boolean {
    return this.busy !== undefined;
  }

  /** Serving an OBU (the legacy heartbeat waits). */
  get active(): boolean {
    return this.cur !== undefined;
  }

  /** `v`'s transaction is open: the current one, or the one set aside for a C8. */
  isCurrent(v: VState): boolean {
    return this.cur?.v === v || this.aside?.txn.v === v;
  }

  /** The RSU is on the air for `ms` (DSRC, or its PSAM self-test after C0), then runs `fn`. */
  air(ms: number, fn: () => void): void {
    // One thing on the air at a time: a second timer would cancel the first, and what that one was to
    // send (the next OBU's B2 of a search just started) would never go out. Every caller checks first.
    if (this.busy !== undefined) throw new Error("RSU already on the air");
    this.busy = this.ctx.after(ms, () => {
      this.busy = undefined;
      fn();
      this.host.updateMode();
    });
    this.host.updateMode();
  }

  /** Stop being on the air (C0, reboot, a transaction aborted). */
  cancelAir(): void {
    if (this.busy === undefined) return;
    this.ctx.cancel(this.busy);
    this.busy = undefined;
  }

  /**
   * C0 on an initialised RSU, C4 00, a reboot: the transaction in progress is cut short. One whose B5 00
   * (or B8 00) already went out has done its work whatever ends it: it ends `traded` (or `ef04-written`)
   * and its OBU goes on the recent-success list, so it is not traded again. Only one that did nothing
   * ends `aborted`, its OBU served again.
   */
  abort(reason: string): void {
    const aside = this.aside;
    this.aside = undefined;
    if (aside?.pending) this.link.discard(aside.pending);
    if (aside) this.close(aside.txn, this.settled(aside.txn, "aborted"), reason);
    if (this.cur) this.end(this.settled(this.cur, "aborted"), reason);
  }

  /** How a transaction that may have done its work ends: traded, EF04 written, else `otherwise`. */
  private settled(t: Txn, otherwise: VehicleOutcome): VehicleOutcome {
    return t.paid ? "traded" : t.ef04Only ? "ef04-written" : otherwise;
  }

  private slowFor(v: VState, frame: FaultFrame): number {
    return this.host.slowMs() + this.traffic.slowFor(v, frame);
  }

  /** C0 / B0 answered / antenna on / a vehicle entered or finished: start on the next OBU if idle. */
  trySearch(): void {
    if (!this.host.canSearch() || this.cur || this.link.pending || this.busy !== undefined) {
      this.host.updateMode();
      return;
    }
    const now = this.ctx.clock.now();
    for (const [id, t] of this.recentSuccess)
      if (now - t > this.recentSuccessMs) this.recentSuccess.delete(id);
    const v = this.traffic.next((obuId) => this.recentSuccess.has(obuId));
    if (!v) {
      this.host.updateMode();
      return;
    }
    v.ended = false;
    v.outcome = undefined;
    this.cur = { v, step: "b2", error: false, frame: undefined, paid: false, ef04Only: false };
    this.air(this.ctx.timing.dsrcMs.b2 + this.slowFor(v, "B2"), () => this.emitObuFrame("B2"));
  }

  /**
   * Build and send the current step's frame for the current OBU (after its DSRC time); `errorCode`: the
   * error form with that code instead (an OBU in range).
   */
  private emitObuFrame(type: "B2" | "B3" | "B4", errorCode?: number): void {
    const t = this.cur;
    if (!t) return;
    const v = t.v;
    const obu = v.m.obu;
    const d = this.ctx.dialect;
    if (this.preSendFaults(v, type)) return;
    let frame: Frame;
    let error = false;
    if (type === "B2") {
      if (v.phase !== "in-zone") {
        // Gone before the VST: nothing to report.
        this.end("missed", "OBU left before B2");
        return;
      }
      frame = b2Frame(d, obu);
    } else if (v.phase !== "in-zone") {
      frame = errorFrame(type, obu.obuId, RSU_ERR.noDsrc);
      error = true;
    } else if (errorCode !== undefined) {
      frame = errorFrame(type, obu.obuId, errorCode);
      error = true;
    } else if (type === "B3") {
      frame = b3Frame(d, obu);
    } else {
      const card = this.purchases.cardOf(v);
      if (!card) {
        frame = errorFrame("B4", obu.obuId, RSU_ERR.noCard);
        error = true;
      } else {
        frame = b4Frame(d, obu, card.snapshot(), this.purchases.ef04(obu.obuId));
        // LastStation is the card's 0019 as read, byte for byte: its first 43 bytes, under the card's own
        // header (a card older than version 0x40: C1 3D or 44 3A, docs/card-crypto.md §4), not the AA view
        // snapshots show
        const f19 = card.record0019?.().subarray(0, FILE_0019_LENGTH);
        if (f19) withRawField(frame, "lastStation", f19);
      }
    }
    t.frame = frame;
    t.error = error;
    this.link.sendInfo(frame, v, obu.obuId);
  }

  /** Reboot / unplug faults that replace sending `frame`. True when the frame must not go out. */
  private preSendFaults(v: VState, frame: FaultFrame): boolean {
    const rb = this.traffic.fault(v, "reboot", (f) => f.before === frame);
    if (rb) {
      this.host.reboot(rb.bootMs);
      return true;
    }
    const up = this.traffic.fault(v, "unplug", (f) => f.before === frame);
    if (up) this.host.unplug(up.durationMs);
    return false;
  }

  /**
   * Ends the current transaction; then the transaction set aside for a C8 goes on, or (none) the RSU
   * searches for the next OBU.
   */
  private end(outcome: VehicleOutcome, detail?: string, endedBy?: "C2"): void {
    const t = this.cur;
    if (!t) return;
    if (this.link.pending?.v === t.v) this.link.dropPending();
    this.cancelAir();
    this.cur = undefined;
    this.close(t, outcome, detail, endedBy);
    if (!this.resume()) this.trySearch();
    this.host.updateMode();
  }

  /** A transaction is over (the current one, or one set aside): its OBU's outcome, the events. */
  private close(t: Txn, outcome: VehicleOutcome, detail?: string, endedBy?: "C2"): void {
    const v = t.v;
    // SetMMI + EVENT_REPORT (release) happen on the air here; the lane sees nothing of them.
    v.outcome = outcome;
    // An abort (C0, reboot) and, for a vehicle with retradeAfterGiveUp, a give-up on its B2, B3 or B4
    // (before the lane's C6 or C8 was taken: nothing debited, no EF04 written) release nothing: the OBU
    // answers the next BST. A give-up on a B5 or B8 does not: the card may have paid (a purchase torn
    // after the debit reports `gave-up` too), and the lane's C8 is what follows it.
    const beforePurchase = t.step === "b2" || t.step === "b3" || t.step === "b4";
    v.ended = outcome !== "aborted" && !(outcome === "gave-up" && beforePurchase && v.m.retradeAfterGiveUp);
    if (outcome === "traded" || outcome === "ef04-written")
      this.recentSuccess.set(v.m.obu.obuId, this.ctx.clock.now());
    this.ctx.event({
      type: "ended",
      at: this.ctx.rel(),
      vehicleId: v.m.id,
      obuId: v.m.obu.obuId,
      outcome,
      detail,
      ...(endedBy ? { endedBy } : {}),
    });
    this.traffic.maybeComplete(v);
  }

  /**
   * The transaction set aside for a C8 is current again: its frame awaiting an answer goes on on its own
   * schedule (the same RSCTL/SEQ and bytes; given up if the schedule ran out meanwhile, ./link.ts
   * `resumePending`), or, its OBU having left meanwhile, it ends as it would have then. False when none
   * was set aside.
   */
  private resume(): boolean {
    const aside = this.aside;
    if (!aside) return false;
    this.aside = undefined;
    const t = aside.txn;
    this.cur = t;
    this.ctx.log.info({ obuId: t.v.m.obu.obuId, step: t.step }, "transaction set aside for a C8 goes on");
    if (t.v.phase === "left") {
      // Its frame is repeated no more: a B5 00 of which no copy went out intact has its fate (the ledger's
      // torn-after-debit) decided now, as when it is given up, not when the RSU stops.
      if (aside.pending) this.link.discard(aside.pending);
      this.end(this.settled(t, "abandoned"), "OBU left");
      return true;
    }
    if (aside.pending) this.link.resumePending(aside.pending);
    return true;
  }

  /** Traffic hook: the vehicle left the zone. The RSU notices at its next DSRC exchange. */
  left(v: VState): boolean {
    // Set aside for a C8: it ends when it is current again (`resume`).
    if (this.aside?.txn.v === v) return true;
    if (this.cur?.v !== v) return false;
    // If nothing is outstanding, the transaction is over now.
    if (!this.link.pending && this.busy === undefined)
      this.end(this.settled(this.cur, "abandoned"), "OBU left");
    return true;
  }

  /**
   * An empty ack answered the pending frame. The legacy reference lets the lane answer any RSU frame with
   * one, so it always ends what it answers (before, an ack to an OBU frame ended the transaction only once
   * the OBU had left: the RSU waited in wait-b5 for a frame that never came, serving no other OBU and, in
   * legacy, sending no heartbeat). An ack to a B5 or B8 ends the exchange as C1 does (release; after a B5
   * 00 or B8 00 the OBU goes on the recent-success list); an ack to a B2, B3 or B4 is the lane declining
   * the OBU: released as after C2 stop type 1 (`stopped`, `failed` after an error frame), not traded again
   * while in the zone (docs/simulator.md, "Modes and what each lane frame gets").
   */
  onAck(answered: Pending): void {
    const t = this.cur;
    // B0, or a frame of no transaction (a B8 for an OBU out of range): search again.
    if (!answered.v || t?.v !== answered.v) {
      this.trySearch();
      return;
    }
    const what = `empty ack to ${answered.frame.type}`;
    if (t.v.phase === "left") this.end(this.settled(t, "abandoned"), `${what}, OBU gone`);
    else if (t.step === "b5" || t.step === "b8") this.end(this.settled(t, "failed"), what);
    else this.end(this.settled(t, t.error ? "failed" : "stopped"), what);
  }

  /** The RSU gave up on an information frame (no answer after all retries). */
  onGiveUp(p: Pending): void {
    if (p.v && this.cur?.v === p.v)
      this.end(this.settled(this.cur, "gave-up"), `no answer to ${p.frame.type}`);
    else this.trySearch();
  }

  /** `divFactor`: the C1's OBUDivFactor (checked on the C1 to B2, which makes the RSU read the vehicle file). */
  onC1(obuId: string, answer: LaneAnswer, divFactor: string): string | undefined {
    if (answer.pending?.frame.type === "B0") {
      answer.take();
      this.trySearch();
      return undefined;
    }
    const t = this.cur;
    if (!t) {
      if (!answer.pending) return "ignored: C1 with no OBU in transaction";
      // It answers a frame of no transaction (a B8 for an OBU out of range): search again.
      answer.take();
      this.trySearch();
      return undefined;
    }
    if (obuId !== t.v.m.obu.obuId) return `ignored: C1 for OBU ${obuId}, current OBU is ${t.v.m.obu.obuId}`;
    if (this.busy !== undefined) return "ignored: RSU busy on the air";
    if (t.error) {
      answer.take();
      // A B8 error after the B5 00 (a C8 naming a serial the card never used) leaves the purchase made:
      // `traded`, as C2 ends it (before, `failed`: off the recent-success list, a retradeWhileInZone
      // vehicle was traded again).
      this.end(this.settled(t, "failed"), `C1 after ${t.frame?.type} error`);
      return undefined;
    }
    const v = t.v;
    const dsrcMs = this.ctx.timing.dsrcMs;
    switch (t.step) {
      case "b2": {
        answer.take();
        t.step = "b3";
        // The RSU authenticates the OBU and reads its vehicle file with the OBU key diversified by the
        // C1's divisor: another issuer's (or zeros) fails, B3 ErrorCode 09 (docs/simulator.md, C1 row).
        const head = v.m.obu.issuer.slice(0, 8).toLowerCase();
        const wrongDiv = this.purchases.checkDivFactor && divFactor.toLowerCase() !== `${head}${head}`;
        this.air(dsrcMs.b3 + this.slowFor(v, "B3"), () =>
          this.emitObuFrame("B3", wrongDiv ? RSU_ERR.obuAuthFailed : undefined),
        );
        if (this.traffic.fault(v, "leave-before-b3")) this.traffic.leave(v);
        return wrongDiv ? `C1 OBUDivFactor ${divFactor} is not the OBU issuer's (${head}${head})` : undefined;
      }
      case "b3":
        answer.take();
        t.step = "b4";
        this.air(dsrcMs.b4 + this.slowFor(v, "B4"), () => this.emitObuFrame("B4"));
        if (this.traffic.fault(v, "leave-before-b4")) this.traffic.leave(v);
        return undefined;
      case "b4":
        return "ignored: C1 is not legal after B4 (C6, C3 or C2 expected)";
      case "b5":
      case "b8":
        answer.take();
        this.end(this.settled(t, "failed"), `C1 after ${t.step.toUpperCase()}`);
        return undefined;
    }
  }

  onC2(obuId: string, stopType: number, mode: RsuMode, answer: LaneAnswer): string | undefined {
    const t = this.cur;
    if (stopType === 2) {
      if (!t || obuId !== t.v.m.obu.obuId) return `ignored: C2 resend for OBU ${obuId}, not the current OBU`;
      if ((t.step !== "b3" && t.step !== "b4") || this.busy !== undefined || !t.frame) {
        return `ignored: C2 resend is only legal after B3 or B4 (mode ${mode})`;
      }
      answer.take();
      const frame = t.frame;
      const step = t.step;
      // A new RSCTL/SEQ: the lane asked for it, so it must not look like a retransmission it already saw.
      this.air(this.ctx.timing.dsrcMs[step] + this.slowFor(t.v, STEP_FRAME[step]), () => {
        this.link.sendInfo(frame, t.v, t.v.m.obu.obuId);
      });
      return "resend current frame";
    }
    // StopType 1 (and the dialect types 3/4): end, release, search again. The OBUID is not checked.
    answer.take();
    if (!t) {
      // It may have answered a frame of no transaction (a B8 for an OBU out of range): search again.
      this.trySearch();
      return "no OBU in transaction: nothing to stop";
    }
    this.end(this.settled(t, t.error ? "failed" : "stopped"), `C2 stop type ${stopType}`, "C2");
    return undefined;
  }

  onPurchase(
    f: Extract<Frame, { type: "C6" | "C3" }>,
    mode: RsuMode,
    answer: LaneAnswer,
    /** The frame's DATA as received: its Station goes to the card as the lane sent it. */
    data: Buffer,
  ): string | undefined {
    const t = this.cur;
    if (!t) return `ignored: ${f.type} with no OBU in transaction`;
    if (f.obuId !== t.v.m.obu.obuId)
      return `ignored: ${f.type} for OBU ${f.obuId}, current OBU is ${t.v.m.obu.obuId}`;
    if (t.step !== "b4" || this.busy !== undefined)
      return `ignored: ${f.type} is only legal after B4 (mode ${mode})`;
    if (t.error) return `ignored: ${f.type} after a B4 error`;
    answer.take();
    const v = t.v;
    t.step = "b5";
    const req = this.purchases.request(f, data);
    this.air(this.ctx.timing.dsrcMs.b5 + this.slowFor(v, "B5"), () => this.purchase(v, f.type, req));
    return undefined;
  }

  /** The composite purchase on the card, then B5 (success, error, or uncertain when torn). */
  private purchase(v: VState, command: "C6" | "C3", asked: PurchaseRequest): void {
    const t = this.cur;
    if (!t || t.v !== v) return;
    const obuId = v.m.obu.obuId;
    if (this.preSendFaults(v, "B5")) return;
    const card = this.purchases.cardOf(v);
    const psam = this.purchases.psam;
    // a record time of 0 (the lane lets the RSU stamp it): the RSU's own clock, the scenario's. The record's
    // time is in the card's time base, WrFileTime (an RSU frame time) in the RSU's.
    const d = this.ctx.dialect;
    const writtenAt = asked.record.time ? fromCardUnix(d, asked.record.time) : this.ctx.wallNow();
    const wrFileTime = toWireUnix(d, writtenAt);
    // Legacy, where B5 reports WrFileTime: the card's 0019 gets that time too, so the two agree (before,
    // the card kept time 0). National (no WrFileTime) writes the record as the lane sent it.
    const req =
      asked.record.time === 0 && d.variant === "legacy"
        ? withRecordTime(asked, toCardUnix(d, writtenAt))
        : asked;
    // A B5 error is the reference's short form: what the RSU knows of the C6/C3 and its PSAM.
    const shortFacts: B5ShortFacts = {
      psamNo: psam?.terminalNo ?? "000000000000",
      transTime: req.transTime,
      transType: TRANS_TYPE.compositePurchase,
      wrFileTime,
    };
    const fail = (code: number, why: string): void => {
      this.ctx.log.info({ obuId, code, why }, "B5 error");
      t.error = true;
      t.frame = b5ShortFrame(this.ctx.dialect, obuId, code, shortFacts);
      this.link.sendInfo(t.frame, v, obuId);
    };
    if (v.phase !== "in-zone") {
      fail(RSU_ERR.noDsrc, "OBU out of range before the purchase");
      return;
    }
    const trade = req.tradeType;
    if (trade !== undefined && !(Object.values(OBU_TRADE_TYPE) as number[]).includes(trade)) {
      fail(
        RSU_ERR.decodeError,
        `C6 OBUTradeType ${trade} is none of 00 (EF04 + purchase), 01 (EF04 only), 02 (purchase only)`,
      );
      return;
    }
    // 00 and 01 write the C6's EF04Info to the OBU's EF04 first; 02 (and legacy C6, C3) leave it alone.
    const ef04 =
      trade === OBU_TRADE_TYPE.ef04AndPurchase || trade === OBU_TRADE_TYPE.ef04Only ? req.ef04 : undefined;
    if (ef04 !== undefined) this.purchases.writeEf04(obuId, ef04);
    // A refused purchase after the EF04 was written says so (12), else purchase-only failed (11).
    const refused = ef04 !== undefined ? RSU_ERR.ef04WrittenPurchaseRefused : RSU_ERR.purchaseRefused;
    if (trade === OBU_TRADE_TYPE.ef04Only) {
      // No purchase: the card is not touched (no INIT, no PSAM serial, no ledger line), B5 00 without a TAC.
      this.ctx.log.info({ obuId }, "C6 EF04 only: EF04 written, no purchase");
      t.ef04Only = true;
      t.error = false;
      t.frame = b5ShortFrame(this.ctx.dialect, obuId, RSU_ERR.ok, { ...shortFacts, transType: 0x00 });
      this.link.sendInfo(t.frame, v, obuId);
      return;
    }
    if (!card || !psam) {
      fail(refused, "no card");
      return;
    }
    let tear: TearPoint = "none";
    let lost: Extract<VehicleFault, { kind: "b5-lost" }> | undefined;
    if (this.traffic.fault(v, "leave-during-debit")) tear = "before-debit";
    else {
      lost = this.traffic.fault(v, "b5-lost");
      if (lost) tear = "after-debit";
    }
    // An uncertain B5 reports what INIT and MAC1 told the RSU about the attempt (key version and
    // algorithm id from the card's INIT answer).
    const uncertain = (attempt: PurchaseAttempt, why: string, code: number = RSU_ERR.noDsrc): void => {
      this.ctx.log.info(
        { obuId, why },
        `B5 error ${code.toString(16).padStart(2, "0")}: debit outcome unknown to the RSU`,
      );
      t.error = true;
      t.frame = uncertainB5Frame(this.ctx.dialect, obuId, attempt, code, wrFileTime);
      this.link.sendInfo(t.frame, v, obuId);
    };
    let outcome: PurchaseOutcome;
    try {
      outcome = this.purchases.perform(card, psam, req, tear);
    } catch (e) {
      // The PSAM rejected MAC2 after the card debited (E714, details.result: the purchase as the card made
      // it): the card paid, and the RSU cannot vouch for the TAC. One ledger line, and an uncertain B5 as
      // for a purchase torn after the debit (TAC 00000000) with the lists' own code for it: national 07
      // "MAC2 verify failed", legacy 19h "MAC2 failed" (src/rsu/result-codes.ts); C8 → B8 settles it.
      // Before, this was B5 11 ("refused", nothing debited) and no ledger line.
      const debited = isEtcError(e, CardErrorCodes.Mac2Invalid)
        ? (e.details?.result as PurchaseResult | undefined)
        : undefined;
      if (debited) {
        this.purchases.record(v, command, debited, req.record, "torn-after-debit");
        uncertain(
          debited,
          `the PSAM rejected MAC2 after the debit: ${(e as Error).message}`,
          this.ctx.dialect.variant === "legacy" ? RSU_ERR.mac2FailedLegacy : RSU_ERR.mac2Failed,
        );
        return;
      }
      // The card refuses DEBIT with 9302 when MAC1 is not its own (a wrong divisor factor): nothing debited.
      const mac1Refused = isEtcError(e, CardErrorCodes.CardRefused) && e.details?.sw === swHex(SW.macInvalid);
      fail(mac1Refused ? RSU_ERR.mac1Rejected : refused, (e as Error).message);
      return;
    }
    if (outcome.kind === "torn") {
      if (outcome.debited) {
        this.purchases.record(v, command, outcome.result, req.record, "torn-after-debit");
        // The OBU lingers in range for the lane's C8, then leaves.
        this.traffic.leaveAfter(v, lost?.lingerMs ?? 3000);
        if (lost?.b5 === "none") {
          // The RSU lost the answer and reports nothing; it goes back to searching. The OBU stays in
          // range (not traded again) for the lane's C8.
          this.end("failed", "B5 lost after the debit");
          return;
        }
        uncertain(outcome.result, "purchase torn after the debit");
        return;
      }
      uncertain(outcome.started, "purchase torn before the debit");
      this.traffic.leave(v);
      return;
    }
    const r = outcome.result;
    t.paid = true;
    t.error = false;
    t.frame = b5Frame(this.ctx.dialect, obuId, r, wrFileTime);
    // The ledger line waits for the B5's fate (./link.ts `Fate`): `done` once a copy of it went out
    // intact; `torn-after-debit` when none did (every copy damaged, or written to a closed port or to no
    // lane), as for a lane that never got it the debit is torn.
    this.link.sendInfo(t.frame, v, obuId, (delivered) =>
      this.purchases.record(v, command, r, req.record, delivered ? "done" : "torn-after-debit"),
    );
  }

  onC8(obuId: string, epSerial: number, answer: LaneAnswer, ef04?: C8Ef04): string | undefined {
    if (this.busy !== undefined) return "ignored: RSU busy on the air";
    const cur = this.cur;
    // The current transaction's OBU even when it has left (a purchase torn before the debit), else an
    // OBU in range.
    const v = cur?.v.m.obu.obuId === obuId ? cur.v : this.traffic.inZone(obuId);
    const dsrcMs = this.ctx.timing.dsrcMs;
    if (!this.host.antennaOpen()) {
      // The antenna closed (not opened since the C0, or closed by a C4 00, which ended any transaction):
      // the RSU reaches no OBU, so its card is not read, whether the OBU is in range or not. B8 01 (no
      // DSRC response), as for an OBU out of range.
      answer.take();
      this.air(dsrcMs.b8, () =>
        this.link.sendInfo(errorFrame("B8", obuId, RSU_ERR.noDsrc), undefined, obuId),
      );
      return "antenna closed: B8 ErrorCode 01";
    }
    if (!v) {
      // Out of range: the transaction with another OBU goes on, its frame still repeated.
      if (cur)
        return `ignored: C8 for OBU ${obuId}, out of range, while in a transaction with OBU ${cur.v.m.obu.obuId}`;
      answer.take();
      this.air(dsrcMs.b8, () =>
        this.link.sendInfo(errorFrame("B8", obuId, RSU_ERR.noDsrc), undefined, obuId),
      );
      return "OBU not in range: B8 ErrorCode 01";
    }
    if (cur && cur.v !== v && this.aside)
      return `ignored: C8 for OBU ${obuId} while OBU ${cur.v.m.obu.obuId}'s transaction is in progress and OBU ${this.aside.txn.v.m.obu.obuId}'s is set aside`;
    answer.take();
    // The RSU turns to the C8's OBU. A transaction with another OBU is set aside as it stands (its OBU is
    // not released, its frame stops being repeated) and goes on when the B8's transaction ends: the C8
    // touches only the OBU it names.
    if (cur && cur.v !== v) {
      this.aside = { txn: cur, pending: this.link.suspendPending() };
      this.cur = undefined;
      this.ctx.log.info(
        { obuId: cur.v.m.obu.obuId, step: cur.step, c8ObuId: obuId },
        "transaction set aside for a C8",
      );
    }
    if (!this.cur) this.cur = { v, step: "b8", error: false, frame: undefined, paid: false, ef04Only: false };
    const t = this.cur;
    t.step = "b8";
    this.air(dsrcMs.b8 + this.slowFor(v, "B8"), () => {
      if (this.cur !== t) return;
      if (this.preSendFaults(v, "B8")) return;
      const card = this.purchases.cardOf(v);
      // EF04CmdType 01 writes the C8's EF04Info to the OBU first (as a C6 00/01 does); a failed TAC then
      // answers 03, "EF04 written but TAC failed" (docs/protocol.md §6).
      if (v.phase === "in-zone" && ef04?.cmdType === C8_EF04_WRITE && ef04.ef04Info !== undefined)
        this.purchases.writeEf04(obuId, ef04.ef04Info);
      const proof = v.phase === "in-zone" ? card?.transactionProve(epSerial) : undefined;
      if (!card || v.phase !== "in-zone") {
        t.error = true;
        t.frame = errorFrame("B8", obuId, RSU_ERR.noDsrc);
      } else if (!proof) {
        t.error = true;
        t.frame = errorFrame("B8", obuId, RSU_ERR.tacNotFound);
      } else {
        t.error = false;
        t.paid = true;
        t.frame = b8Frame(obuId, proof.tac, proof.mac2, card.snapshot().balance);
      }
      this.link.sendInfo(t.frame, v, obuId);
    });
    return undefined;
  }
}
