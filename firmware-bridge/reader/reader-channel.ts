/**
 * One transport, the reader deframer, the wire log and the byte counters, with no protocol policy
 * (the reader's counterpart of firmware-bridge/link/frame-channel.ts). The host driver and the
 * simulated reader both sit on top of it. Every byte in and out goes to the injected logger at debug
 * level (channel READER by default); every discarded byte run is logged with its reason, as a warning
 * capped by firmware-bridge/noise-log.ts (a floating RX line brings tens a second), else at debug.
 */
import { Subject, type Subscription } from "rxjs";
import { crcHex } from "../framing/crc.js";
import { HalfFrameTimer } from "../framing/half-frame-timer.js";
import { type Logger, silentLogger } from "../log.js";
import { NoiseLog } from "../noise-log.js";
import type { Transport } from "../transport/types.js";
import {
  ReaderDeframer,
  type ReaderDeframerCounters,
  type ReaderDeframerEvent,
  type ReaderDeframerOptions,
  type ReaderDiscardReason,
} from "./deframer.js";
import type { ReaderWireFrame } from "./frame.js";

export interface ReceivedReaderFrame {
  readonly frame: ReaderWireFrame;
  /** Monotonic ms when the chunk completing it arrived. */
  readonly at: number;
}

export interface ReaderDiscard {
  readonly reason: ReaderDiscardReason;
  readonly bytes: Buffer;
  /** For a candidate that failed its CRC: its header as received (SEQ at 3, CMD at 4). */
  readonly header?: Buffer;
}

export interface ReaderChannelCounters extends ReaderDeframerCounters {
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
}

export interface ReaderChannelOptions {
  transport: Transport;
  /** Wire-log channel name; default "READER". */
  channel?: string;
  logger?: Logger;
  deframer?: ReaderDeframerOptions;
  /** Monotonic clock in ms; default performance.now(). */
  now?: () => number;
  /** Names a frame for the log (command name, reply status); default none. */
  describe?: (f: ReaderWireFrame, dir: "->" | "<-") => string | undefined;
}

export class ReaderChannel {
  readonly transport: Transport;
  private readonly deframer: ReaderDeframer;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly describe: ReaderChannelOptions["describe"];
  private readonly framesSubject = new Subject<ReceivedReaderFrame>();
  private readonly discardsSubject = new Subject<ReaderDiscard>();
  readonly frames$ = this.framesSubject.asObservable();
  /** Bytes that were not a frame, with the reason: counted, logged, skipped. */
  readonly discards$ = this.discardsSubject.asObservable();
  private sub: Subscription | undefined;
  /** Drops a half frame after the inter-byte timeout (deferring when the loop was busy). */
  private readonly expiry: HalfFrameTimer<ReaderDeframerEvent>;
  /** The warnings for discarded runs, capped (../noise-log.ts). */
  private readonly noiseLog: NoiseLog;
  private readonly c = { framesOut: 0, bytesIn: 0, bytesOut: 0 };

  constructor(opts: ReaderChannelOptions) {
    this.transport = opts.transport;
    this.deframer = new ReaderDeframer(opts.deframer);
    this.log = (opts.logger ?? silentLogger).child({ ch: opts.channel ?? "READER" });
    this.now = opts.now ?? (() => performance.now());
    this.describe = opts.describe;
    this.expiry = new HalfFrameTimer(this.deframer, this.now, (events, at) => this.emitAll(events, at));
    this.noiseLog = new NoiseLog(this.log, this.now);
  }

  get counters(): Readonly<ReaderChannelCounters> {
    return { ...this.deframer.counters, ...this.c };
  }

  /** Begin reading from the transport (idempotent). */
  start(): void {
    if (this.sub) return;
    this.sub = this.transport.data$.subscribe((chunk) => this.onBytes(chunk));
  }

  stop(): void {
    // A half frame still held is reported (and logged) as discarded, not silently forgotten.
    if (this.sub) this.emitAll(this.deframer.reset(), this.now());
    this.sub?.unsubscribe();
    this.sub = undefined;
    this.expiry.cancel();
    this.noiseLog.stop();
  }

  /** Drop any half frame (after a reconnect the old bytes mean nothing). */
  resetReceiver(): void {
    this.emitAll(this.deframer.reset(), this.now());
  }

  /** Write bytes (a frame, or deliberately not one for fault injection); resolves when the transport took them. */
  async write(raw: Buffer, frame?: ReaderWireFrame, note?: string): Promise<number> {
    await this.transport.write(raw);
    const at = this.now();
    this.c.framesOut++;
    this.c.bytesOut += raw.length;
    if (this.wireLog()) {
      const what = frame ? this.describe?.(frame, "->") : undefined;
      this.log.debug(
        {
          dir: "->",
          len: raw.length,
          hex: raw.toString("hex"),
          ...(what ? { what } : {}),
          ...(note ? { note } : {}),
        },
        "tx",
      );
    }
    return at;
  }

  private wireLog(): boolean {
    return this.log.isLevelEnabled ? this.log.isLevelEnabled("debug") : true;
  }

  private onBytes(chunk: Buffer): void {
    const at = this.now();
    this.c.bytesIn += chunk.length;
    this.emitAll(this.deframer.push(chunk, at), at);
    this.expiry.arm(at);
  }

  private emitAll(events: ReaderDeframerEvent[], at: number): void {
    for (const ev of events) {
      if (ev.kind === "frame") {
        if (this.wireLog()) {
          const what = this.describe?.(ev.frame, "<-");
          this.log.debug(
            {
              dir: "<-",
              len: ev.frame.raw.length,
              hex: ev.frame.raw.toString("hex"),
              ...(what ? { what } : {}),
            },
            "rx",
          );
        }
        this.framesSubject.next({ frame: ev.frame, at });
      } else {
        // capped: the first of an episode at warn, then one summary per interval (../noise-log.ts)
        this.noiseLog.note(
          ev.reason === "checksum" ? "checksum-error" : "discarded",
          "bytes discarded",
          () => ({
            dir: "<-",
            reason: ev.reason,
            len: ev.bytes.length,
            hex: ev.bytes.toString("hex"),
            ...(ev.crc ? { crcFrame: crcHex(ev.crc.frame), crcComputed: crcHex(ev.crc.computed) } : {}),
          }),
          ev.reason === "checksum" ? 0 : ev.bytes.length,
        );
        this.discardsSubject.next(ev);
      }
    }
  }
}
