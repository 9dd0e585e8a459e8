/**
 * The RSU session: C0 -> B0 (checked) at start-up, after the link returns and after an RSU reboot, with
 * the ONE start-up timer (the B0 deadline, then the pause before the next C0). Every path that ends the
 * wait (B0 accepted, B0 refused, link down, stop) cancels it, so no stale timer ever sends a C0 to an open
 * lane. The antenna (C4) belongs to the lane gate in controller.ts, not to the session.
 *
 *   idle --begin--> awaiting-b0 --B0 ok--> ready
 *   awaiting-b0 --no B0 in initTimeoutMs / B0 not ok / C0 not sent--> retry-wait --initRetryMs--> awaiting-b0
 *   awaiting-b0 --B0 with the reboot mark (legacy RSCTL 0x98)--> awaiting-b0 (C0 once more; after
 *     MAX_MARKED_ANSWERS such answers in a row the B0 is checked as an answer, with a warning)
 *   retry-wait --B0 ok (a late answer to our C0)--> ready
 *   ready --unsolicited B0 (reboot)--> awaiting-b0;   ready --unsolicited B0 (no reboot mark)--> idle
 *   any --link down, port lost--> down --link up--> idle
 *   ready --link down, port open (the RSU is silent)--> idle;   awaiting-b0 / retry-wait keep their cycle
 *   retry-wait --link up--> awaiting-b0 at once (after the frames that brought the link back)
 *
 * From idle the controller calls begin() once nothing holds C0 (a debit in flight, the recovery's listen
 * window: C0 resets the RSU, which drops the B5 it owes). No C0 goes out, on any path (the controller's, the
 * session's own timers, a reboot B0), while the controller's `mayInit` says no (the journal failed, the
 * controller stopping: src/lane/lane-gate.ts): the session goes to idle instead, and stays there. A
 * silent RSU on an open port (a keep-open watchdog trip, docs/link.md "States") keeps getting C0 every initTimeoutMs + initRetryMs: an RSU that
 * rebooted while the line was dead, or was powered on after the lane, says nothing until it gets one.
 */
import type { Logger } from "../../firmware-bridge/log.js";
import type { InitParams, RsuCodec, RsuStatus } from "../rsu/driver.js";
import type { RsuLinkPort } from "./ports.js";

/** after the first three C0s of an unanswered series, their lines are logged once per this many */
const LOG_EVERY = 60;

/**
 * C0s in a row answered by a B0 with the reboot mark (legacy RSCTL 0x98) before the lane opens on such a
 * B0 all the same, with a warning (an RSU that marks every B0 so would otherwise keep the lane closed).
 */
export const MAX_MARKED_ANSWERS = 3;

export type SessionState = "down" | "idle" | "awaiting-b0" | "retry-wait" | "ready" | "stopped";

export interface RsuSessionDeps {
  link: RsuLinkPort;
  codec: RsuCodec;
  role: "entry" | "exit";
  c0: Omit<InitParams, "timeMs" | "laneMode">;
  timing: { initTimeoutMs: number; initRetryMs: number };
  log: Logger;
  /** wall clock ms (the C0 time) */
  wallNow: () => number;
  /** run `fn` on the lane's serial queue after `ms`; returns a cancel function */
  schedule(ms: number, fn: () => Promise<void> | void): () => void;
  alarm(code: string, message: string): void;
  counters: { inits: number; rsuReboots: number };
  /** C0 may go out (the lane gate's mayInit: link, journal writable, not stopping) */
  mayInit(): boolean;
  /** a C0 is going out: the RSU re-initialises (its antenna may be off after it) */
  onInitSent(): void;
  /** the RSU answered C0 with a good B0 */
  onReady(status: RsuStatus): Promise<void>;
  /** the RSU restarted or re-announced itself while ready (its antenna is off, its mode forgotten) */
  onLost(reason: "rsu-init" | "rsu-fault", detail: string): Promise<void>;
}

export class RsuSession {
  private st: SessionState = "down";
  private cancelTimer: (() => void) | undefined;
  private attempt = 0;
  /** C0s sent since the last B0 that made the session ready (their log lines are thinned out: loud()) */
  private unanswered = 0;
  private lastStatus: RsuStatus | undefined;
  /** the last B0 received, whatever it said and whatever the session made of it */
  private lastB0Status: RsuStatus | undefined;
  /** C0s in a row answered by a B0 with the reboot mark (reset by begin(), which starts a new series) */
  private markedAnswers = 0;

  constructor(private readonly d: RsuSessionDeps) {}

  get state(): SessionState {
    return this.st;
  }

  get status(): RsuStatus | undefined {
    return this.st === "ready" ? this.lastStatus : undefined;
  }

  /**
   * The last B0 the RSU sent (its id, version, PSAMs), kept whatever the lane's state: one that kept the
   * lane closed (no PSAM authorised, RSUStatus not 0) is what a maintainer needs to see. undefined before
   * the first.
   */
  get lastB0(): RsuStatus | undefined {
    return this.lastB0Status;
  }

  /** The link is up; C0 waits until `begin()` (the controller may listen for B5 repeats first). */
  linkUp(): void {
    if (this.st === "down") this.st = "idle";
    // Back from a silence during which C0 went unanswered: the pause before the next C0 ends now. The
    // timer's task runs after the frame that brought the link back, so a late B0 among them is still taken
    // as the answer (and then no C0 follows).
    else if (this.st === "retry-wait") this.retryLater(0);
  }

  /**
   * The link went down. `portOpen`: only the RSU is silent and its port is open (docs/link.md "States"):
   * a session waiting for B0 keeps sending C0 on its cycle, a ready one goes back to idle (the controller
   * sends C0 once nothing holds it). Otherwise nothing can be sent: the session waits for the link.
   */
  linkDown(portOpen = false): void {
    if (this.st === "stopped") return;
    if (portOpen) {
      if (this.st === "ready" || this.st === "down") this.st = "idle";
      return;
    }
    this.clearTimer();
    this.st = "down";
  }

  stop(): void {
    this.clearTimer();
    this.st = "stopped";
  }

  /** Send C0 (from idle, or again after an RSU restart). */
  begin(): Promise<void> {
    this.markedAnswers = 0;
    return this.sendC0();
  }

  private async sendC0(): Promise<void> {
    if (this.st === "down" || this.st === "stopped") return;
    this.clearTimer();
    if (!this.d.mayInit()) {
      // the journal failed or the controller is stopping: no C0 (the lane stays closed until a restart)
      this.st = "idle";
      return;
    }
    this.attempt++;
    this.unanswered++;
    this.st = "awaiting-b0";
    const attempt = this.attempt;
    const loud = this.loud();
    this.arm(this.d.timing.initTimeoutMs, () => {
      if (this.st !== "awaiting-b0" || attempt !== this.attempt) return;
      if (loud)
        this.d.log.warn(
          { attempt, unanswered: this.unanswered },
          `no B0 within ${this.d.timing.initTimeoutMs} ms after C0` +
            (this.unanswered > 3 ? ` (${this.unanswered} C0s unanswered; logged once per ${LOG_EVERY})` : ""),
        );
      this.retryLater();
    });
    try {
      this.d.counters.inits++;
      this.d.onInitSent();
      await this.d.link.send(
        this.d.codec.encode({
          kind: "init",
          params: { timeMs: this.d.wallNow(), laneMode: this.d.role === "entry" ? 3 : 4, ...this.d.c0 },
        }),
        // the link's wait for this C0's B0 ends with the session's: both count a later 0x98 B0 as a reboot
        { answerWithinMs: this.d.timing.initTimeoutMs },
      );
      if (loud) this.d.log.info({ attempt, laneMode: this.d.role === "entry" ? 3 : 4 }, "C0 sent");
    } catch (e) {
      this.d.log.warn({ err: (e as Error).message }, "C0 could not be sent");
      if (this.st === "awaiting-b0" && attempt === this.attempt) this.retryLater();
    }
  }

  /**
   * A B0 arrived (already acknowledged). Returns "restarted" when it came while idle (the controller
   * holds C0) and says the RSU rebooted: whatever the RSU had in flight is gone, C0 should go out now.
   * One without a reboot mark while ready leaves the session idle: the controller sends C0 once no debit is
   * in flight.
   */
  async onB0(st: RsuStatus, rebootedFrame: boolean): Promise<"restarted" | undefined> {
    this.lastB0Status = st;
    const rebooted = st.rebooted || rebootedFrame;
    switch (this.st) {
      case "down":
      case "stopped":
        return undefined;
      case "idle":
        if (!rebooted) {
          this.d.log.info("B0 while C0 is held: ignored");
          return undefined;
        }
        this.d.counters.rsuReboots++;
        return "restarted";
      case "ready": {
        // An unsolicited B0: the RSU restarted or re-announced itself. Its antenna is off and it forgot the
        // lane mode: the lane closes, and C0 goes out again.
        this.st = "idle";
        if (rebooted) {
          // A legacy reboot (RSCTL 98): nothing it had in flight will be answered; C0 at once.
          this.d.counters.rsuReboots++;
          this.d.log.warn("unsolicited B0: RSU rebooted; sending C0 again");
          await this.begin();
          await this.d.onLost("rsu-init", "RSU rebooted");
          return undefined;
        }
        // No reboot mark (a national B0 never carries one, docs/protocol.md "Sequence numbers"): the RSU
        // may still owe the B5 of a debit in flight, which C0 would reset away. The session waits in idle;
        // the controller sends C0 once no debit is in flight (at once when none is).
        this.d.log.warn("unsolicited B0 without a reboot mark: lane closed; C0 once no debit is in flight");
        await this.d.onLost("rsu-init", "RSU re-announced (unsolicited B0)");
        return undefined;
      }
      case "awaiting-b0":
      case "retry-wait":
        // The answer to our C0 (in retry-wait: a late one). A rebooted RSU in retry-wait did not get the
        // C0 it answers; send it again.
        if (this.st === "retry-wait" && rebooted) {
          this.d.counters.rsuReboots++;
          await this.begin();
          return undefined;
        }
        if (this.st === "awaiting-b0" && rebooted) return this.markedAnswer(st);
        return this.check(st);
    }
  }

  /**
   * A B0 with the reboot mark (legacy RSCTL 0x98) while C0 awaits its answer. A freshly powered RSU answers
   * its first C0 so, but an RSU whose boot ends sends the same B0 unasked, having dropped the C0 sent while
   * it booted: the two cannot be told apart. C0 goes out once more and the lane opens on the answer to that
   * one (no mark). After MAX_MARKED_ANSWERS marked answers in a row the B0 is taken as the answer all the
   * same, with a warning. Not counted as a reboot (the link does not count it either, docs/link.md).
   */
  private async markedAnswer(st: RsuStatus): Promise<undefined> {
    this.markedAnswers++;
    if (this.markedAnswers < MAX_MARKED_ANSWERS) {
      this.d.log.info(
        { markedAnswers: this.markedAnswers },
        "B0 with the reboot mark (RSCTL 0x98) while C0 awaits its answer: the RSU powered on, or rebooted and dropped the C0; sending C0 once more",
      );
      await this.sendC0();
      return undefined;
    }
    this.d.log.warn(
      { markedAnswers: this.markedAnswers },
      `${this.markedAnswers} C0s in a row answered by a B0 with the reboot mark (RSCTL 0x98): taking the last as the answer`,
    );
    return this.check(st);
  }

  private async check(st: RsuStatus): Promise<undefined> {
    this.clearTimer();
    const problems: string[] = [];
    if (st.rsuStatus !== 0) problems.push(`RSUStatus ${st.rsuStatus.toString(16).padStart(2, "0")}`);
    if (st.psams.length === 0) problems.push("no PSAM");
    if (st.psams.length > 0 && !st.psams.some((p) => p.authorised)) problems.push("no PSAM authorised");
    if (st.psams.some((p) => /^0+$/.test(p.terminalId))) problems.push("PSAM terminal id is zero");
    const undecoded = undecodedNote(st);
    if (undecoded) this.d.log.warn({ undecoded: st.undecoded }, `B0 ${undecoded}`);
    if (problems.length) {
      // "no PSAM" from a B0 that does carry one, where the declaration cannot place it, would mislead: the
      // bytes left over are named, and where no PSAM was decoded, the layout that leaves them so.
      const detail =
        problems.join(", ") +
        (undecoded ? `; the B0 ${undecoded}` : "") +
        (undecoded && st.psams.length === 0
          ? " (the public national samples read so: their PSAMNum 00 does not count the PSAM entry that follows it, docs/protocol.md §7, B0)"
          : "");
      this.d.alarm("RSU_FAULT", `RSU not ready: ${detail}`);
      this.retryLater();
      await this.d.onLost("rsu-fault", detail);
      return undefined;
    }
    this.st = "ready";
    this.unanswered = 0;
    this.lastStatus = st;
    await this.d.onReady(st);
    return undefined;
  }

  /**
   * Whether this C0's lines are logged: the first three of a series, then one in LOG_EVERY (an RSU silent
   * for a week on an open port gets a C0 every initTimeoutMs + initRetryMs; the lane is closed and its
   * closed state and its reason are on /status and the page, so the log needs no line per attempt).
   */
  private loud(): boolean {
    return this.unanswered <= 3 || this.unanswered % LOG_EVERY === 0;
  }

  private retryLater(ms = this.d.timing.initRetryMs): void {
    this.st = "retry-wait";
    this.arm(ms, () => {
      if (this.st === "retry-wait") return this.begin();
    });
  }

  private arm(ms: number, fn: () => Promise<void> | void): void {
    this.clearTimer();
    this.cancelTimer = this.d.schedule(ms, () => {
      this.cancelTimer = undefined;
      return fn();
    });
  }

  private clearTimer(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }
}

/** "carries N bytes after its declared fields, not decoded: <hex>", or undefined when the B0 fitted. */
function undecodedNote(st: RsuStatus): string | undefined {
  if (!st.undecoded) return undefined;
  return `carries ${st.undecoded.length / 2} bytes after its declared fields, not decoded: ${st.undecoded}`;
}
