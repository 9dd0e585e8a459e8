/**
 * The RSU's end of the serial link: sequence numbers (RSCTL/SEQ), sending heartbeats (not repeated) and
 * information frames (the power-on or reboot B0 too) that are repeated until the lane answers and then given up,
 * recognising the lane's answers, and the frame log of everything sent. Wire faults damage the bytes on
 * their way out (./wire-faults.ts).
 */
import { encodeFrame, type Frame } from "../../firmware-bridge/frames/catalogue.js";
import { nextRsuRsctl, RSU_REBOOT_RSCTL } from "../../firmware-bridge/framing/legacy.js";
import { nextRsuSeq } from "../../firmware-bridge/framing/national.js";
import type { FrameChannel } from "../../firmware-bridge/link/frame-channel.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import { frameToJson } from "../../src/rsu/analyse.js";
import type { SimContext } from "./context.js";
import { encodeFrameRaw } from "./raw-fields.js";
import type { VState } from "./traffic.js";
import type { WireFault, WireFaults } from "./wire-faults.js";

/** An information frame awaiting the lane's answer. */
export interface Pending {
  frame: Frame;
  seq: number;
  raw: Buffer;
  /** Transmissions so far, damaged ones included. */
  sends: number;
  /**
   * Copies that went out intact (a duplicate fault's second copy included): a lane that deduplicates
   * answers one of them and resends its cached answer for each other one it receives after answering.
   */
  intact: number;
  /** The schedule slot of the last transmission: 0 the first, n the n-th repeat (at most `retries`). */
  slot: number;
  /** When the last transmission went out; the next slot falls due `retransmitMs` later. */
  lastAt: number;
  timer: unknown;
  obuId: string | undefined;
  v: VState | undefined;
  faults: WireFault[];
  /** Told once whether a copy of the frame reached the line intact (see `Fate`). */
  fate: Fate | undefined;
  /** The frame log's note on the first transmission ("power-on" for the unasked B0). */
  firstNote: string | undefined;
}

/**
 * What became of an information frame whose sender must know it (the B5 of a debit: the ledger's
 * `done` or `torn-after-debit`, sim/ledger/ledger.ts). Delivered as soon as one intact copy has been
 * written; not delivered once the frame is over (answered, given up, dropped) with every intact write
 * failed, or none made (every copy damaged, the port closed).
 */
interface Fate {
  tell: (delivered: boolean) => void;
  /** Writes of intact copies not settled yet. */
  inflight: Set<Promise<boolean>>;
  /** The frame is no longer repeated: no further copy will be written. */
  over: boolean;
  told: boolean;
}

/** A lane frame as the answer to the pending frame (see `RsuLinkSide.answerOf`). */
export interface LaneAnswer {
  /** The pending frame the lane frame answers by content, if any; nothing has changed yet. */
  readonly pending: Pending | undefined;
  /** The lane frame is accepted: the pending frame it answers stops being repeated, and is returned. */
  take(): Pending | undefined;
}

/** A lane reply carries the received RSCTL/SEQ with its nibbles swapped. */
export const replySeq = (seq: number): number => ((seq & 0x0f) << 4) | ((seq >> 4) & 0x0f);

function isStop1(f: Frame): boolean {
  return f.type === "C2" && f.stopType !== 2;
}

/** What answers a pending frame, in words (for "gave up" lines). */
export function answersFor(p: Pending): string {
  const obu = p.obuId ? ` for OBU ${p.obuId}` : "";
  switch (p.frame.type) {
    case "B0":
      return "C1 or an empty ack (or a new C0)";
    case "B2":
    case "B3":
      return `C1 or C2${obu}, or an empty ack`;
    case "B4":
      return `C6, C3 or C2${obu}, or an empty ack`;
    case "B5":
    case "B8":
      return `C1, C2 or C8${obu}, or an empty ack`;
    default:
      return "an answer";
  }
}

export class RsuLinkSide {
  private seq: number;
  /** The information frame awaiting an answer (one at a time). */
  pending: Pending | undefined;
  /**
   * The lane's answer to the previous frame while the lane may still repeat it: that frame went out intact
   * more than once, and `repeatsLeft` of those further copies may each bring a repeat.
   */
  private lastAnswer:
    | { seq: number; type: string; obuId: string | undefined; repeatsLeft: number }
    | undefined;
  /** The RSCTL/SEQ of the last heartbeat, until an empty ack acknowledges it. */
  private heartbeatSeq: number | undefined;
  /** Fates not told yet (`settleFates` tells them when the RSU stops). */
  private readonly untold = new Set<Fate>();
  /**
   * The last write failed: the next failures are logged at debug only, until a write succeeds (over TCP
   * with no lane connected, each heartbeat fails: one warning, not one per heartbeat).
   */
  private writesFailing = false;

  constructor(
    private readonly ctx: SimContext,
    private readonly channel: FrameChannel,
    private readonly transport: Transport,
    private readonly wire: WireFaults,
    /** The wire faults a vehicle has for this frame type (each used once). */
    private readonly vehicleWireFaults: (v: VState, frameType: string) => WireFault[],
    /** Called when an information frame went unanswered after all retries. */
    private readonly onGiveUp: (p: Pending) => void,
  ) {
    this.seq = this.initialSeq();
  }

  private initialSeq(): number {
    // Legacy: the first frame after power-on carries RSCTL 0x98. National: SEQ starts at 01.
    return this.ctx.dialect.variant === "legacy" ? -1 : 0;
  }

  /** Power-on or reboot: the sequence restarts and the lane's previous answer means nothing. */
  reset(): void {
    this.seq = this.initialSeq();
    this.lastAnswer = undefined;
    this.heartbeatSeq = undefined;
  }

  /** Nothing sent since power-on or reboot: the next frame carries the power-on mark (legacy 0x98). */
  get unspent(): boolean {
    return this.seq === this.initialSeq();
  }

  private nextSeq(): number {
    if (this.ctx.dialect.variant === "legacy") {
      this.seq = this.seq < 0 ? RSU_REBOOT_RSCTL : nextRsuRsctl(this.seq);
    } else {
      this.seq = nextRsuSeq(this.seq);
    }
    return this.seq;
  }

  /**
   * Writes bytes (a frame, a damaged frame, noise) and logs them; a failed write is logged as lost in the
   * frame log, and warned about when it begins a run of failures (the rest at debug).
   * Resolves true once written, false when the write failed.
   */
  private write(raw: Buffer, frame: Frame | undefined, seq: number, note?: string): Promise<boolean> {
    this.ctx.logFrame({
      dir: "tx",
      hex: raw.toString("hex"),
      ...(frame ? { frame: frameToJson(frame, seq, note !== "bad-checksum" && note !== "garbled") } : {}),
      ...(note ? { note } : {}),
    });
    const p = frame ? this.channel.sendEncoded(frame, seq, raw) : this.transport.write(raw);
    return p.then(
      () => {
        this.writesFailing = false;
        return true;
      },
      (e: unknown) => {
        const detail = { err: (e as Error).message, hex: raw.toString("hex") };
        if (this.writesFailing) this.ctx.log.debug(detail, "write failed");
        else
          this.ctx.log.warn(
            detail,
            "write failed; further failed writes are logged at debug until a write succeeds",
          );
        this.writesFailing = true;
        // the tx line above was logged before the write: this one says it never went (and which it was)
        const what = frame ? `${frame.type} seq ${seq}` : `${raw.length} byte(s)`;
        this.ctx.logFrame({
          dir: "tx",
          hex: "",
          note: `lost: ${(e as Error).message} (the ${what} logged above was not written)`,
        });
        return false;
      },
    );
  }

  /** A heartbeat (legacy B2 heartbeat, national B1): not retransmitted; the lane may acknowledge it. */
  sendHeartbeat(frame: Frame): void {
    const seq = this.nextSeq();
    void this.write(encodeFrame(frame, seq, this.ctx.dialect), frame, seq);
    this.heartbeatSeq = seq;
  }

  /**
   * The B0 the RSU sends unasked after a power-on or reboot: an information frame like every B0 (the lane
   * answers each with an empty ack, docs/protocol.md §5), repeated until answered and then given up. Its
   * first copy is logged `power-on`.
   */
  sendAnnouncement(b0: Frame): void {
    this.sendInfo(b0, undefined, undefined, undefined, "power-on");
  }

  /**
   * An empty ack with the reply RSCTL/SEQ of the last heartbeat acknowledges that heartbeat (once), not
   * the frame awaiting an answer, unless it is also that frame's reply RSCTL/SEQ: a heartbeat can go out
   * while a frame awaits its answer (national B1), or just before one (legacy), and the lane's ack to it
   * arrives after.
   */
  takeHeartbeatAck(f: Frame, seq: number): boolean {
    const hb = this.heartbeatSeq;
    if (f.type !== "ACK" || hb === undefined || seq !== replySeq(hb)) return false;
    if (this.pending && seq === replySeq(this.pending.seq)) return false;
    this.heartbeatSeq = undefined;
    return true;
  }

  /** Junk bytes on the line between frames. */
  sendNoise(n: number): void {
    void this.write(this.wire.noise(n), undefined, 0, "noise");
  }

  /**
   * An information frame: repeated until answered, then given up. `fate`, if given, is told once whether
   * a copy of it reached the line intact (`Fate`).
   */
  sendInfo(
    frame: Frame,
    v: VState | undefined,
    obuId: string | undefined,
    fate?: (delivered: boolean) => void,
    firstNote?: string,
  ): void {
    if (this.pending) this.dropPending();
    const seq = this.nextSeq();
    // with the fields the RSU passes on byte for byte (B4 LastStation: the card's 0019, ./raw-fields.ts)
    const raw = encodeFrameRaw(frame, seq, this.ctx.dialect);
    const faults = [...this.wire.takeInjected(), ...(v ? this.vehicleWireFaults(v, frame.type) : [])];
    for (const f of faults) {
      this.ctx.event({
        type: "fault",
        at: this.ctx.rel(),
        fault: f.kind,
        vehicleId: v?.m.id,
        obuId,
        detail: frame.type,
      });
    }
    const p: Pending = {
      frame,
      seq,
      raw,
      sends: 0,
      intact: 0,
      slot: 0,
      lastAt: 0,
      timer: undefined,
      obuId,
      v,
      faults,
      fate: fate ? { tell: fate, inflight: new Set(), over: false, told: false } : undefined,
      firstNote,
    };
    if (p.fate) this.untold.add(p.fate);
    this.pending = p;
    this.transmit(p, 0);
  }

  /** Schedule slot `slot` of `p` goes out now; the next one falls due `retransmitMs` later. */
  private transmit(p: Pending, slot: number): void {
    p.slot = slot;
    p.lastAt = this.ctx.clock.now();
    const n = p.sends++;
    const t = this.wire.transmission(p.faults, n, p.raw);
    if (t.kind === "damaged") void this.write(t.bytes, p.frame, p.seq, t.note);
    else {
      if (t.kind === "noise-first") void this.write(t.noise, undefined, 0, "noise");
      this.track(p, this.write(p.raw, p.frame, p.seq, n > 0 ? "retransmit" : p.firstNote));
      p.intact++;
    }
    if (n === 0 && p.faults.some((f) => f.kind === "duplicate")) {
      this.track(p, this.write(p.raw, p.frame, p.seq, "duplicate"));
      p.intact++;
    }
    p.timer = this.ctx.after(this.ctx.timing.retransmitMs, () => this.onRetransmitTimer(p));
  }

  /** An intact copy of `p` is being written: its fate is known once it is, or once all such writes failed. */
  private track(p: Pending, written: Promise<boolean>): void {
    const f = p.fate;
    if (!f || f.told) return;
    f.inflight.add(written);
    void written.then((ok) => {
      f.inflight.delete(written);
      if (ok) this.tell(f, true);
      else if (f.over && f.inflight.size === 0) this.tell(f, false);
    });
  }

  /** `p` is repeated no more: not delivered, unless a write of an intact copy succeeds (or did). */
  private over(p: Pending): void {
    const f = p.fate;
    if (!f || f.told) return;
    f.over = true;
    if (f.inflight.size === 0) this.tell(f, false);
  }

  private tell(f: Fate, delivered: boolean): void {
    if (f.told) return;
    f.told = true;
    this.untold.delete(f);
    f.tell(delivered);
  }

  /** A suspended frame (`suspendPending`) that will not be resumed (its transaction was aborted). */
  discard(p: Pending): void {
    if (this.pending === p) this.dropPending();
    else this.over(p);
  }

  /**
   * The RSU stops: every frame whose fate is not told yet is over; waits for the writes of intact copies
   * still under way, so each is told before the ledger closes.
   */
  async settleFates(): Promise<void> {
    const fates = [...this.untold];
    for (const f of fates) {
      f.over = true;
      if (f.inflight.size === 0) this.tell(f, false);
    }
    await Promise.all(fates.flatMap((f) => [...f.inflight]));
    for (const f of fates) this.tell(f, false);
  }

  private onRetransmitTimer(p: Pending): void {
    if (this.pending !== p) return;
    if (p.slot < this.ctx.timing.retries) this.transmit(p, p.slot + 1);
    else this.giveUp(p);
  }

  private giveUp(p: Pending): void {
    if (this.pending !== p) return;
    this.pending = undefined;
    // Nothing answered this frame: what answered the one before it is no longer worth remembering.
    this.lastAnswer = undefined;
    this.over(p);
    this.onGiveUp(p);
  }

  dropPending(): void {
    const p = this.pending;
    if (!p) return;
    this.ctx.cancel(p.timer);
    this.pending = undefined;
    this.over(p);
  }

  /**
   * The pending frame stops being repeated for now and is returned as it is (its RSCTL/SEQ, bytes and
   * schedule), for `resumePending` (a transaction set aside for a C8, ./transaction.ts).
   */
  suspendPending(): Pending | undefined {
    const p = this.pending;
    if (!p) return undefined;
    this.ctx.cancel(p.timer);
    this.pending = undefined;
    return p;
  }

  /**
   * A suspended frame is pending again on its own schedule, as if it had never been suspended except that
   * the repeats that fell due meanwhile are not sent: the next one goes out at its time (the same
   * RSCTL/SEQ and bytes), or, the schedule having run out, the frame is given up at its time (at once if
   * that has passed). So no copy comes later than an uninterrupted schedule would send it, inside the
   * window in which a lane takes it for a repeat (docs/protocol.md §5): taken up again after that, a
   * frame sent under its old RSCTL/SEQ would reach the lane as a new frame with the same content.
   */
  resumePending(p: Pending): void {
    if (this.pending) this.dropPending();
    this.pending = p;
    const retransmitMs = this.ctx.timing.retransmitMs;
    const now = this.ctx.clock.now();
    // The first slot after p's last transmission that is not already past.
    const k = Math.max(1, Math.ceil((now - p.lastAt) / retransmitMs));
    const slot = p.slot + k;
    if (slot <= this.ctx.timing.retries) {
      p.timer = this.ctx.after(p.lastAt + k * retransmitMs - now, () => {
        if (this.pending === p) this.transmit(p, slot);
      });
      return;
    }
    const giveUpAt = p.lastAt + (this.ctx.timing.retries + 1 - p.slot) * retransmitMs;
    p.timer = this.ctx.after(Math.max(0, giveUpAt - now), () => this.giveUp(p));
  }

  /**
   * A repeat of the lane's answer to the previous frame: the same type, OBUID and RSCTL/SEQ as that answer
   * while the frame it answered went out more than once (a deduplicating lane resends its cached answer
   * for every copy it gets after answering, docs/protocol.md §5). Ignored, not taken as the answer to the
   * current frame, at most once per further copy: after that the same bytes are a new answer (a lane that
   * sends every frame with one RSCTL/SEQ, accepted as docs/simulator.md "Sequence numbers" says).
   */
  takeRepeatOfLastAnswer(f: Frame, seq: number): boolean {
    const la = this.lastAnswer;
    const fObu = "obuId" in f ? (f.obuId as string) : undefined;
    if (la === undefined || f.type !== la.type || seq !== la.seq || fObu !== la.obuId) return false;
    la.repeatsLeft--;
    if (la.repeatsLeft <= 0) this.lastAnswer = undefined;
    return true;
  }

  /**
   * `f` as an answer: the pending frame it answers by content (nothing changes yet), and `take()`, which
   * the handler calls once it accepts `f`. A frame the RSU refuses answers nothing: the pending frame
   * keeps being repeated (docs/simulator.md, "Modes and what each lane frame gets").
   */
  answerOf(f: Frame, seq: number): LaneAnswer {
    const p = this.pending;
    return {
      pending: p && answers(p, f, seq) ? p : undefined,
      take: () => this.takeAnswer(f, seq),
    };
  }

  /**
   * If `f` answers the pending frame (a command by content: frame type and OBUID; an empty ack by its
   * RSCTL/SEQ, `answers`, the heartbeat's ack having been told apart before, `takeHeartbeatAck`),
   * the repetition stops and the pending frame is returned.
   */
  private takeAnswer(f: Frame, seq: number): Pending | undefined {
    const p = this.pending;
    if (!p || !answers(p, f, seq)) return undefined;
    this.dropPending();
    const obuId = "obuId" in f ? (f.obuId as string) : undefined;
    // Sent once, the frame gives the lane no reason to send its answer again.
    this.lastAnswer = p.intact > 1 ? { seq, type: f.type, obuId, repeatsLeft: p.intact - 1 } : undefined;
    return p;
  }
}

/**
 * Does `f` (received under `seq`) answer the pending information frame? A command by content, whatever
 * its RSCTL/SEQ. An empty ack carries no content, so its RSCTL/SEQ is all that says what it acknowledges:
 * it answers a B2, B3, B4, B5 or B8, which it ends (./transaction.ts `onAck`), only under that frame's
 * reply RSCTL/SEQ (`replySeq`, docs/protocol.md §1); another one is an ack to an earlier frame (a doubled
 * ack, an ack to a frame the RSU gave up on) and answers nothing. It answers a B0, after which the RSU
 * only searches, under any RSCTL/SEQ (docs/simulator.md "Sequence numbers").
 */
function answers(p: Pending, f: Frame, seq: number): boolean {
  if (f.type === "ACK") return p.frame.type === "B0" || seq === replySeq(p.seq);
  const obuId = "obuId" in f ? (f.obuId as string) : undefined;
  switch (p.frame.type) {
    case "B0":
      return f.type === "C1" || f.type === "C0";
    case "B2":
    case "B3":
      return (f.type === "C1" || f.type === "C2") && (obuId === p.obuId || isStop1(f));
    case "B4":
      return (f.type === "C6" || f.type === "C3" || f.type === "C2") && (obuId === p.obuId || isStop1(f));
    case "B5":
    case "B8":
      return (f.type === "C1" || f.type === "C2" || f.type === "C8") && (obuId === p.obuId || isStop1(f));
    default:
      return false;
  }
}
