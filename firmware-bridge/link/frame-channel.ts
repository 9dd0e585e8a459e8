/**
 * A frame channel: one transport, one deframer, the codec, counters and the wire log, with no
 * protocol policy. The lane's RsuLink (ack, dedupe, watchdog, reconnect) and the simulated RSU
 * (retransmission, mode machine) both sit on top of it.
 *
 * Two rules come from the frame declarations (firmware-bridge/frames/), not from policy: a frame
 * declared for the direction the channel sends itself is its own side's frame coming back (an echo on
 * the line), never a frame of the peer; and a type declared a heartbeat whatever its body (national B1)
 * whose body does not fit goes to `misfitHeartbeats$` with its partial decode, not to the decode errors.
 * A frame longer than its declaration is delivered with the surplus as `extra` (docs/protocol.md §2), and
 * counted in `framesWithExtra` and warned about once per type, naming the dialect setting that would read
 * it with less surplus (exactly, or how many surplus bytes it explains), if one does
 * (firmware-bridge/frames/dialect-fit.ts). A frame shorter than its
 * declaration by exactly what one such setting adds is counted in `framesShorter` and warned about the same
 * way when it decodes (its last optional fields missing, the ones before read shifted); when it is cut short
 * inside a field instead, the undecodable-frame warning names the setting.
 */
import { Subject, type Subscription } from "rxjs";
import type { EtcError } from "../errors.js";
import {
  catalogueFor,
  type DecodeResult,
  decodeData,
  encodeFrame,
  type Frame,
  isHeartbeat,
  type PartialFrame,
} from "../frames/catalogue.js";
import type { Dialect } from "../frames/dialect.js";
import { fitHint, shorterHint } from "../frames/dialect-fit.js";
import type { Direction } from "../frames/frame-def.js";
import { LayoutFitMemo } from "../frames/layout-fit-memo.js";
import { HalfFrameTimer } from "../framing/half-frame-timer.js";
import { createDeframer } from "../framing/index.js";
import type { Deframer, DeframerEvent, DeframerOptions, WireFrame } from "../framing/types.js";
import { type Logger, silentLogger } from "../log.js";
import { NoiseLog } from "../noise-log.js";
import type { Transport } from "../transport/types.js";

export interface ReceivedFrame {
  readonly frame: Frame;
  readonly wire: WireFrame;
  /** Monotonic ms when the chunk completing this frame arrived from the transport. */
  readonly at: number;
}

export interface SentFrame {
  readonly frame: Frame;
  readonly raw: Buffer;
  readonly seq: number;
  /** Monotonic ms when the transport accepted the bytes ("handed to the port"). */
  readonly at: number;
}

export type ChannelProblem =
  | Exclude<DeframerEvent, { kind: "frame" }>
  | { readonly kind: "decode-error"; readonly error: EtcError; readonly wire: WireFrame }
  /** A frame declared for the direction this channel sends (its own side's, come back): not delivered. */
  | { readonly kind: "echo"; readonly type: string; readonly wire: WireFrame };

/** A good envelope of a type that is a heartbeat whatever its body (national B1) whose body does not fit. */
export interface MisfitHeartbeat {
  /** What could be read: the fields before the misfit, the undecoded rest and why. */
  readonly partial: PartialFrame;
  readonly wire: WireFrame;
  /** Monotonic ms when the chunk completing this frame arrived from the transport. */
  readonly at: number;
}

export interface ChannelCounters {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  discardedBytes: number;
  checksumErrors: number;
  decodeErrors: number;
  /** Half frames dropped by the deframer's inter-byte timeout. */
  timeouts: number;
  /** Frame candidates longer than the deframer's maxFrameLength. */
  tooLong: number;
  /** Frame candidates with a bad escape, a bad length field or too short a body. */
  malformed: number;
  /** Frames declared for the direction this channel sends (an echo of its own side's frames): not delivered. */
  echoes: number;
  /** Heartbeats whatever their body (national B1) whose body did not fit: on misfitHeartbeats$. */
  misfitHeartbeats: number;
  /** Frames delivered with bytes after their last declared field (`extra`). */
  framesWithExtra: number;
  /**
   * Frames delivered without their last declared fields, shorter than the declaration by exactly what one
   * dialect layout setting adds (firmware-bridge/frames/dialect-fit.ts `dialectsFittingShorter`).
   */
  framesShorter: number;
}

export interface FrameChannelOptions {
  transport: Transport;
  dialect: Dialect;
  /**
   * The direction of the frames the peer sends: "rsu-to-lane" for the lane's link, "lane-to-rsu" for the
   * simulated RSU. A frame declared the other way is this side's own frame coming back (an RS-485 adapter
   * with local echo, a TX/RX loopback, a tty not set raw): counted in `echoes`, reported on `problems$`
   * as `echo`, logged once per channel, never on `frames$`. An empty acknowledgement has no direction.
   */
  receives: Direction;
  /** Wire-log channel name: "RSU", "LANE", "READER". */
  channel?: string;
  logger?: Logger;
  deframer?: DeframerOptions;
  /** Monotonic clock in ms; default performance.now(). */
  now?: () => number;
}

export class FrameChannel {
  readonly transport: Transport;
  readonly dialect: Dialect;
  readonly receives: Direction;
  private readonly deframer: Deframer;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly framesSubject = new Subject<ReceivedFrame>();
  private readonly sentSubject = new Subject<SentFrame>();
  private readonly problemsSubject = new Subject<ChannelProblem>();
  private readonly misfitSubject = new Subject<MisfitHeartbeat>();
  readonly frames$ = this.framesSubject.asObservable();
  readonly sent$ = this.sentSubject.asObservable();
  readonly problems$ = this.problemsSubject.asObservable();
  /** Heartbeats whatever their body (national B1) whose body did not fit the declaration. */
  readonly misfitHeartbeats$ = this.misfitSubject.asObservable();
  /** The first echo was logged at warn level: later ones go to the debug wire log only. */
  private echoLogged = false;
  /** Heartbeat types whose first misfit was logged at warn level: later ones go to the debug wire log only. */
  private readonly misfitLogged = new Set<string>();
  /** Types whose first frame with `extra` was logged at warn level: later ones go to the debug wire log only. */
  private readonly extraLogged = new Set<string>();
  /** Types whose first frame shorter by a layout setting was logged at warn level. */
  private readonly shorterLogged = new Set<string>();
  /** The layout settings that explain a frame's length, per frame type and length. */
  private readonly layoutFits: LayoutFitMemo;
  private sub: Subscription | undefined;
  /** The warnings for discarded runs and checksum errors, capped (../noise-log.ts). */
  private readonly noiseLog: NoiseLog;
  /** Drops a half frame after the inter-byte timeout (deferring when the loop was busy). */
  private readonly expiry: HalfFrameTimer<DeframerEvent>;
  private readonly c: ChannelCounters = {
    framesIn: 0,
    framesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    discardedBytes: 0,
    checksumErrors: 0,
    decodeErrors: 0,
    timeouts: 0,
    tooLong: 0,
    malformed: 0,
    echoes: 0,
    misfitHeartbeats: 0,
    framesWithExtra: 0,
    framesShorter: 0,
  };

  constructor(opts: FrameChannelOptions) {
    this.transport = opts.transport;
    this.dialect = opts.dialect;
    this.layoutFits = new LayoutFitMemo(opts.dialect);
    this.receives = opts.receives;
    this.deframer = createDeframer(opts.dialect.variant, opts.deframer);
    this.log = (opts.logger ?? silentLogger).child({ ch: opts.channel ?? "RSU" });
    this.now = opts.now ?? (() => performance.now());
    this.noiseLog = new NoiseLog(this.log, this.now);
    this.expiry = new HalfFrameTimer(this.deframer, this.now, (events, at) => this.emitAll(events, at));
  }

  get counters(): Readonly<ChannelCounters> {
    const d = this.deframer.counters;
    return {
      ...this.c,
      discardedBytes: d.discardedBytes,
      checksumErrors: d.checksumErrors,
      timeouts: d.timeouts,
      tooLong: d.tooLong,
      malformed: d.malformed,
    };
  }

  /** Begin reading from the transport (idempotent). */
  start(): void {
    if (this.sub) return;
    this.sub = this.transport.data$.subscribe((chunk) => this.onBytes(chunk));
  }

  stop(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
    this.expiry.cancel();
    this.noiseLog.stop();
  }

  /** Drop any half frame (after a reconnect the old bytes mean nothing). */
  resetReceiver(): void {
    this.emitAll(this.deframer.reset());
  }

  /** Encode and write one frame; resolves when the transport accepted the bytes. */
  async send(frame: Frame, seq: number): Promise<SentFrame> {
    const raw = encodeFrame(frame, seq, this.dialect);
    return this.sendEncoded(frame, seq, raw);
  }

  /** Write bytes that are already a frame (a cached reply) or deliberately not one (fault injection). */
  async sendEncoded(frame: Frame, seq: number, raw: Buffer): Promise<SentFrame> {
    await this.transport.write(raw);
    const at = this.now();
    this.c.framesOut++;
    this.c.bytesOut += raw.length;
    if (this.wireLog())
      this.log.debug({ dir: "->", len: raw.length, hex: raw.toString("hex"), type: frame.type }, "tx");
    const sent: SentFrame = { frame, raw, seq, at };
    this.sentSubject.next(sent);
    return sent;
  }

  /** Wire logging is debug level and switchable at runtime; the hex is only built when it will be written. */
  private wireLog(): boolean {
    return this.log.isLevelEnabled ? this.log.isLevelEnabled("debug") : true;
  }

  private onBytes(chunk: Buffer): void {
    const at = this.now();
    this.c.bytesIn += chunk.length;
    this.emitAll(this.deframer.push(chunk, at), at);
    this.expiry.arm(at);
  }

  private emitAll(events: DeframerEvent[], at = this.now()): void {
    const catalogue = catalogueFor(this.dialect.variant);
    for (const ev of events) {
      if (ev.kind === "frame") {
        const data = ev.frame.data;
        const def = data.length > 0 ? catalogue.byCode.get(data[0] as number) : undefined;
        if (def !== undefined && def.direction !== this.receives) {
          this.onEcho(def.type, ev.frame);
          continue;
        }
        const r = decodeData(data, this.dialect);
        if (!r.ok && def?.heartbeat === true) {
          this.onMisfitHeartbeat(r.partial, r.error, ev.frame, at);
          continue;
        }
        if (!r.ok) {
          this.c.decodeErrors++;
          const fits = this.layoutFits.shorter(data, r);
          this.log.warn(
            {
              dir: "<-",
              hex: ev.frame.raw.toString("hex"),
              // the reason in words: the error's message repeats the fields that fitted and the bytes
              // left, which may hold a card number that the lane's log masks only in `hex`
              err: r.partial.reason,
              ...(fits.length > 0 ? { dialectSetting: fits.map((f) => f.setting) } : {}),
            },
            fits.length > 0
              ? `undecodable frame: ${shorterHint(r.partial.type, data, this.dialect, fits)}`
              : "undecodable frame",
          );
          this.problemsSubject.next({ kind: "decode-error", error: r.error, wire: ev.frame });
          continue;
        }
        this.c.framesIn++;
        if (r.frame.type !== "ACK" && r.frame.extra !== undefined)
          this.onExtra(r.frame.type, r.frame.extra, ev.frame, r);
        else if (r.frame.type !== "ACK" && !isHeartbeat(r.frame, this.dialect.variant))
          this.checkShorter(r.frame.type, r, ev.frame);
        if (this.wireLog()) {
          this.log.debug(
            { dir: "<-", len: ev.frame.raw.length, hex: ev.frame.raw.toString("hex"), type: r.frame.type },
            "rx",
          );
        }
        this.framesSubject.next({ frame: r.frame, wire: ev.frame, at });
      } else {
        // capped: the first of an episode at warn, then one summary per interval (../noise-log.ts)
        if (ev.kind === "checksum-error") {
          this.noiseLog.note("checksum-error", "checksum error", () => ({
            dir: "<-",
            hex: ev.candidate.toString("hex"),
            expected: ev.expected,
            actual: ev.actual,
          }));
        } else {
          this.noiseLog.note(
            "discarded",
            "bytes discarded",
            () => ({ dir: "<-", reason: ev.reason, len: ev.bytes.length, hex: ev.bytes.toString("hex") }),
            ev.bytes.length,
          );
        }
        this.problemsSubject.next(ev);
      }
    }
  }

  private onEcho(type: string, wire: WireFrame): void {
    this.c.echoes++;
    const fields = { dir: "<-", type, hex: wire.raw.toString("hex") };
    if (!this.echoLogged) {
      this.echoLogged = true;
      const own = this.receives === "rsu-to-lane" ? "lane -> RSU" : "RSU -> lane";
      this.log.warn(
        fields,
        `${type} received, a frame of our own side (${own}): an echo on the line (RS-485 local echo, a loopback, a tty not set raw)? Not taken as the peer's; each one is counted in echoes, this is logged once`,
      );
    } else if (this.wireLog()) {
      this.log.debug(fields, "echo of our own frame");
    }
    this.problemsSubject.next({ kind: "echo", type, wire });
  }

  /** A frame longer than its declaration: delivered as it is (with `extra`), but never silently. */
  private onExtra(type: string, extra: string, wire: WireFrame, r: DecodeResult): void {
    this.c.framesWithExtra++;
    if (this.extraLogged.has(type)) {
      if (this.wireLog()) this.log.debug({ dir: "<-", type, extra }, `${type} longer than its declaration`);
      return;
    }
    this.extraLogged.add(type);
    const fits = this.layoutFits.longer(wire.data, r);
    this.log.warn(
      {
        dir: "<-",
        type,
        extra,
        hex: wire.raw.toString("hex"),
        ...(fits.length > 0 ? { dialectSetting: fits.map((f) => f.setting) } : {}),
      },
      `${type} is ${extra.length / 2} byte(s) longer than its declaration (those bytes in extra); ${fitHint(fits)}; delivered with the surplus as extra; each one is counted in framesWithExtra, this is logged once per frame type`,
    );
  }

  /** A frame that decoded shorter than its declaration by exactly one layout setting's field: never silently. */
  private checkShorter(type: string, r: DecodeResult, wire: WireFrame): void {
    const fits = this.layoutFits.shorter(wire.data, r);
    if (fits.length === 0) return;
    this.c.framesShorter++;
    if (this.shorterLogged.has(type)) {
      if (this.wireLog()) this.log.debug({ dir: "<-", type }, `${type} shorter than its declaration`);
      return;
    }
    this.shorterLogged.add(type);
    this.log.warn(
      { dir: "<-", type, hex: wire.raw.toString("hex"), dialectSetting: fits.map((f) => f.setting) },
      `${shorterHint(type, wire.data, this.dialect, fits)}; delivered as read, without its last declared fields; each one is counted in framesShorter, this is logged once per frame type`,
    );
  }

  private onMisfitHeartbeat(partial: PartialFrame, error: EtcError, wire: WireFrame, at: number): void {
    this.c.misfitHeartbeats++;
    const fields = { dir: "<-", hex: wire.raw.toString("hex"), err: error.message };
    if (!this.misfitLogged.has(partial.type)) {
      this.misfitLogged.add(partial.type);
      this.log.warn(
        fields,
        `${partial.type} heartbeat body does not fit its declared layout (${partial.reason}): taken as a heartbeat all the same (only its arrival matters); each one is counted in misfitHeartbeats, this is logged once`,
      );
    } else if (this.wireLog()) {
      this.log.debug(fields, `${partial.type} heartbeat body does not fit its declared layout`);
    }
    this.misfitSubject.next({ partial, wire, at });
  }
}
