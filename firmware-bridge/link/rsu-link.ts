/**
 * The lane side of the RSU link, on top of a FrameChannel (docs/link.md, docs/protocol.md §5). It
 * composes three parts and adds what is left:
 *
 *  - `answer-cache.ts`: retransmission dedupe, the reply cached per received frame and resent for its
 *    repeats, and what the link answers by itself;
 *  - `link-supervisor.ts`: open, backoff, watchdog, the reconnect policy per transport;
 *  - `mirrored-answer-hold.ts`: a legacy lane-initiated frame held while its answer mirrored as 08 would
 *    be absorbed as a repeat;
 *  - here: heartbeats go to `heartbeat$` (a national B1 whatever its body), every other distinct frame
 *    once to `incoming$`; only frames of the RSU re-arm the watchdog (an echo of our own is not one,
 *    ./frame-channel.ts); lane-initiated frames (`send()`) use RSCTL 0x80 (legacy) or the next lane SEQ
 *    10..90 (national); `request()` registers its waiter before the write, starts the timer after the
 *    write resolved, runs one at a time, fails fast when the transport is not open, and honours an
 *    AbortSignal; a legacy B0 with RSCTL 0x98 is a reboot unless a C0 of the lane awaits its answer (below).
 */
import { type Observable, Subject, type Subscription } from "rxjs";
import { ErrorCodes, EtcError, NOTHING_WRITTEN } from "../errors.js";
import { type Frame, frameDef, isHeartbeat, type PartialFrame } from "../frames/catalogue.js";
import type { Dialect } from "../frames/dialect.js";
import { isRebootB0, LANE_INITIATED_RSCTL } from "../framing/legacy.js";
import { nextLaneSeq, replySeq } from "../framing/national.js";
import type { WireFrame } from "../framing/types.js";
import { type Logger, silentLogger } from "../log.js";
import type { Transport } from "../transport/types.js";
import { AnswerCache, type IncomingFrame } from "./answer-cache.js";
import {
  type ChannelProblem,
  FrameChannel,
  type MisfitHeartbeat,
  type ReceivedFrame,
  type SentFrame,
} from "./frame-channel.js";
import { type LinkState, LinkSupervisor } from "./link-supervisor.js";
import { MirroredAnswerHold } from "./mirrored-answer-hold.js";
import { type RsuLinkOptions, type RsuLinkOptionsInput, resolveRsuLinkOptions } from "./options.js";

/** National lane SEQs 10, 20 ... 90. */
const LANE_SEQS = 9;

export type { IncomingFrame } from "./answer-cache.js";
export type { LinkState, LinkStatus } from "./link-supervisor.js";

/**
 * A heartbeat received: decoded (`frame`), or a national B1 whose body does not fit the declared layout,
 * with what could be read of it (`partial`; docs/protocol.md §7 has the public sample that does so).
 */
export type Heartbeat =
  | (ReceivedFrame & { readonly partial?: undefined })
  | {
      readonly frame?: undefined;
      readonly partial: PartialFrame;
      readonly wire: WireFrame;
      readonly at: number;
    };

/** Link-layer error codes (kept as an alias of the entries in errors.ts). */
export const LinkErrorCodes = {
  /** reply()/ack() called a second time for the same received frame. */
  AlreadyAnswered: ErrorCodes.LinkAlreadyAnswered,
} as const;

export interface RsuLinkCounters {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  discardedBytes: number;
  checksumErrors: number;
  decodeErrors: number;
  /** Half frames dropped by the deframer's inter-byte timeout. */
  halfFrameTimeouts: number;
  /** Frame candidates longer than maxFrameLength (discarded; the deframer rescans inside them). */
  tooLong: number;
  /** Frame candidates with a bad escape, a bad length field or too short a body. */
  malformed: number;
  /** Frames of the lane's own direction received (an echo on the line): not delivered, no re-arm. */
  echoes: number;
  /** Frames longer than their declaration, delivered with the surplus as `extra` (warned once per type). */
  framesWithExtra: number;
  /** Frames shorter than their declaration by exactly one layout setting's field (warned once per type). */
  framesShorter: number;
  /** National B1s whose body did not fit the declared layout (counted in heartbeats too). */
  misfitHeartbeats: number;
  /** RSU repeats of a frame already received (not delivered again). */
  duplicates: number;
  /** Cached replies written again because of a repeat. */
  resentReplies: number;
  /** Empty ACKs the link wrote because the application missed answerDeadlineMs (B0 only). */
  autoAcks: number;
  /** Every answer the link wrote by itself, by the type of the frame answered: B0 (ACK), B1 (CF). */
  autoAnswers: Readonly<Record<string, number>>;
  /** The link's own answers (CF, automatic ACK, cached reply resent) whose write the transport rejected. */
  failedAnswerWrites: number;
  /** Information frames the application had not answered by answerDeadlineMs, by frame type. */
  lateAnswers: Readonly<Record<string, number>>;
  /** request() timeouts. */
  timeouts: number;
  watchdogTrips: number;
  /** Successful opens after a loss (unplug, failed open, disconnect). */
  reconnects: number;
  connectAttempts: number;
  openFailures: number;
  /** Transport losses while open (unplug, peer closed). */
  disconnects: number;
  heartbeats: number;
  rsuReboots: number;
}

export interface RsuLinkInit {
  transport: Transport;
  dialect: Dialect;
  logger?: Logger;
  options?: RsuLinkOptionsInput;
  /** Monotonic clock in ms; default performance.now(). */
  now?: () => number;
  /** Jitter source in [0, 1); default Math.random. */
  random?: () => number;
  /** Wire-log channel name; default "RSU". */
  channel?: string;
}

export interface SendOptions {
  /**
   * C0 only: how long the RSU has to answer it (the lane's initTimeoutMs). Once it has passed, a B0 no
   * longer answers this C0: a legacy one with RSCTL 0x98 is then a reboot. Without it the C0 waits for its
   * B0 until a B0, a failed write, a later C0, a link loss or stop() ends the wait.
   */
  answerWithinMs?: number;
}

export interface RequestOptions {
  /** Time allowed after the write resolved. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** What we wait for, for the timeout message; default the catalogue's replies, e.g. "B0". */
  expect?: string;
}

interface Waiter {
  /** the type of the frame the request sends */
  readonly type: string;
  readonly label: string;
  readonly match: (f: Frame) => boolean;
  readonly resolve: (f: IncomingFrame) => void;
  readonly reject: (e: unknown) => void;
  settled: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** the C0 this request sent (its number in c0Sends): settling without an answer ends its wait */
  c0?: number;
  /**
   * Its frame was handed to the transport. Until then (legacy: held by the mirrored-answer hold) a link
   * lost or stopped refuses the frame unwritten, so the waiter's rejection is marked nothing-written.
   */
  handed: boolean;
  /** Resolves when the waiter settles, whichever way (releases the request lock). */
  readonly done: Promise<void>;
  release: () => void;
  cleanup: () => void;
}

export class RsuLink {
  readonly transport: Transport;
  readonly dialect: Dialect;
  readonly options: Readonly<RsuLinkOptions>;
  readonly channel: FrameChannel;
  private readonly log: Logger;
  private readonly legacy: boolean;
  private readonly supervisor: LinkSupervisor;
  private readonly answers: AnswerCache;
  private readonly mirrorHold: MirroredAnswerHold;

  private readonly incomingSubject = new Subject<IncomingFrame>();
  private readonly heartbeatSubject = new Subject<Heartbeat>();
  private readonly rebootSubject = new Subject<IncomingFrame>();
  /** Link state: current value first, then every change. */
  readonly state$: Observable<LinkState>;
  /** Each distinct non-heartbeat RSU frame, once (frames that satisfy a request() are emitted too). */
  readonly incoming$: Observable<IncomingFrame>;
  /** Every heartbeat (legacy B2 0x80/0x08, national B1 whatever its body), repeats included. */
  readonly heartbeat$: Observable<Heartbeat>;
  /**
   * B0 with RSCTL 0x98 while no C0 of the lane awaits its answer: the RSU rebooted and needs C0 again. Also
   * emitted on incoming$. One while a C0 awaits its answer (a freshly powered RSU's answer, or a reboot that
   * dropped the C0: the lane sends C0 once more, src/lane/rsu-session.ts) is not emitted here.
   */
  readonly rsuRebooted$: Observable<IncomingFrame>;
  /** Malformed input (bad checksum, noise, timeouts, undecodable frames): counted, logged, skipped. */
  readonly problems$: Observable<ChannelProblem>;

  private laneSeq = 0;
  /**
   * A C0 went out (or is going out, held or being written) and no B0 came since: the next B0 answers it. A
   * legacy RSU powered on answers its first C0 with RSCTL 0x98 (docs/protocol.md "Sequence numbers"); that
   * B0 is not counted as a reboot. Ended (endC0Wait) by any B0, by the C0's failed write (whatever it
   * wrote), when its `answerWithinMs` passed or its request() settled without an answer, and by a link loss
   * or stop: the wait ends when the lane's does (src/lane/rsu-session.ts), so both count reboots alike.
   */
  private c0Unanswered = false;
  /** C0 sends so far: a C0's wait is ended by its write, window or request only while it is the last one */
  private c0Sends = 0;
  private c0Timer: ReturnType<typeof setTimeout> | undefined;
  private readonly waiters = new Set<Waiter>();
  private requestLock: Promise<void> = Promise.resolve();
  private subs: Subscription[] = [];
  private readonly c = { timeouts: 0, heartbeats: 0, rsuReboots: 0 };

  constructor(init: RsuLinkInit) {
    this.options = resolveRsuLinkOptions(init.options);
    this.transport = init.transport;
    this.dialect = init.dialect;
    this.legacy = init.dialect.variant === "legacy";
    const now = init.now ?? (() => performance.now());
    const ch = init.channel ?? "RSU";
    this.log = (init.logger ?? silentLogger).child({ ch, ns: "rsu-link" });
    this.channel = new FrameChannel({
      transport: init.transport,
      dialect: init.dialect,
      receives: "rsu-to-lane",
      channel: ch,
      logger: init.logger,
      deframer: this.options.deframer,
      now,
    });
    this.answers = new AnswerCache({
      channel: this.channel,
      dialect: init.dialect,
      options: this.options,
      log: this.log,
      now,
    });
    this.supervisor = new LinkSupervisor({
      transport: init.transport,
      options: this.options,
      log: this.log,
      now,
      random: init.random ?? Math.random,
      hooks: {
        opened: () => this.channel.resetReceiver(),
        lost: (reason) => {
          this.answers.clear();
          this.endC0Wait();
          this.failWaiters(
            new EtcError(ErrorCodes.LinkDown, `${this.transport.name}: RSU link down (${reason})`),
          );
        },
        stopped: () => this.onStopped(),
      },
    });
    this.mirrorHold = new MirroredAnswerHold({
      answers: this.answers,
      isOpen: () => this.supervisor.isOpen,
      downError: (type) => this.downError(type),
      name: this.transport.name,
      write: (frame) => this.channel.send(frame, LANE_INITIATED_RSCTL),
    });
    this.state$ = this.supervisor.state$;
    this.incoming$ = this.incomingSubject.asObservable();
    this.heartbeat$ = this.heartbeatSubject.asObservable();
    this.rsuRebooted$ = this.rebootSubject.asObservable();
    this.problems$ = this.channel.problems$;
  }

  get state(): LinkState {
    return this.supervisor.state;
  }

  get counters(): Readonly<RsuLinkCounters> {
    const ch = this.channel.counters;
    const a = this.answers.counters;
    const s = this.supervisor.counters;
    return {
      framesIn: ch.framesIn,
      framesOut: ch.framesOut,
      bytesIn: ch.bytesIn,
      bytesOut: ch.bytesOut,
      discardedBytes: ch.discardedBytes,
      checksumErrors: ch.checksumErrors,
      decodeErrors: ch.decodeErrors,
      halfFrameTimeouts: ch.timeouts,
      tooLong: ch.tooLong,
      malformed: ch.malformed,
      echoes: ch.echoes,
      framesWithExtra: ch.framesWithExtra,
      framesShorter: ch.framesShorter,
      misfitHeartbeats: ch.misfitHeartbeats,
      duplicates: a.duplicates,
      resentReplies: a.resentReplies,
      autoAcks: a.autoAcks,
      autoAnswers: { ...a.autoAnswers },
      failedAnswerWrites: a.failedAnswerWrites,
      lateAnswers: { ...a.lateAnswers },
      timeouts: this.c.timeouts,
      watchdogTrips: s.watchdogTrips,
      reconnects: s.reconnects,
      connectAttempts: s.connectAttempts,
      openFailures: s.openFailures,
      disconnects: s.disconnects,
      heartbeats: this.c.heartbeats,
      rsuReboots: this.c.rsuReboots,
    };
  }

  /**
   * Starts the link: opens the transport, retrying with backoff on failure. Resolves once the FIRST
   * open attempt has ended, successfully or not (then `state.status` is "up" or "down" and retries run
   * in the background); it never rejects because of the device. Use `waitUp()` to wait for the link.
   */
  start(): Promise<void> {
    if (this.supervisor.isRunning) return Promise.resolve();
    this.subs = [
      this.channel.frames$.subscribe((rf) => this.onFrame(rf)),
      this.channel.misfitHeartbeats$.subscribe((m) => this.onMisfitHeartbeat(m)),
      // an echo of the lane's own frame is no sign of the RSU: it re-arms nothing
      this.channel.problems$.subscribe((p) => {
        if (p.kind !== "decode-error") return;
        this.supervisor.alive(); // a good envelope: the RSU is talking
        // a type the catalogue does not declare: legacy ones get the empty ACK (answer-policy.ts acksUndeclared)
        if (p.error.code === ErrorCodes.FrameUnknownType && p.wire.data.length > 0)
          this.answers.undeclared(p.wire.data[0] as number, p.wire);
      }),
    ];
    this.channel.start();
    return this.supervisor.start();
  }

  /** Stops retrying, fails pending requests with LinkAborted, closes the transport. Idempotent. */
  stop(): Promise<void> {
    return this.supervisor.stop();
  }

  /** Resolves when the link is up; rejects with LinkTimeout (naming the last reason) or LinkAborted. */
  waitUp(opts: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    return this.supervisor.waitUp(opts);
  }

  private onStopped(): void {
    this.answers.clear();
    this.endC0Wait();
    this.failWaiters(new EtcError(ErrorCodes.LinkAborted, `${this.transport.name}: RSU link stopped`));
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    this.channel.stop();
  }

  /**
   * Sends a lane-initiated frame (C0, C4...): legacy RSCTL 0x80, national the next lane SEQ (10..90).
   * Rejects with LinkDown at once when the transport is not open. While the link is "down" only
   * because of watchdog silence, frames are still sent (an RSU may wait for C0 before it talks). Legacy:
   * a frame whose answer mirrored as `08` would be absorbed as a repeat waits (./mirrored-answer-hold.ts).
   */
  send(frame: Frame, opts: SendOptions = {}): Promise<SentFrame> {
    if (!this.supervisor.isOpen) return Promise.reject(this.downError(frame.type));
    if (frame.type !== "C0") return this.write(frame);
    return this.sendC0(frame, opts.answerWithinMs).sent;
  }

  /** C0: its wait for the B0 begins before the write (the B0 may arrive while the write is in progress). */
  private sendC0(
    frame: Frame,
    answerWithinMs?: number,
    onWrite?: () => void,
  ): { sent: Promise<SentFrame>; nth: number } {
    this.endC0Wait();
    const nth = ++this.c0Sends;
    this.c0Unanswered = true;
    if (answerWithinMs !== undefined) this.c0Timer = setTimeout(() => this.endC0Wait(nth), answerWithinMs);
    const sent = this.write(frame, onWrite);
    // a failed write, whatever it wrote, is a C0 the lane takes as not sent (it sends another)
    sent.catch(() => this.endC0Wait(nth));
    return { sent, nth };
  }

  /** The C0 awaiting its B0 (only C0 `nth`, when given, and only while no later C0 was sent) awaits no more. */
  private endC0Wait(nth?: number): void {
    if (nth !== undefined && nth !== this.c0Sends) return;
    this.c0Unanswered = false;
    if (this.c0Timer) clearTimeout(this.c0Timer);
    this.c0Timer = undefined;
  }

  /** `onWrite` runs when the frame is handed to the transport (legacy: after the mirrored-answer hold). */
  private write(frame: Frame, onWrite?: () => void): Promise<SentFrame> {
    if (this.legacy)
      return this.mirrorHold.send(frame, frameDef(frame.type, "legacy")?.replies ?? [], onWrite);
    onWrite?.();
    // An RSU may number the frame answering ours (the B0 answering C0) with our SEQ swapped, as the
    // lane numbers its replies (docs/protocol.md §1). Should that number be the SEQ of an information
    // frame received within the dedupe window, an answer with the same DATA (a B0 repeating the status
    // the RSU announced itself with) would be absorbed as that frame's repeat: such a SEQ is skipped.
    // The dedupe itself is unchanged, so a true retransmission is never taken for an answer.
    for (let i = 0; i < LANE_SEQS; i++) {
      this.laneSeq = nextLaneSeq(this.laneSeq);
      if (!this.answers.repeatable(replySeq(this.laneSeq))) break;
    }
    return this.channel.send(frame, this.laneSeq);
  }

  /**
   * Sends `frame` and resolves with the first following RSU frame for which `match` is true. The
   * waiter is registered before the write; the timer starts once the write resolved. Requests run one
   * at a time. Rejects with LinkDown (not open, or lost meanwhile), LinkTimeout ("C0 -> B0 after
   * 1000 ms"), LinkAborted (signal or stop()). The matching frame is still emitted on incoming$ and
   * must still be answered there or through the returned IncomingFrame (once: reply() is shared).
   * Heartbeats and RSU repeats never satisfy a waiter.
   */
  request(frame: Frame, match: (f: Frame) => boolean, opts: RequestOptions): Promise<IncomingFrame> {
    const { timeoutMs, signal } = opts;
    if (typeof timeoutMs !== "number" || !(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
      return Promise.reject(
        new EtcError(
          ErrorCodes.ConfigInvalid,
          `request(${frame.type}): timeoutMs must be > 0, got ${timeoutMs}`,
        ),
      );
    }
    const expect = opts.expect ?? (frameDef(frame.type, this.dialect.variant)?.replies.join("/") || "reply");
    const label = `${frame.type} -> ${expect}`;
    if (signal?.aborted) {
      return Promise.reject(
        new EtcError(ErrorCodes.LinkAborted, `${this.transport.name}: ${label} aborted before sending`),
      );
    }
    if (!this.supervisor.isOpen) return Promise.reject(this.downError(frame.type));
    return new Promise<IncomingFrame>((resolve, reject) => {
      let release!: () => void;
      const done = new Promise<void>((r) => {
        release = r;
      });
      const onAbort = (): void => {
        this.settle(w, new EtcError(ErrorCodes.LinkAborted, `${this.transport.name}: ${label} aborted`));
      };
      const w: Waiter = {
        type: frame.type,
        label,
        match,
        resolve,
        reject,
        settled: false,
        timer: undefined,
        handed: false,
        done,
        release,
        cleanup: () => signal?.removeEventListener("abort", onAbort),
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const run = async (): Promise<void> => {
        if (w.settled) return;
        if (!this.supervisor.isOpen) {
          this.settle(w, this.downError(frame.type));
          return;
        }
        this.waiters.add(w); // before the write: an answer may arrive while the write is in progress
        const onWrite = (): void => {
          w.handed = true;
        };
        try {
          if (frame.type === "C0") {
            const c0 = this.sendC0(frame, undefined, onWrite);
            w.c0 = c0.nth;
            await c0.sent;
          } else await this.write(frame, onWrite);
        } catch (e) {
          this.settle(w, e);
          return;
        }
        if (w.settled) return;
        w.timer = setTimeout(() => {
          this.c.timeouts++;
          this.log.warn({ req: label, timeoutMs }, "request timed out");
          this.settle(
            w,
            new EtcError(ErrorCodes.LinkTimeout, `${this.transport.name}: ${label} after ${timeoutMs} ms`),
          );
        }, timeoutMs);
        await w.done;
      };
      const turn = this.requestLock.then(run);
      this.requestLock = turn.then(
        () => undefined,
        () => undefined,
      );
    });
  }

  // ---- receiving ------------------------------------------------------------------------------

  private onFrame(rf: ReceivedFrame): void {
    this.supervisor.alive();
    if (isHeartbeat(rf.frame, this.dialect.variant)) {
      this.onHeartbeat(rf, rf.frame.type);
      return;
    }
    const answersC0 = this.c0Unanswered && rf.frame.type === "B0";
    const inc = this.answers.receive(rf, answersC0);
    if (!inc) return; // an RSU repeat, absorbed by the answer cache
    if (answersC0) this.endC0Wait();
    if (inc.rsuRebooted) {
      this.c.rsuReboots++;
      this.log.warn({ seq: rf.wire.seq }, "RSU rebooted (B0 with RSCTL 0x98): it needs C0 again");
    } else if (answersC0 && this.legacy && isRebootB0(rf.frame.type, rf.wire.seq)) {
      this.log.info(
        { seq: rf.wire.seq },
        "B0 with RSCTL 0x98 while a C0 awaits its answer: the RSU powered on or rebooted (not counted as a reboot)",
      );
    }
    if (this.waiters.size > 0) this.offerToWaiters(inc);
    this.incomingSubject.next(inc);
    if (inc.rsuRebooted) this.rebootSubject.next(inc);
  }

  /** A national B1 whose body does not fit the declared layout: a heartbeat all the same. */
  private onMisfitHeartbeat(m: MisfitHeartbeat): void {
    this.supervisor.alive();
    this.onHeartbeat({ partial: m.partial, wire: m.wire, at: m.at }, m.partial.type);
  }

  private onHeartbeat(h: Heartbeat, type: string): void {
    this.c.heartbeats++;
    this.heartbeatSubject.next(h);
    this.answers.heartbeat(type, h.wire.seq);
  }

  private offerToWaiters(inc: IncomingFrame): void {
    for (const w of this.waiters) {
      let hit: boolean;
      try {
        hit = w.match(inc.frame);
      } catch (e) {
        this.settle(w, e);
        continue;
      }
      if (hit) {
        this.settle(w, undefined, inc);
        return;
      }
    }
  }

  private settle(w: Waiter, err: unknown, value?: IncomingFrame): void {
    if (w.settled) return;
    w.settled = true;
    this.waiters.delete(w);
    if (w.timer) clearTimeout(w.timer);
    if (!value && w.c0 !== undefined) this.endC0Wait(w.c0);
    w.cleanup();
    w.release();
    if (value) w.resolve(value);
    else w.reject(err);
  }

  /**
   * The link was lost or stopped: every waiter fails with `err`; one whose frame was still held (legacy
   * mirrored-answer hold), which the hold now refuses to write, with `err` marked nothing-written.
   */
  private failWaiters(err: EtcError): void {
    for (const w of [...this.waiters]) {
      if (w.handed) this.settle(w, err);
      else
        this.settle(
          w,
          new EtcError(
            err.code,
            `${err.message}; ${w.type} not sent: it was still held for the dedupe window`,
            { ...err.details, ...NOTHING_WRITTEN },
          ),
        );
    }
  }

  private downError(type: string): EtcError {
    const s = this.supervisor.state;
    return new EtcError(
      ErrorCodes.LinkDown,
      `${this.transport.name}: ${type} not sent: RSU link is ${s.status}${s.reason ? ` (${s.reason})` : ""}`,
      { status: s.status, ...NOTHING_WRITTEN },
    );
  }
}
