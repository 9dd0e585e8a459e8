/**
 * The answer side of the RSU link (docs/link.md "Receiving, acknowledging, deduplicating"): which
 * received frames are RSU retransmissions, the reply cached for each received frame and resent for its
 * repeats, and what the link answers by itself.
 *
 *  - every RSU information frame is acknowledged: by the application through `reply()`/`ack()`, or by
 *    the link with an empty ACK once `answerDeadlineMs` has passed (counted in `autoAcks`);
 *  - RSU retransmissions (same RSCTL/SEQ and same DATA within `dedupeWindowMs` of the first sighting,
 *    and before the RSU's sequence went round) are not delivered again: the cached reply bytes are
 *    resent once per repeat, or, while the application is still deciding, the repeat is only counted
 *    and the eventual reply goes out once;
 *  - a national B1 heartbeat gets CF status 0 if configured; legacy heartbeats are never answered.
 */
import { ErrorCodes, EtcError } from "../errors.js";
import { encodeFrame, type Frame, needsAnswer } from "../frames/catalogue.js";
import type { Dialect } from "../frames/dialect.js";
import { RSU_REBOOT_RSCTL, swapNibbles } from "../framing/legacy.js";
import { replySeq } from "../framing/national.js";
import type { WireFrame } from "../framing/types.js";
import type { Logger } from "../log.js";
import type { FrameChannel, ReceivedFrame, SentFrame } from "./frame-channel.js";
import type { RsuLinkOptions } from "./options.js";

/** A distinct RSU frame, delivered once however often the RSU repeated it. */
export interface IncomingFrame {
  readonly frame: Frame;
  readonly wire: WireFrame;
  /** Monotonic ms when the chunk completing the frame arrived. */
  readonly at: number;
  /** An information frame the RSU retransmits until answered (the link auto-acks it at the deadline). */
  readonly needsAnswer: boolean;
  /** The B0 an RSU sends after a reboot (legacy RSCTL 0x98): the controller should send C0 again. */
  readonly rsuRebooted: boolean;
  /** True once a reply (the application's or the automatic ACK) has been cached for this frame. */
  readonly answered: boolean;
  /**
   * Answer with `frame`, sequenced with the swapped RSCTL/SEQ of this frame. The bytes are cached and
   * resent for every RSU repeat. Calling it after the automatic ACK still sends the frame (late) and
   * caches it; calling it twice rejects with E304_LINK_ALREADY_ANSWERED.
   */
  reply(frame: Frame): Promise<SentFrame>;
  /** `reply({ type: "ACK" })`: the empty acknowledgement. */
  ack(): Promise<SentFrame>;
}

export interface AnswerCacheCounters {
  /** RSU repeats of a frame already received (not delivered again). */
  duplicates: number;
  /** Cached replies resent because of a repeat. */
  resentReplies: number;
  /** Empty ACKs the link sent because the application missed answerDeadlineMs. */
  autoAcks: number;
}

const ACK: Frame = { type: "ACK" };

class Incoming implements IncomingFrame {
  readonly frame: Frame;
  readonly wire: WireFrame;
  readonly at: number;
  readonly needsAnswer: boolean;
  readonly rsuRebooted: boolean;
  /** this frame's place among the distinct information frames received (the sequence-wrap check) */
  readonly ordinal: number;
  appReplied = false;
  autoAcked = false;
  cached: { frame: Frame; seq: number; raw: Buffer } | undefined;
  deadline: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly cache: AnswerCache,
    rf: ReceivedFrame,
    informational: boolean,
    rebooted: boolean,
    ordinal: number,
  ) {
    this.frame = rf.frame;
    this.wire = rf.wire;
    this.at = rf.at;
    this.ordinal = ordinal;
    this.needsAnswer = informational;
    this.rsuRebooted = rebooted;
  }

  get answered(): boolean {
    return this.cached !== undefined;
  }

  reply(frame: Frame): Promise<SentFrame> {
    return this.cache.answer(this, frame);
  }

  ack(): Promise<SentFrame> {
    return this.cache.answer(this, ACK);
  }
}

export interface AnswerCacheInit {
  channel: FrameChannel;
  dialect: Dialect;
  options: Pick<RsuLinkOptions, "answerDeadlineMs" | "dedupeWindowMs" | "answerHeartbeat">;
  log: Logger;
}

export class AnswerCache {
  private readonly channel: FrameChannel;
  private readonly dialect: Dialect;
  private readonly legacy: boolean;
  private readonly options: AnswerCacheInit["options"];
  private readonly log: Logger;
  /** the last information frame received per RSCTL/SEQ */
  private readonly recent = new Map<number, Incoming>();
  /** distinct information frames received so far */
  private received = 0;
  /**
   * How many other sequence numbers the RSU uses before it comes back to one: legacy RSCTL X8 with X in
   * 0..7 (8 values), national SEQ 01..09 (9 values).
   */
  private readonly seqCycle: number;
  private readonly c: AnswerCacheCounters = { duplicates: 0, resentReplies: 0, autoAcks: 0 };

  constructor(init: AnswerCacheInit) {
    this.channel = init.channel;
    this.dialect = init.dialect;
    this.legacy = init.dialect.variant === "legacy";
    this.seqCycle = this.legacy ? 7 : 8;
    this.options = init.options;
    this.log = init.log;
  }

  get counters(): Readonly<AnswerCacheCounters> {
    return this.c;
  }

  /** A heartbeat (never delivered on incoming$): a national B1 gets CF status 0 if configured. */
  heartbeat(rf: ReceivedFrame): void {
    if (!this.legacy && rf.frame.type === "B1" && this.options.answerHeartbeat) {
      this.channel
        .send({ type: "CF", status: 0 } as Frame, replySeq(rf.wire.seq))
        .catch((e: unknown) => this.log.warn({ err: String(e) }, "heartbeat answer not sent"));
    }
  }

  /**
   * A decoded RSU frame that is not a heartbeat. Returns the IncomingFrame to deliver, or undefined
   * when it is an RSU repeat (absorbed here: the cached reply is resent, or nothing while undecided).
   */
  receive(rf: ReceivedFrame): IncomingFrame | undefined {
    const { frame, wire } = rf;
    const informational = needsAnswer(frame, this.dialect.variant);
    const rebooted = this.legacy && frame.type === "B0" && wire.seq === RSU_REBOOT_RSCTL;
    // A reboot B0 is never taken for a repeat: a second reboot looks byte-identical to a retransmitted
    // first one, and answering it with C0 again is harmless while missing a reboot leaves the RSU
    // uninitialised.
    if (informational && !rebooted) {
      const prev = this.recent.get(wire.seq);
      if (prev !== undefined && this.isRepeat(prev, rf)) {
        this.repeat(prev);
        return undefined;
      }
    }
    const inc = new Incoming(this, rf, informational, rebooted, informational ? ++this.received : 0);
    if (rebooted) {
      // The RSU's sequence restarted: older frames must not be taken for repeats of new ones.
      for (const old of this.recent.values()) if (!old.deadline) this.recent.delete(old.wire.seq);
    }
    if (informational) {
      // A different frame reusing the SEQ means the RSU gave up on the old one: an automatic ACK for it
      // would now carry the new frame's reply sequence, so its deadline is simply dropped.
      const old = this.recent.get(wire.seq);
      if (old?.deadline) {
        clearTimeout(old.deadline);
        old.deadline = undefined;
      }
      this.recent.set(wire.seq, inc);
      inc.deadline = setTimeout(() => this.autoAck(inc), this.options.answerDeadlineMs);
    }
    return inc;
  }

  /** Forget every received frame and cancel every pending deadline. */
  clear(): void {
    for (const inc of this.recent.values()) if (inc.deadline) clearTimeout(inc.deadline);
    this.recent.clear();
  }

  /** @internal Used by IncomingFrame.reply/ack. */
  answer(inc: Incoming, frame: Frame): Promise<SentFrame> {
    if (inc.appReplied) {
      const prev = inc.cached?.frame.type ?? "?";
      return Promise.reject(
        new EtcError(
          ErrorCodes.LinkAlreadyAnswered,
          `${inc.frame.type} (seq 0x${hex2(inc.wire.seq)}) was already answered with ${prev}; not sending ${frame.type}`,
        ),
      );
    }
    const seq = this.replySeqFor(inc.wire.seq);
    let raw: Buffer;
    try {
      raw = encodeFrame(frame, seq, this.dialect);
    } catch (e) {
      return Promise.reject(e);
    }
    inc.appReplied = true;
    if (inc.deadline) {
      clearTimeout(inc.deadline);
      inc.deadline = undefined;
    }
    if (inc.autoAcked) {
      this.log.info({ type: inc.frame.type, reply: frame.type }, "late reply after the automatic ACK");
    }
    inc.cached = { frame, seq, raw };
    return this.channel.sendEncoded(frame, seq, raw);
  }

  /**
   * An RSU retransmission of `prev`: the same DATA under the same RSCTL/SEQ, within the RSU's
   * retransmission schedule of `prev`'s first sighting (`dedupeWindowMs`), and before the RSU's sequence
   * could have gone round (while an RSU repeats a frame it sends no other one, so once a whole cycle of
   * other information frames came in, the same RSCTL/SEQ is a new frame however soon it comes).
   */
  private isRepeat(prev: Incoming, rf: ReceivedFrame): boolean {
    return (
      rf.at - prev.at <= this.options.dedupeWindowMs &&
      this.received - prev.ordinal < this.seqCycle &&
      prev.wire.data.equals(rf.wire.data)
    );
  }

  private repeat(prev: Incoming): void {
    this.c.duplicates++;
    const cached = prev.cached;
    if (cached) {
      this.c.resentReplies++;
      this.log.info(
        { type: prev.frame.type, seq: prev.wire.seq, reply: cached.frame.type },
        "RSU repeat: cached reply resent",
      );
      this.channel
        .sendEncoded(cached.frame, cached.seq, cached.raw)
        .catch((e: unknown) => this.log.warn({ err: String(e) }, "cached reply not resent"));
    } else {
      this.log.info({ type: prev.frame.type, seq: prev.wire.seq }, "RSU repeat while the answer is pending");
    }
  }

  private replySeqFor(seq: number): number {
    return this.legacy ? swapNibbles(seq) : replySeq(seq);
  }

  private autoAck(inc: Incoming): void {
    inc.deadline = undefined;
    if (inc.cached) return;
    const seq = this.replySeqFor(inc.wire.seq);
    const raw = encodeFrame(ACK, seq, this.dialect);
    inc.cached = { frame: ACK, seq, raw };
    inc.autoAcked = true;
    this.c.autoAcks++;
    this.log.warn(
      { type: inc.frame.type, seq: inc.wire.seq, deadlineMs: this.options.answerDeadlineMs },
      "application did not answer in time: empty ACK sent",
    );
    this.channel
      .sendEncoded(ACK, seq, raw)
      .catch((e: unknown) => this.log.warn({ err: String(e) }, "auto-ACK not sent"));
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}
