/**
 * The lane gate: whether the lane is open, and the antenna with it. The lane is open only when the RSU
 * session is ready, the link is up, the journal is writable, the status list is usable under its policy
 * (list-policy.ts), the controller is not stopping, and no operator closed it (operator-close.ts keeps
 * that close in the journal, across restarts). Everything that can close the lane is an input here;
 * `desired()` is the one place that decides.
 *
 * The gate owns the antenna (C4): on when the lane opens; off at once when the journal fails (no trading
 * without a record; while the link cannot send, as soon as it can: a link loss leaves the antenna on), for
 * the status-list policy or an operator's close once no debit is in flight (the controller says when:
 * `quiet()`), so the B5 of a debit in flight can still come, and at the end of a stop.
 */
import { BehaviorSubject, type Observable } from "rxjs";
import type { Logger } from "../../firmware-bridge/log.js";
import type { LaneOutputs } from "../outputs/outputs.js";
import type { RsuCodec, RsuStatus } from "../rsu/driver.js";
import { type OperatorClose, operatorDetail } from "./operator-close.js";
import type { RsuLinkPort } from "./ports.js";
import { STOP_REASONS } from "./stop-reasons.js";

export type LaneClosedReason =
  | "rsu-down"
  | "rsu-init"
  | "rsu-fault"
  | "journal"
  | "status-list"
  | "operator"
  | "stopping"
  | "stopped";

export type LaneStatus =
  | { status: "starting" }
  | { status: "open"; rsu: RsuStatus }
  | { status: "closed"; reason: LaneClosedReason; detail: string };

/** Lane events for the status service and the booth. `at` is monotonic ms. */
export type LaneEvent =
  | { type: "lane"; status: "open" | "closed"; reason: string; at: number }
  | { type: "link"; status: "up" | "down"; reason?: string; at: number }
  | { type: "alarm"; code: string; message: string; at: number }
  | { type: "notice"; code: string; message: string; at: number };

export interface LaneGateDeps {
  link: RsuLinkPort;
  codec: RsuCodec;
  outputs: LaneOutputs;
  log: Logger;
  /** monotonic ms */
  now: () => number;
  alarm(code: string, message: string): void;
  notice(code: string, message: string, data: Record<string, unknown>): void;
  event(e: LaneEvent): void;
  /** the RSU's B0 while the session is ready, else undefined */
  rsu(): RsuStatus | undefined;
  /** why the status-list policy keeps the lane closed now, or null */
  listCloses(): string | null;
  /** an operator's close in force (./operator-close.ts), or null */
  operatorClosed(): OperatorClose | null;
}

/**
 * The status detail of a lane closed for its journal, by what happened to it (LaneGate.journal) and, for a
 * failure, whether a write or a read failed (a read that met a damaged file or an I/O error).
 */
function journalClosedDetail(
  state: "failed" | "refused" | "writable-again",
  failed: "write" | "read",
): string {
  if (state === "refused")
    return "the journal refused a record the lane built (a fault of the lane, the record in its log): restart the lane";
  if (state === "failed") return `journal ${failed} failed`;
  return `journal ${failed} failed; the journal is writable again: restart the lane to record what the failure left and open`;
}

export class LaneGate {
  private readonly statusSubject = new BehaviorSubject<LaneStatus>({ status: "starting" });
  readonly status$: Observable<LaneStatus> = this.statusSubject.asObservable();
  private up = false;
  /** the link is down but its port is open (the RSU is silent; frames can still be sent) */
  private portOpen = false;
  private linkDetail = "RSU link not up yet";
  private sessionLost: { reason: "rsu-init" | "rsu-fault"; detail: string } | undefined;
  /**
   * "ok" until a record is not written: "failed" (a write failed), "refused" (the healthy journal refused
   * it), "writable-again" (failed, and the journal recovered since: the lane waits for a restart)
   */
  private journal: "ok" | "failed" | "refused" | "writable-again" = "ok";
  /** what failed when `journal` turned "failed": a write, or a read */
  private journalFailure: "write" | "read" = "write";
  private stoppingFlag = false;
  private stoppedFlag = false;
  /**
   * The RSU's antenna may be on (what a C4 00 is sent for): from a C4 01 until a C4 00 went out or the RSU
   * restarted or re-announced itself (sessionChanged). A link loss does not end it (an unplug, a TCP reset
   * or a watchdog trip leaves the RSU as it was), nor does a C0 (the simulated RSU keeps its antenna state
   * through one, docs/simulator.md).
   */
  private antennaOn = false;
  /**
   * The antenna is known to be on (what saves a C4 01 when the lane opens): from a C4 01 until anything
   * after which the RSU may have switched it off (a link loss, a C0, a C4 00, a restart).
   */
  private antennaKnownOn = false;

  constructor(private readonly d: LaneGateDeps) {}

  get status(): LaneStatus {
    return this.statusSubject.value;
  }

  get linkUp(): boolean {
    return this.up;
  }

  /**
   * C0 may go out: the link is up (or down only because the RSU is silent, its port open: an RSU that waits
   * for C0 says nothing until it gets one), the journal writable, the controller not stopping.
   */
  get mayInit(): boolean {
    return (this.up || this.portOpen) && this.journal === "ok" && !this.stoppingFlag && !this.stoppedFlag;
  }

  // ---- inputs ------------------------------------------------------------------------------------

  linkChanged(up: boolean, detail = "", portOpen = false): void {
    this.up = up;
    this.portOpen = !up && portOpen;
    if (!up) {
      this.antennaKnownOn = false;
      this.linkDetail = detail;
    }
  }

  /** C0 goes out: the RSU re-initialises, and its antenna may be off after it (a C4 01 when the lane opens). */
  initSent(): void {
    this.antennaKnownOn = false;
  }

  sessionChanged(lost: { reason: "rsu-init" | "rsu-fault"; detail: string } | undefined): void {
    this.sessionLost = lost;
    if (lost) {
      // a restarted or faulty RSU has its antenna off
      this.antennaOn = false;
      this.antennaKnownOn = false;
    }
  }

  /**
   * A record was not written. `refused`: the journal, still healthy, refused it (E605, a record the lane
   * built wrong: a fault of the lane, not of the disk); else the journal failed: `failure` says whether a
   * write or a read did (the journal's health names the operation).
   */
  journalFailedNow(refused = false, failure: "write" | "read" = "write"): boolean {
    const first = this.journal === "ok";
    if (first || this.journal === "writable-again") this.journalFailure = failure;
    if (first) this.journal = refused ? "refused" : "failed";
    else if (this.journal === "writable-again") this.journal = "failed";
    return first;
  }

  /**
   * The journal is writable again after a failure that closed the lane. The lane stays closed: what the
   * failure left (a debit whose record was refused, an intent without its answer) is recorded by the
   * restart, which reads the intents and seeds the holds again; the status now says so. True when the
   * lane was closed for a failed write (the change is worth telling; a refused record's status already
   * asks for the restart).
   */
  journalWritableNow(): boolean {
    if (this.journal !== "failed") return false;
    this.journal = "writable-again";
    return true;
  }

  stoppingNow(): void {
    this.stoppingFlag = true;
  }

  stoppedNow(): void {
    this.stoppedFlag = true;
  }

  // ---- the decision ------------------------------------------------------------------------------

  desired(): LaneStatus {
    const closed = (reason: LaneClosedReason, detail: string): LaneStatus => ({
      status: "closed",
      reason,
      detail,
    });
    if (this.stoppedFlag) return closed("stopped", "controller stopped");
    if (this.stoppingFlag)
      return closed("stopping", "controller stopping: answers of debits in flight awaited");
    if (this.journal !== "ok")
      return closed("journal", journalClosedDetail(this.journal, this.journalFailure));
    const operator = this.d.operatorClosed();
    if (operator) return closed("operator", operatorDetail(operator));
    if (!this.up) return closed("rsu-down", this.linkDetail);
    if (this.sessionLost) return closed(this.sessionLost.reason, this.sessionLost.detail);
    const list = this.d.listCloses();
    if (list !== null) return closed("status-list", list);
    const rsu = this.d.rsu();
    if (!rsu)
      return this.status.status === "starting" ? this.status : closed("rsu-init", "RSU not initialised");
    return { status: "open", rsu };
  }

  /**
   * Apply `desired()`. Returns "closed" when the lane is now closed for a new reason (the controller ends
   * the vehicles before their debit), "open" when it just opened, undefined when nothing changed.
   */
  async update(): Promise<"open" | "closed" | undefined> {
    const was = this.status;
    const next = this.desired();
    if (
      next.status === was.status &&
      (next.status !== "closed" || (was.status === "closed" && was.reason === next.reason))
    ) {
      // closed for the journal, which is writable again: the status says a restart opens the lane (the
      // alarm was raised when it closed; other details, such as a link's, are not republished)
      if (
        next.status === "closed" &&
        next.reason === "journal" &&
        was.status === "closed" &&
        next.detail !== was.detail
      )
        this.statusSubject.next(next);
      // closed for the journal while nothing could be sent: the link may send again (a silent RSU's port open)
      await this.antennaOffForJournal();
      return undefined;
    }
    this.statusSubject.next(next);
    const o = this.d.outputs;
    if (next.status === "open") {
      if (!this.antennaKnownOn) await this.antenna(true);
      const reason = `RSU ${next.rsu.rsuId} v${next.rsu.version}`;
      o.emit({ type: "lane", status: "open", reason, at: this.d.now() });
      o.emit({ type: "light", color: "red", at: this.d.now() });
      this.d.event({ type: "lane", status: "open", reason, at: this.d.now() });
      this.d.log.info({ rsuId: next.rsu.rsuId, psams: next.rsu.psams.map((p) => p.terminalId) }, "lane open");
      return "open";
    }
    if (next.status !== "closed") return undefined;
    if (was.status === "open" || next.reason === "journal") {
      // no vehicle is let through a closed lane: the light red first. The barrier is not commanded, as for
      // a stop: it is open now only for a paid vehicle still on its way through (or raised by staff), and its
      // own exit loop closes it behind that vehicle; a close sent now could come down in front of it. A debit
      // in flight that completes during the close still opens it (docs/lane.md, "Barrier and lane light").
      o.emit({ type: "light", color: "red", at: this.d.now() });
      o.emit({ type: "lane", status: "closed", reason: next.detail, at: this.d.now() });
      o.emit({
        type: "display",
        text: STOP_REASONS.LANE_CLOSED.message,
        detail: "请走人工车道",
        tone: "stop",
        obuId: null,
        at: this.d.now(),
      });
      this.d.event({ type: "lane", status: "closed", reason: next.detail, at: this.d.now() });
      // stopping and an operator's close are meant: no alarm (the operator's close has its notice)
      if (next.reason !== "stopped" && next.reason !== "stopping" && next.reason !== "operator")
        this.d.alarm(
          `LANE_CLOSED_${next.reason.toUpperCase().replace("-", "_")}`,
          `ETC service closed: ${next.detail}`,
        );
      if (next.reason === "operator")
        this.d.log.warn({ detail: next.detail }, "ETC SERVICE CLOSED BY OPERATOR");
      // a planned stop is no error: a log alert on error lines would page at every restart
      else if (next.reason === "stopped" || next.reason === "stopping")
        this.d.log.info(
          { reason: next.reason, detail: next.detail },
          "ETC service closed: the lane is stopping",
        );
      else this.d.log.error({ reason: next.reason, detail: next.detail }, "ETC SERVICE CLOSED");
    }
    await this.antennaOffForJournal();
    return "closed";
  }

  /**
   * No trading without a record: a lane closed for the journal switches the antenna off at once, as soon
   * as the link can send (up, or down with its port open), and else when the link comes back up (the
   * controller calls this then: no C0 goes out once the journal failed, src/lane/rsu-session.ts).
   */
  async antennaOffForJournal(): Promise<void> {
    const s = this.status;
    if (s.status !== "closed" || s.reason !== "journal") return;
    if (this.antennaOn && (this.up || this.portOpen)) await this.antenna(false);
  }

  /**
   * No debit is in flight any more: a lane closed for the status-list policy or by an operator switches
   * its antenna off now (it was left on for the B5 of debits in flight). A stop does it as its last step.
   */
  async quiet(): Promise<void> {
    const s = this.status;
    if (!this.antennaOn || !this.up || s.status !== "closed") return;
    if (s.reason === "status-list" || s.reason === "operator") await this.antenna(false);
  }

  /** The last step of a stop: antenna off if it is still on. */
  async antennaOffForStop(): Promise<void> {
    if (this.up && this.antennaOn) await this.antenna(false);
  }

  private async antenna(on: boolean): Promise<void> {
    try {
      // a C4 01 that fails may still have gone out; a C4 00 that fails leaves the antenna as it was
      this.antennaKnownOn = on;
      if (on) this.antennaOn = true;
      await this.d.link.send(this.d.codec.encode({ kind: "antenna", on }));
      if (!on) this.antennaOn = false;
    } catch (e) {
      this.d.log.warn({ err: (e as Error).message, on }, "C4 could not be sent");
    }
  }
}
