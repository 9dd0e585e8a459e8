/**
 * The lane side of the RSU link, on top of a FrameChannel (protocol.md §1, §3; style.md 7-15, 23, 25):
 *
 *  - every RSU information frame is acknowledged: by the application through `reply()`/`ack()`, or by
 *    the link with an empty ACK once `answerDeadlineMs` has passed (counted in `autoAcks`);
 *  - RSU retransmissions (same RSCTL/SEQ and same DATA within `dedupeWindowMs`) are not delivered
 *    again: the cached reply bytes are resent once per repeat, or, while the application is still
 *    deciding, the repeat is only counted and the eventual reply goes out once;
 *  - heartbeats (legacy B2 with ErrorCode 0x80/0x08 and OBUID 0, national B1) feed the watchdog and
 *    `heartbeat$`; legacy heartbeats are never answered, a national B1 gets CF status 0 if configured;
 *  - a single watchdog timer (re-armed with `refresh()`, no per-frame rxjs operator) drops the link to
 *    "down" after missedHeartbeats x heartbeatPeriodMs without any valid frame; the next one brings it up;
 *  - a failed open or an unplug puts the link "down" and reconnects with exponential backoff and jitter;
 *    every attempt ends in a state$ event, none can hang (openTimeoutMs);
 *  - lane-initiated frames use RSCTL 0x80 (legacy) or the next lane SEQ 10..90 (national); replies use
 *    the swapped RSCTL/SEQ of the frame they answer;
 *  - `request()` registers its waiter before the write, starts the timer after the write resolved, runs
 *    one at a time, fails fast when the transport is not open, and honours an AbortSignal.
 *
 * State machine (see docs/link.md):
 *   stopped --start--> connecting --open ok--> up --silence--> down(watchdog) --valid frame--> up
 *   connecting --open failed--> down --backoff--> connecting;  up/down(watchdog) --unplug--> down --backoff--> connecting
 *   any --stop--> stopped
 */
import { BehaviorSubject, type Observable, Subject, type Subscription } from "rxjs";
import { ErrorCodes, EtcError } from "../errors.js";
import { encodeFrame, type Frame, frameDef, isHeartbeat, needsAnswer } from "../frames/catalogue.js";
import type { Dialect } from "../frames/dialect.js";
import { LANE_INITIATED_RSCTL, RSU_REBOOT_RSCTL, swapNibbles } from "../framing/legacy.js";
import { nextLaneSeq, replySeq } from "../framing/national.js";
import type { WireFrame } from "../framing/types.js";
import { type Logger, silentLogger } from "../log.js";
import type { Transport, TransportState } from "../transport/types.js";
import { type ChannelProblem, FrameChannel, type ReceivedFrame, type SentFrame } from "./frame-channel.js";
import {
  backoffDelay,
  type RsuLinkOptions,
  type RsuLinkOptionsInput,
  resolveRsuLinkOptions,
} from "./options.js";

/** Link-layer error codes (kept as an alias of the entries in errors.ts). */
export const LinkErrorCodes = {
  /** reply()/ack() called a second time for the same received frame. */
  AlreadyAnswered: ErrorCodes.LinkAlreadyAnswered,
} as const;

export type LinkStatus = "connecting" | "up" | "down" | "stopped";

export interface LinkState {
  readonly status: LinkStatus;
  /** Why we are in this state: the open error, "no valid frame for 30000 ms ...", "stopped"... */
  readonly reason?: string;
  /** The transport error behind a "down", when there is one (PortLocked, PortDisconnected...). */
  readonly error?: EtcError;
  /** Monotonic ms (the link's clock) when this state began. */
  readonly since: number;
}

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
  /** RSU repeats of a frame already received (not delivered again). */
  duplicates: number;
  /** Cached replies resent because of a repeat. */
  resentReplies: number;
  /** Empty ACKs the link sent because the application missed answerDeadlineMs. */
  autoAcks: number;
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

export interface RequestOptions {
  /** Time allowed after the write resolved. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** What we wait for, for the timeout message; default the catalogue's replies, e.g. "B0". */
  expect?: string;
}

interface Waiter {
  readonly label: string;
  readonly match: (f: Frame) => boolean;
  readonly resolve: (f: IncomingFrame) => void;
  readonly reject: (e: unknown) => void;
  settled: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Resolves when the waiter settles, whichever way (releases the request lock). */
  readonly done: Promise<void>;
  release: () => void;
  cleanup: () => void;
}

const ACK: Frame = { type: "ACK" };

class Incoming implements IncomingFrame {
  readonly frame: Frame;
  readonly wire: WireFrame;
  readonly at: number;
  readonly needsAnswer: boolean;
  readonly rsuRebooted: boolean;
  /** last time this frame (or a repeat) was seen: the dedupe window runs from here */
  lastAt: number;
  appReplied = false;
  autoAcked = false;
  cached: { frame: Frame; seq: number; raw: Buffer } | undefined;
  deadline: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly link: RsuLink,
    rf: ReceivedFrame,
    informational: boolean,
    rebooted: boolean,
  ) {
    this.frame = rf.frame;
    this.wire = rf.wire;
    this.at = rf.at;
    this.lastAt = rf.at;
    this.needsAnswer = informational;
    this.rsuRebooted = rebooted;
  }

  get answered(): boolean {
    return this.cached !== undefined;
  }

  reply(frame: Frame): Promise<SentFrame> {
    return this.link.answer(this, frame);
  }

  ack(): Promise<SentFrame> {
    return this.link.answer(this, ACK);
  }
}

export class RsuLink {
  readonly transport: Transport;
  readonly dialect: Dialect;
  readonly options: Readonly<RsuLinkOptions>;
  readonly channel: FrameChannel;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly legacy: boolean;

  private readonly stateSubject: BehaviorSubject<LinkState>;
  private readonly incomingSubject = new Subject<IncomingFrame>();
  private readonly heartbeatSubject = new Subject<ReceivedFrame>();
  private readonly rebootSubject = new Subject<IncomingFrame>();
  /** Link state: current value first, then every change. */
  readonly state$: Observable<LinkState>;
  /** Each distinct non-heartbeat RSU frame, once (frames that satisfy a request() are emitted too). */
  readonly incoming$: Observable<IncomingFrame>;
  /** Every heartbeat (legacy B2 0x80/0x08, national B1), repeats included. */
  readonly heartbeat$: Observable<ReceivedFrame>;
  /** B0 with RSCTL 0x98: the RSU rebooted and needs C0 again. Also emitted on incoming$. */
  readonly rsuRebooted$: Observable<IncomingFrame>;
  /** Malformed input (bad checksum, noise, timeouts, undecodable frames): counted, logged, skipped. */
  readonly problems$: Observable<ChannelProblem>;

  private running = false;
  /** bumps on every start/stop so late callbacks of an old run do nothing */
  private generation = 0;
  private transportOpen = false;
  private hadLoss = false;
  private attempt = 0;
  private laneSeq = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private watchdog: ReturnType<typeof setTimeout> | undefined;
  private readonly watchdogMs: number;
  private readonly recent = new Map<number, Incoming>();
  private readonly waiters = new Set<Waiter>();
  private requestLock: Promise<void> = Promise.resolve();
  private subs: Subscription[] = [];
  private readonly c = {
    duplicates: 0,
    resentReplies: 0,
    autoAcks: 0,
    timeouts: 0,
    watchdogTrips: 0,
    reconnects: 0,
    connectAttempts: 0,
    openFailures: 0,
    disconnects: 0,
    heartbeats: 0,
    rsuReboots: 0,
  };

  constructor(init: RsuLinkInit) {
    this.options = resolveRsuLinkOptions(init.options);
    this.transport = init.transport;
    this.dialect = init.dialect;
    this.legacy = init.dialect.variant === "legacy";
    this.now = init.now ?? (() => performance.now());
    this.random = init.random ?? Math.random;
    const ch = init.channel ?? "RSU";
    this.log = (init.logger ?? silentLogger).child({ ch, ns: "rsu-link" });
    this.channel = new FrameChannel({
      transport: init.transport,
      dialect: init.dialect,
      channel: ch,
      logger: init.logger,
      deframer: this.options.deframer,
      now: this.now,
    });
    this.watchdogMs = this.options.heartbeatPeriodMs * this.options.missedHeartbeats;
    this.stateSubject = new BehaviorSubject<LinkState>({ status: "stopped", since: this.now() });
    this.state$ = this.stateSubject.asObservable();
    this.incoming$ = this.incomingSubject.asObservable();
    this.heartbeat$ = this.heartbeatSubject.asObservable();
    this.rsuRebooted$ = this.rebootSubject.asObservable();
    this.problems$ = this.channel.problems$;
  }

  get state(): LinkState {
    return this.stateSubject.value;
  }

  get counters(): Readonly<RsuLinkCounters> {
    const ch = this.channel.counters;
    return {
      framesIn: ch.framesIn,
      framesOut: ch.framesOut,
      bytesIn: ch.bytesIn,
      bytesOut: ch.bytesOut,
      discardedBytes: ch.discardedBytes,
      checksumErrors: ch.checksumErrors,
      decodeErrors: ch.decodeErrors,
      halfFrameTimeouts: ch.timeouts,
      ...this.c,
    };
  }

  /**
   * Starts the link: opens the transport, retrying with backoff on failure. Resolves once the FIRST
   * open attempt has ended, successfully or not (then `state.status` is "up" or "down" and retries run
   * in the background); it never rejects because of the device. Use `waitUp()` to wait for the link.
   */
  start(): Promise<void> {
    if (this.running) return Promise.resolve();
    this.running = true;
    this.generation++;
    this.hadLoss = false;
    this.attempt = 0;
    this.subs = [
      this.channel.frames$.subscribe((rf) => this.onFrame(rf)),
      this.channel.problems$.subscribe((p) => {
        if (p.kind === "decode-error") this.alive(); // a good envelope: the RSU is talking
      }),
      this.transport.state$.subscribe((s) => this.onTransportState(s)),
    ];
    this.channel.start();
    return this.attemptOpen();
  }

  /** Stops retrying, fails pending requests with LinkAborted, closes the transport. Idempotent. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.generation++;
    this.transportOpen = false;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.disarmWatchdog();
    for (const inc of this.recent.values()) if (inc.deadline) clearTimeout(inc.deadline);
    this.recent.clear();
    this.failWaiters(new EtcError(ErrorCodes.LinkAborted, `${this.transport.name}: RSU link stopped`));
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    this.channel.stop();
    await this.transport.close().catch((e: unknown) => this.log.warn({ err: String(e) }, "close failed"));
    this.setState("stopped", "stopped");
  }

  /** Resolves when the link is up; rejects with LinkTimeout (naming the last reason) or LinkAborted. */
  waitUp(opts: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    if (this.state.status === "up") return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let sub: Subscription | undefined;
      const onAbort = (): void =>
        done(new EtcError(ErrorCodes.LinkAborted, `${this.transport.name}: waitUp aborted`));
      const done = (err?: EtcError): void => {
        clearTimeout(timer);
        sub?.unsubscribe();
        opts.signal?.removeEventListener("abort", onAbort);
        if (err) reject(err);
        else resolve();
      };
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      timer = setTimeout(() => {
        const s = this.state;
        done(
          new EtcError(
            ErrorCodes.LinkTimeout,
            `${this.transport.name}: RSU link not up after ${opts.timeoutMs} ms (${s.status}${s.reason ? `: ${s.reason}` : ""})`,
          ),
        );
      }, opts.timeoutMs);
      sub = this.state$.subscribe((s) => {
        if (s.status === "up") queueMicrotask(() => done());
        else if (s.status === "stopped" && this.running === false && sub) {
          queueMicrotask(() =>
            done(new EtcError(ErrorCodes.LinkAborted, `${this.transport.name}: RSU link stopped`)),
          );
        }
      });
    });
  }

  /**
   * Sends a lane-initiated frame (C0, C4...): legacy RSCTL 0x80, national the next lane SEQ (10..90).
   * Rejects with LinkDown at once when the transport is not open. While the link is "down" only
   * because of watchdog silence, frames are still sent (an RSU may wait for C0 before it talks).
   */
  send(frame: Frame): Promise<SentFrame> {
    if (!this.transportOpen) return Promise.reject(this.downError(frame.type));
    let seq = LANE_INITIATED_RSCTL;
    if (!this.legacy) {
      this.laneSeq = nextLaneSeq(this.laneSeq);
      seq = this.laneSeq;
    }
    return this.channel.send(frame, seq);
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
    if (!this.transportOpen) return Promise.reject(this.downError(frame.type));
    return new Promise<IncomingFrame>((resolve, reject) => {
      let release!: () => void;
      const done = new Promise<void>((r) => {
        release = r;
      });
      const onAbort = (): void => {
        this.settle(w, new EtcError(ErrorCodes.LinkAborted, `${this.transport.name}: ${label} aborted`));
      };
      const w: Waiter = {
        label,
        match,
        resolve,
        reject,
        settled: false,
        timer: undefined,
        done,
        release,
        cleanup: () => signal?.removeEventListener("abort", onAbort),
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const run = async (): Promise<void> => {
        if (w.settled) return;
        if (!this.transportOpen) {
          this.settle(w, this.downError(frame.type));
          return;
        }
        this.waiters.add(w); // before the write: an answer may arrive while the write is in progress
        try {
          await this.send(frame);
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

  // ---- answering ------------------------------------------------------------------------------

  /** @internal Used by IncomingFrame.reply/ack. */
  answer(inc: Incoming, frame: Frame): Promise<SentFrame> {
    if (inc.appReplied) {
      const prev = inc.cached?.frame.type ?? "?";
      return Promise.reject(
        new EtcError(
          LinkErrorCodes.AlreadyAnswered,
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

  private replySeqFor(seq: number): number {
    return this.legacy ? swapNibbles(seq) : replySeq(seq);
  }

  private autoAck(inc: Incoming): void {
    inc.deadline = undefined;
    if (inc.cached || !this.running) return;
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

  // ---- receiving ------------------------------------------------------------------------------

  private onFrame(rf: ReceivedFrame): void {
    this.alive();
    const { frame, wire } = rf;
    if (isHeartbeat(frame)) {
      this.c.heartbeats++;
      this.heartbeatSubject.next(rf);
      if (!this.legacy && frame.type === "B1" && this.options.answerHeartbeat) {
        this.channel
          .send({ type: "CF", status: 0 } as Frame, replySeq(wire.seq))
          .catch((e: unknown) => this.log.warn({ err: String(e) }, "heartbeat answer not sent"));
      }
      return;
    }
    const informational = needsAnswer(frame, this.dialect.variant);
    const rebooted = this.legacy && frame.type === "B0" && wire.seq === RSU_REBOOT_RSCTL;
    // A reboot B0 is never taken for a repeat: a second reboot looks byte-identical to a retransmitted
    // first one, and answering it with C0 again is harmless while missing a reboot leaves the RSU
    // uninitialised.
    if (informational && !rebooted) {
      const prev = this.recent.get(wire.seq);
      if (prev && rf.at - prev.lastAt <= this.options.dedupeWindowMs && prev.wire.data.equals(wire.data)) {
        prev.lastAt = rf.at;
        this.c.duplicates++;
        const cached = prev.cached;
        if (cached) {
          this.c.resentReplies++;
          this.log.info(
            { type: frame.type, seq: wire.seq, reply: cached.frame.type },
            "RSU repeat: cached reply resent",
          );
          this.channel
            .sendEncoded(cached.frame, cached.seq, cached.raw)
            .catch((e: unknown) => this.log.warn({ err: String(e) }, "cached reply not resent"));
        } else {
          this.log.info({ type: frame.type, seq: wire.seq }, "RSU repeat while the answer is pending");
        }
        return;
      }
    }
    const inc = new Incoming(this, rf, informational, rebooted);
    if (rebooted) {
      this.c.rsuReboots++;
      this.log.warn({ seq: wire.seq }, "RSU rebooted (B0 with RSCTL 0x98): it needs C0 again");
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
    if (this.waiters.size > 0) this.offerToWaiters(inc);
    this.incomingSubject.next(inc);
    if (rebooted) this.rebootSubject.next(inc);
  }

  private offerToWaiters(inc: Incoming): void {
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
    w.cleanup();
    w.release();
    if (value) w.resolve(value);
    else w.reject(err);
  }

  private failWaiters(err: EtcError): void {
    for (const w of [...this.waiters]) this.settle(w, err);
  }

  /** A valid frame arrived: re-arm the watchdog and come back up after a silence. */
  private alive(): void {
    if (!this.transportOpen) return;
    if (this.watchdog) this.watchdog.refresh();
    else this.armWatchdog();
    this.attempt = 0;
    if (this.stateSubject.value.status === "down") {
      this.log.info({}, "RSU talking again: link up");
      this.setState("up", "frame received");
    }
  }

  private armWatchdog(): void {
    this.watchdog = setTimeout(() => this.onWatchdog(), this.watchdogMs);
    this.watchdog.unref?.();
  }

  private disarmWatchdog(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = undefined;
  }

  private onWatchdog(): void {
    this.watchdog = undefined;
    if (!this.transportOpen || this.stateSubject.value.status !== "up") return;
    this.c.watchdogTrips++;
    const reason =
      `no valid frame for ${this.watchdogMs} ms (${this.options.missedHeartbeats} x ` +
      `${this.options.heartbeatPeriodMs} ms heartbeat period)`;
    this.log.warn({ silenceMs: this.watchdogMs }, `RSU silent: link down, ${reason}`);
    this.setState("down", reason);
  }

  // ---- connection life-cycle ------------------------------------------------------------------

  /** One open attempt; always ends in "up" or in "down" with a retry scheduled. Never rejects. */
  private async attemptOpen(): Promise<void> {
    if (!this.running) return;
    const gen = this.generation;
    this.c.connectAttempts++;
    this.setState("connecting", this.hadLoss ? `reconnect attempt ${this.attempt}` : "opening");
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        this.transport.open(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new EtcError(
                  ErrorCodes.PortOpenFailed,
                  `${this.transport.name}: open did not complete within ${this.options.openTimeoutMs} ms`,
                ),
              ),
            this.options.openTimeoutMs,
          );
        }),
      ]);
    } catch (e) {
      if (!this.running || gen !== this.generation) return;
      const err =
        e instanceof EtcError
          ? e
          : new EtcError(
              ErrorCodes.PortOpenFailed,
              `${this.transport.name}: open failed: ${String(e)}`,
              {},
              { cause: e },
            );
      this.c.openFailures++;
      void this.transport.close().catch(() => {});
      this.lost(err.message, err);
      return;
    } finally {
      clearTimeout(timer);
    }
    if (!this.running || gen !== this.generation) {
      await this.transport.close().catch(() => {});
      return;
    }
    this.transportOpen = true;
    if (this.hadLoss) this.c.reconnects++;
    this.channel.resetReceiver();
    this.log.info({ transport: this.transport.name }, this.hadLoss ? "reconnected" : "open");
    this.setState("up", this.hadLoss ? "reconnected" : "open");
    this.armWatchdogFresh();
  }

  private armWatchdogFresh(): void {
    this.disarmWatchdog();
    this.armWatchdog();
  }

  private onTransportState(s: TransportState): void {
    if (!this.running || !this.transportOpen || s.status === "open" || s.status === "opening") return;
    this.transportOpen = false;
    this.c.disconnects++;
    const reason = s.error?.message ?? `${this.transport.name} ${s.status}`;
    this.log.warn({ status: s.status, err: s.error?.code }, `transport lost: ${reason}`);
    this.lost(reason, s.error);
  }

  /** The transport is not usable: down, fail waiters, retry after a backoff delay. */
  private lost(reason: string, error?: EtcError): void {
    this.transportOpen = false;
    this.hadLoss = true;
    this.disarmWatchdog();
    this.failWaiters(new EtcError(ErrorCodes.LinkDown, `${this.transport.name}: RSU link down (${reason})`));
    const delay = backoffDelay(this.options.reconnect, this.attempt++, this.random);
    this.setState("down", reason, error);
    this.log.info({ delayMs: delay, attempt: this.attempt }, "reconnect scheduled");
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.attemptOpen();
    }, delay);
  }

  private setState(status: LinkStatus, reason?: string, error?: EtcError): void {
    const prev = this.stateSubject.value;
    if (prev.status === status && prev.reason === reason && prev.error === error) return;
    const next: LinkState = {
      status,
      since: this.now(),
      ...(reason ? { reason } : {}),
      ...(error ? { error } : {}),
    };
    this.stateSubject.next(next);
  }

  private downError(type: string): EtcError {
    const s = this.stateSubject.value;
    return new EtcError(
      ErrorCodes.LinkDown,
      `${this.transport.name}: ${type} not sent: RSU link is ${s.status}${s.reason ? ` (${s.reason})` : ""}`,
      { status: s.status },
    );
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}
