/**
 * The answer side of the RSU link (docs/link.md "Receiving, acknowledging, deduplicating" and
 * "Automatic answers"): which received frames are RSU retransmissions, the reply cached for each
 * received frame and resent for its repeats, and what the link answers by itself.
 *
 *  - the application answers RSU information frames through `reply()`/`ack()`. What the link does by
 *    itself is one table per frame type (firmware-bridge/frames/answer-policy.ts): it writes an empty
 *    ACK once `answerDeadlineMs` has passed only where the catalogue allows one (B0); a frame that must
 *    be answered by a command (B2..B8) is never answered by the link: a missed deadline is counted as a
 *    late answer and logged, and the application's reply, whenever it comes, goes out once;
 *  - RSU retransmissions (same RSCTL/SEQ and same DATA within `dedupeWindowMs` of the first sighting,
 *    and before the RSU's sequence went round) are not delivered again: the cached reply bytes are
 *    resent once per repeat, or, while the application is still deciding, the repeat is only counted
 *    and the eventual reply goes out once;
 *  - a national B1 heartbeat gets CF status 0 if configured; legacy heartbeats are never answered;
 *  - a well-framed legacy frame of an undeclared type Bx gets the empty ACK at once (`undeclared`);
 *  - nothing slow sits between a reply and its write: `reply()` encodes and hands the bytes to the
 *    transport before it logs or counts anything.
 */
import { ErrorCodes, EtcError, NOTHING_WRITTEN, wroteNothing } from "../errors.js";
import { acksUndeclared, answerRule } from "../frames/answer-policy.js";
import { encodeFrame, type Frame, needsAnswer } from "../frames/catalogue.js";
import type { Dialect } from "../frames/dialect.js";
import { hex2 } from "../framing/bytes.js";
import { isRebootB0, swapNibbles } from "../framing/legacy.js";
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
  /**
   * An information frame the RSU retransmits until it is answered. The application answers it; the link
   * answers it by itself only where the frame's rule allows an empty ACK (B0, at the deadline).
   */
  readonly needsAnswer: boolean;
  /**
   * The B0 an RSU sends after a reboot (legacy RSCTL 0x98) answering no C0 of the lane: the controller should
   * send C0 again. False for the 0x98 B0 answering the lane's C0 (a freshly powered RSU's answer).
   */
  readonly rsuRebooted: boolean;
  /** True once a reply (the application's, or the link's automatic ACK to a B0) has been cached. */
  readonly answered: boolean;
  /**
   * Answer with `frame`, sequenced with the swapped RSCTL/SEQ of this frame. The bytes are cached and
   * resent for every RSU repeat. Calling it after the deadline still sends the frame (late, logged) and
   * caches it, also after the link's automatic ACK to a B0 (a frame with content: a C1); calling it twice rejects with
   * E304_LINK_ALREADY_ANSWERED; for a frame received before a link loss (or stop()) it rejects with
   * E302_LINK_DOWN and writes nothing, as it does for a frame a different one replaced under the same
   * RSCTL/SEQ (the RSU gave up on it; the reply would carry the newer frame's sequence). Those refusals, a frame that cannot be encoded, and a transport that
   * is not open carry `details.nothingWritten` (firmware-bridge/errors.ts NOTHING_WRITTEN): the RSU cannot
   * have received the frame.
   */
  reply(frame: Frame): Promise<SentFrame>;
  /**
   * `reply({ type: "ACK" })`: the empty acknowledgement. After the link's automatic ACK to this frame
   * (a B0 past the deadline) it writes nothing: that ACK said it, and a second one under the same reply
   * RSCTL/SEQ would reach the RSU while it awaits the answer to its next frame. It resolves with the
   * automatic ACK once that was written; writes the ACK itself if the transport refused that write before
   * any byte; and rejects, writing nothing, if that write failed otherwise (the ACK may be out, and stays
   * cached: an RSU repeat gets it resent). A second ack() or reply() then rejects as for any frame
   * answered twice.
   */
  ack(): Promise<SentFrame>;
}

export interface AnswerCacheCounters {
  /** RSU repeats of a frame already received (not delivered again). */
  duplicates: number;
  /** Cached replies written again because of a repeat. */
  resentReplies: number;
  /** Empty ACKs the link wrote because the application missed answerDeadlineMs (B0 only). */
  autoAcks: number;
  /**
   * Every answer the link wrote by itself, by the type of the frame answered: B0 (ACK), B1 (CF), a legacy
   * frame of an undeclared type Bx (ACK, e.g. B7).
   */
  autoAnswers: Record<string, number>;
  /** Information frames the application had not answered by answerDeadlineMs, by frame type. */
  lateAnswers: Record<string, number>;
  /**
   * Writes of the link's own answers (CF, automatic ACK, cached reply resent) that the transport rejected:
   * counted here instead of in autoAnswers/autoAcks/resentReplies, which count written answers only.
   */
  failedAnswerWrites: number;
}

const ACK: Frame = { type: "ACK" };

/** The frame that superseded an earlier one under the same RSCTL/SEQ (its type and arrival). */
interface Newer {
  readonly frame: { readonly type: string };
  readonly at: number;
}
const CF_RECEIVED = { type: "CF", status: 0 } as Frame;

class Incoming implements IncomingFrame {
  readonly frame: Frame;
  readonly wire: WireFrame;
  readonly at: number;
  readonly needsAnswer: boolean;
  readonly rsuRebooted: boolean;
  /** this frame's place among the distinct information frames received (the sequence-wrap check) */
  readonly ordinal: number;
  /** the cache's epoch when the frame arrived: a frame from before a link loss is not answered */
  readonly epoch: number;
  /** the application's reply was handed over (the one reply() allowed) */
  appReplied = false;
  /** the answer deadline passed before the application replied */
  late = false;
  cached: { frame: Frame; seq: number; raw: Buffer } | undefined;
  /**
   * The link's automatic ACK to this frame: its SentFrame once written; else why its write failed and
   * whether the transport refused it before any byte (then it is not cached, and the application's ack()
   * writes the one ACK).
   */
  autoAck: Promise<SentFrame | { failed: unknown; nothingWritten: boolean }> | undefined;
  deadline: ReturnType<typeof setTimeout> | undefined;
  /**
   * A different frame (other DATA) that came later under the same RSCTL/SEQ: an information frame, or a
   * legacy frame of an undeclared type the link acknowledged at once. The RSU gave up on this one, and a
   * reply to it would carry the newer frame's reply sequence, so none is written any more. A byte-identical
   * copy that is not taken for a repeat (after the dedupe window, or after the sequence went round) does
   * not supersede it: the reply to this one is exactly the reply the copy needs.
   */
  supersededBy: Newer | undefined;

  constructor(
    private readonly cache: AnswerCache,
    rf: ReceivedFrame,
    informational: boolean,
    rebooted: boolean,
    ordinal: number,
    epoch: number,
  ) {
    this.frame = rf.frame;
    this.wire = rf.wire;
    this.at = rf.at;
    this.ordinal = ordinal;
    this.epoch = epoch;
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
  /** Monotonic clock in ms, the one frames are stamped with. */
  now: () => number;
}

export class AnswerCache {
  private readonly channel: FrameChannel;
  private readonly dialect: Dialect;
  private readonly legacy: boolean;
  private readonly options: AnswerCacheInit["options"];
  private readonly log: Logger;
  private readonly now: () => number;
  /** the last information frame received per RSCTL/SEQ */
  private readonly recent = new Map<number, Incoming>();
  /** distinct information frames received so far */
  private received = 0;
  /** bumps on every clear(): frames received before it are no longer answered */
  private epoch = 0;
  /**
   * How many other sequence numbers the RSU uses before it comes back to one: legacy RSCTL X8 with X in
   * 0..7 (8 values), national SEQ 01..09 (9 values).
   */
  private readonly seqCycle: number;
  private readonly c: AnswerCacheCounters = {
    duplicates: 0,
    resentReplies: 0,
    autoAcks: 0,
    autoAnswers: {},
    lateAnswers: {},
    failedAnswerWrites: 0,
  };

  constructor(init: AnswerCacheInit) {
    this.channel = init.channel;
    this.dialect = init.dialect;
    this.legacy = init.dialect.variant === "legacy";
    this.seqCycle = this.legacy ? 7 : 8;
    this.options = init.options;
    this.log = init.log;
    this.now = init.now;
  }

  get counters(): Readonly<AnswerCacheCounters> {
    return this.c;
  }

  /**
   * A heartbeat of frame type `type` and RSCTL/SEQ `seq` (never delivered on incoming$): answered at once
   * where its rule says so (national B1 -> CF, whatever its body).
   */
  heartbeat(type: string, seq: number): void {
    if (!this.options.answerHeartbeat || answerRule(type, this.dialect.variant) !== "heartbeat-cf") return;
    this.channel.send(CF_RECEIVED, this.replySeqFor(seq)).then(
      () => bump(this.c.autoAnswers, type),
      (e: unknown) => this.writeFailed(e, "heartbeat answer not sent"),
    );
  }

  /**
   * A well-framed legacy RSU frame of the undeclared type `code` (never delivered: an undecodable frame),
   * `wire`: answered at once with the empty ACK under the swapped RSCTL where `acksUndeclared` says so
   * (firmware-bridge/frames/answer-policy.ts), counted in autoAnswers under its type ("B7"). Each copy the
   * RSU repeats (our ACK lost) is answered again. Its ACK takes the reply RSCTL, so it supersedes the
   * information frame last received under that RSCTL as a different frame does in receive(): that
   * frame's automatic ACK is dropped and a reply to it refused.
   */
  undeclared(code: number, wire: WireFrame): void {
    if (!acksUndeclared(code, this.dialect.variant)) return;
    const type = code.toString(16).toUpperCase().padStart(2, "0");
    const old = this.recent.get(wire.seq);
    if (old !== undefined) {
      this.supersede(old, wire, { frame: { type }, at: this.now() });
      // the RSCTL is the undeclared frame's now: a later copy of the old one is no repeat of it
      this.recent.delete(wire.seq);
    }
    this.channel.send(ACK, this.replySeqFor(wire.seq)).then(
      () => bump(this.c.autoAnswers, type),
      (e: unknown) => this.writeFailed(e, "empty ACK to a frame of an undeclared type not sent"),
    );
  }

  /**
   * A decoded RSU frame that is not a heartbeat. Returns the IncomingFrame to deliver, or undefined
   * when it is an RSU repeat (absorbed here: the cached reply is resent, or nothing while undecided).
   * `answersC0`: a B0 that answers the lane's C0 (then a 0x98 one is the power-on answer, not a reboot).
   */
  receive(rf: ReceivedFrame, answersC0 = false): IncomingFrame | undefined {
    const { frame, wire } = rf;
    const informational = needsAnswer(frame, this.dialect.variant);
    const rebooted = this.legacy && isRebootB0(frame.type, wire.seq);
    // A reboot B0 is deduplicated like any information frame: byte-identical within dedupeWindowMs of its
    // first sighting it is the RSU repeating it (our ACK lost), not a second reboot, which takes longer
    // than the window. Delivered again, it would reach the controller while it waits for the answer to the
    // C0 the first one caused, and be taken for that answer (docs/link.md "Receiving, acknowledging,
    // deduplicating").
    if (informational) {
      const prev = this.recent.get(wire.seq);
      if (prev !== undefined && this.isRepeat(prev, rf)) {
        this.repeat(prev);
        return undefined;
      }
    }
    const ordinal = informational ? ++this.received : 0;
    const inc = new Incoming(this, rf, informational, rebooted && !answersC0, ordinal, this.epoch);
    if (rebooted) {
      // The RSU's sequence restarted: older frames must not be taken for repeats of new ones.
      for (const old of this.recent.values()) if (!old.deadline) this.recent.delete(old.wire.seq);
    }
    if (informational) {
      const old = this.recent.get(wire.seq);
      if (old !== undefined) this.supersede(old, wire, inc);
      this.recent.set(wire.seq, inc);
      inc.deadline = setTimeout(() => this.onDeadline(inc), this.options.answerDeadlineMs);
    }
    return inc;
  }

  /**
   * `old` was the last information frame under the RSCTL/SEQ of `wire`, which `newer` now uses. Its
   * deadline is dropped: an automatic ACK for it would carry the newer frame's reply sequence (the newer
   * one has its own deadline, or its ACK). A different frame (other DATA) means the RSU gave up on the
   * old one: a reply the application gives it later is refused too (answer(), supersededBy). A
   * byte-identical copy leaves that reply allowed: it is the very reply the copy asks for (a C6 whose
   * B4 was copied after the dedupe window while the lane's commit stalled).
   */
  private supersede(old: Incoming, wire: WireFrame, newer: Newer): void {
    if (!old.wire.data.equals(wire.data)) old.supersededBy = newer;
    if (old.deadline) {
      clearTimeout(old.deadline);
      old.deadline = undefined;
    }
  }

  /**
   * The link was lost or stopped: cancel every pending deadline, forget every received frame (the
   * RSU's sequence on the next connection has nothing to do with this one's), and refuse replies to
   * frames received until now, so none reaches the next connection with a stale sequence number.
   */
  clear(): void {
    for (const inc of this.recent.values()) if (inc.deadline) clearTimeout(inc.deadline);
    this.recent.clear();
    this.epoch++;
  }

  /** @internal Used by IncomingFrame.reply/ack. */
  answer(inc: Incoming, frame: Frame): Promise<SentFrame> {
    if (inc.epoch !== this.epoch) {
      return Promise.reject(
        new EtcError(
          ErrorCodes.LinkDown,
          `${inc.frame.type} (seq 0x${hex2(inc.wire.seq)}) was received before the RSU link was lost; not sending ${frame.type}`,
          NOTHING_WRITTEN,
        ),
      );
    }
    if (inc.appReplied) {
      const prev = inc.cached?.frame.type ?? "?";
      return Promise.reject(
        new EtcError(
          ErrorCodes.LinkAlreadyAnswered,
          `${inc.frame.type} (seq 0x${hex2(inc.wire.seq)}) was already answered with ${prev}; not sending ${frame.type}`,
          NOTHING_WRITTEN,
        ),
      );
    }
    if (inc.supersededBy !== undefined) {
      // Its reply sequence now belongs to the newer frame: the RSU would take this reply for that frame's
      // answer. Refused, as receive() drops the automatic ACK of such a frame.
      const newer = inc.supersededBy;
      return Promise.reject(
        new EtcError(
          ErrorCodes.LinkDown,
          `${inc.frame.type} (seq 0x${hex2(inc.wire.seq)}) was superseded by a later ${newer.frame.type} under the same sequence ${Math.round(newer.at - inc.at)} ms after it (the RSU gave up on it); not sending ${frame.type}`,
          NOTHING_WRITTEN,
        ),
      );
    }
    const autoAck = frame.type === "ACK" ? inc.autoAck : undefined;
    if (autoAck !== undefined) {
      // The link's ACK already acknowledged it: nothing more to say (docs/link.md "Automatic answers").
      inc.appReplied = true;
      this.log.info(
        { type: inc.frame.type, afterMs: Math.round(this.now() - inc.at) },
        "application's empty ACK not written: the link's automatic ACK already answered the frame",
      );
      return autoAck.then((sent) => {
        if (!("failed" in sent)) return sent;
        if (sent.nothingWritten) return this.write(inc, frame);
        // Its write failed after the transport took it: the ACK may have reached the RSU, whole or in
        // part, and stays cached. An RSU that got no whole ACK repeats the B0 and the repeat gets it
        // resent (repeat()); an ACK written here would answer no repeat, a second one under the same reply
        // RSCTL/SEQ (docs/link.md "Receiving, acknowledging, deduplicating").
        const why = sent.failed instanceof Error ? sent.failed.message : String(sent.failed);
        throw new EtcError(
          sent.failed instanceof EtcError ? sent.failed.code : ErrorCodes.PortClosed,
          `${inc.frame.type} (seq 0x${hex2(inc.wire.seq)}): the link's automatic ACK failed to write (${why}) and may have reached the RSU; not writing a second ACK (an RSU repeat gets it resent)`,
          sent.failed instanceof EtcError ? sent.failed.details : undefined,
          { cause: sent.failed },
        );
      });
    }
    return this.write(inc, frame);
  }

  /** Encodes, caches and writes the application's reply `frame` to `inc` (answer's checks passed). */
  private write(inc: Incoming, frame: Frame): Promise<SentFrame> {
    const seq = this.replySeqFor(inc.wire.seq);
    let raw: Buffer;
    try {
      raw = encodeFrame(frame, seq, this.dialect);
    } catch (e) {
      if (!(e instanceof EtcError)) return Promise.reject(e);
      return Promise.reject(
        new EtcError(e.code, e.message, { ...e.details, ...NOTHING_WRITTEN }, { cause: e }),
      );
    }
    inc.appReplied = true;
    if (inc.deadline) {
      clearTimeout(inc.deadline);
      inc.deadline = undefined;
    }
    const autoAcked = inc.cached !== undefined;
    inc.cached = { frame, seq, raw };
    // the write starts here, before any logging; a transport that refused it before writing a byte leaves
    // nothing cached to resend for the RSU's repeats (the frame stays answered once: no second reply)
    const sent = this.channel.sendEncoded(frame, seq, raw).catch((e: unknown) => {
      if (wroteNothing(e) && inc.cached?.raw === raw) inc.cached = undefined;
      throw e;
    });
    if (inc.late) {
      this.log.info(
        { type: inc.frame.type, reply: frame.type, afterMs: Math.round(this.now() - inc.at), autoAcked },
        "late reply sent",
      );
    }
    return sent;
  }

  /**
   * An information frame with RSCTL/SEQ `seq` was received recently enough that a frame arriving now
   * with that RSCTL/SEQ and the same DATA would be taken for its repeat (the rule of isRepeat). The link
   * numbers its own frames so that an RSU answering with the swapped number never falls under it.
   */
  repeatable(seq: number): boolean {
    const prev = this.recent.get(seq);
    return (
      prev !== undefined &&
      this.now() - prev.at <= this.options.dedupeWindowMs &&
      this.received - prev.ordinal < this.seqCycle
    );
  }

  /**
   * How long (ms) until a frame of one of the types `replies` arriving under RSCTL/SEQ `seq` could no
   * longer be taken for a repeat of the information frame last received under it (`repeatable`, and of
   * one of those types); 0 when it could not be now.
   */
  repeatableFor(seq: number, replies: readonly string[]): number {
    const prev = this.recent.get(seq);
    if (prev === undefined || !replies.includes(prev.frame.type) || !this.repeatable(seq)) return 0;
    return Math.max(1, Math.floor(prev.at + this.options.dedupeWindowMs - this.now()) + 1);
  }

  /** Bumps on every clear() (a link loss or stop): what was received before belongs to another connection. */
  get generation(): number {
    return this.epoch;
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
      this.channel.sendEncoded(cached.frame, cached.seq, cached.raw).then(
        () => {
          this.c.resentReplies++;
        },
        (e: unknown) => this.writeFailed(e, "cached reply not resent"),
      );
      this.log.info(
        { type: prev.frame.type, seq: prev.wire.seq, reply: cached.frame.type },
        "RSU repeat: cached reply resent",
      );
    } else {
      this.log.info({ type: prev.frame.type, seq: prev.wire.seq }, "RSU repeat while the answer is pending");
    }
  }

  /** A write of the link's own answer was rejected: counted apart from the written ones, and logged. */
  private writeFailed(e: unknown, what: string): void {
    this.c.failedAnswerWrites++;
    this.log.warn({ err: String(e) }, what);
  }

  private replySeqFor(seq: number): number {
    return this.legacy ? swapNibbles(seq) : replySeq(seq);
  }

  /**
   * The application has not answered `inc` by answerDeadlineMs: count it as late, and answer it with an
   * empty ACK only where its rule allows one. Otherwise wait: the RSU's repeats are absorbed meanwhile.
   */
  private onDeadline(inc: Incoming): void {
    inc.deadline = undefined;
    if (inc.cached) return;
    inc.late = true;
    const type = inc.frame.type;
    bump(this.c.lateAnswers, type);
    const deadlineMs = this.options.answerDeadlineMs;
    if (answerRule(type, this.dialect.variant) !== "ack-when-late") {
      this.log.warn(
        { type, seq: inc.wire.seq, deadlineMs },
        `no answer to ${type} within ${deadlineMs} ms: waiting for the application's command (never an empty ACK)`,
      );
      return;
    }
    const seq = this.replySeqFor(inc.wire.seq);
    const raw = encodeFrame(ACK, seq, this.dialect);
    inc.cached = { frame: ACK, seq, raw };
    inc.autoAck = this.channel.sendEncoded(ACK, seq, raw).then(
      (sent) => {
        this.c.autoAcks++;
        bump(this.c.autoAnswers, type);
        return sent;
      },
      (e: unknown) => {
        this.writeFailed(e, "auto-ACK not sent");
        // as write(): a refusal before any byte leaves nothing cached, so an RSU repeat is only counted and
        // the application's ack() writes the one ACK (a resend here followed by that ACK would be two);
        // after any other failure the ACK stays cached for the RSU's repeats and ack() writes none (answer())
        const nothingWritten = wroteNothing(e);
        if (nothingWritten && inc.cached?.raw === raw) inc.cached = undefined;
        return { failed: e, nothingWritten };
      },
    );
    this.log.warn(
      { type, seq: inc.wire.seq, deadlineMs },
      `no answer to ${type} within ${deadlineMs} ms: empty ACK sent`,
    );
  }
}

function bump(byType: Record<string, number>, type: string): void {
  byType[type] = (byType[type] ?? 0) + 1;
}
