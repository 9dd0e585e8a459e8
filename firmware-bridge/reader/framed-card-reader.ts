/**
 * `CardReader` over our reader framing (docs/reader.md): the host driver. It composes
 *  - ReaderChannel: transport, deframer, wire log, byte counters;
 *  - CommandRunner: one command in flight, deadlines, WAIT, stale replies, NAK resends (none for a
 *    command sent with `noResend`), aborts;
 *  - ReaderSupervisor: open, INFO probe, reconnect with backoff, idle pings, state$;
 * and turns each CardReader call into one declared command (commands.ts), decoding the reply.
 * Card events (CARD_EVENT frames, SEQ 0) go to cardEvents$.
 */
import { type Observable, Subject, type Subscription } from "rxjs";
import { EtcError } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";
import type { Transport } from "../transport/types.js";
import type { CardEvent, CardReader, CommandOptions, ReaderLinkState } from "./card-reader.js";
import { CommandRunner, type CommandRunnerCounters } from "./command-runner.js";
import {
  CARD_ACTIVATE,
  CARD_APDU,
  CARD_APDU_LIST,
  CARD_EVENT,
  CARD_HALT,
  type CardActivation,
  COMMANDS_BY_CODE,
  INFO,
  type Led,
  PSAM_APDU,
  PSAM_APDU_LIST,
  PSAM_RESET,
  type ReaderCommandDef,
  type ReaderInfo,
  SIGNAL,
  WAIT,
} from "./commands.js";
import { ReaderErrorCodes, readerError } from "./errors.js";
import { EVENT_SEQ, type ReaderWireFrame } from "./frame.js";
import { type ReaderOptions, type ReaderOptionsInput, resolveReaderOptions } from "./options.js";
import { ReaderChannel, type ReaderChannelCounters } from "./reader-channel.js";
import { ReaderSupervisor, type SupervisorCounters } from "./reader-supervisor.js";
import { statusName } from "./status.js";

export interface FramedCardReaderInit {
  /** The reader's port: serial, pty, in-process pair, or a capture decorator around one of them. */
  transport: Transport;
  options?: ReaderOptionsInput;
  /** Wire log and events; the wire log is debug level on channel "READER". */
  logger?: Logger;
  /** Monotonic clock in ms; default performance.now(). */
  now?: () => number;
  /** Jitter source in [0, 1); default Math.random. */
  random?: () => number;
  /** Wire-log channel name; default "READER". */
  channel?: string;
}

export interface FramedCardReaderCounters
  extends ReaderChannelCounters,
    CommandRunnerCounters,
    SupervisorCounters {
  cardEvents: number;
  /** Frames from the reader whose CMD is neither a reply, WAIT nor CARD_EVENT. */
  unknownFrames: number;
}

export class FramedCardReader implements CardReader {
  readonly options: Readonly<ReaderOptions>;
  readonly state$: Observable<ReaderLinkState>;
  readonly cardEvents$: Observable<CardEvent>;
  private readonly transport: Transport;
  private readonly channel: ReaderChannel;
  private readonly runner: CommandRunner;
  private readonly supervisor: ReaderSupervisor;
  private readonly log: Logger;
  private readonly cardEventsSubject = new Subject<CardEvent>();
  private sub: Subscription | undefined;
  private readonly c = { cardEvents: 0, unknownFrames: 0 };

  constructor(init: FramedCardReaderInit) {
    this.options = resolveReaderOptions(init.options);
    this.transport = init.transport;
    const now = init.now ?? (() => performance.now());
    const ch = init.channel ?? "READER";
    this.log = (init.logger ?? silentLogger).child({ ch, ns: "card-reader" });
    this.channel = new ReaderChannel({
      transport: init.transport,
      channel: ch,
      logger: init.logger,
      deframer: {
        maxFrameLength: this.options.maxFrameLength,
        interByteTimeoutMs: this.options.interByteTimeoutMs,
      },
      now,
      describe: describeFrame,
    });
    this.supervisor = new ReaderSupervisor({
      transport: init.transport,
      options: this.options,
      log: this.log,
      now,
      random: init.random ?? Math.random,
      probe: () => this.command(INFO, 0, null, undefined, true),
      onLost: (reason) => this.runner.failAll(ReaderErrorCodes.LinkDown, `link lost (${reason})`),
      busy: () => this.runner.busy,
      onOpened: () => this.channel.resetReceiver(),
    });
    this.runner = new CommandRunner({
      channel: this.channel,
      options: this.options,
      log: this.log,
      now,
      canSend: (whileConnecting) =>
        this.supervisor.transportOpen && (whileConnecting || this.supervisor.state.status === "up"),
      downReason: () => {
        const s = this.supervisor.state;
        return `reader link is ${s.status}${s.reason ? ` (${s.reason})` : ""}`;
      },
      onSilence: (discarded, echoes) => this.supervisor.silence(discarded, echoes),
      onAlive: () => this.supervisor.alive(),
      name: init.transport.name,
    });
    this.state$ = this.supervisor.state$;
    this.cardEvents$ = this.cardEventsSubject.asObservable();
  }

  get state(): ReaderLinkState {
    return this.supervisor.state;
  }

  /** The reader's INFO from the last (re)connect or ping. */
  get info(): ReaderInfo | undefined {
    return this.supervisor.info;
  }

  get counters(): Readonly<FramedCardReaderCounters> {
    return { ...this.channel.counters, ...this.runner.counters, ...this.supervisor.counters, ...this.c };
  }

  /** Bytes that were not frames (noise, checksum, oversize, malformed, truncated), as they are dropped. */
  get discards$() {
    return this.channel.discards$;
  }

  open(): Promise<ReaderInfo> {
    if (!this.sub) {
      this.sub = this.channel.frames$.subscribe((rf) => {
        const f = rf.frame;
        if (f.cmd === CARD_EVENT.code && f.seq === EVENT_SEQ) {
          this.onCardEvent(f, rf.at);
          return;
        }
        if (f.cmd !== WAIT.code && !COMMANDS_BY_CODE.has(f.cmd)) {
          this.c.unknownFrames++;
          this.supervisor.alive();
          this.log.warn(
            { seq: f.seq, cmd: f.cmd, hex: f.raw.toString("hex") },
            "unknown frame from the reader: dropped",
          );
          return;
        }
        this.runner.onFrame(rf);
      });
      this.sub.add(this.channel.discards$.subscribe((d) => this.runner.onDiscard(d.reason, d.bytes.length)));
      this.channel.start();
    }
    return this.supervisor.start();
  }

  async close(): Promise<void> {
    this.runner.failAll(ReaderErrorCodes.Aborted, "reader closed");
    await this.supervisor.stop();
    this.sub?.unsubscribe();
    this.sub = undefined;
    this.channel.stop();
  }

  async activate(signal?: AbortSignal): Promise<CardActivation> {
    return this.command(CARD_ACTIVATE, 0, null, signal);
  }

  async halt(signal?: AbortSignal): Promise<void> {
    await this.command(CARD_HALT, 0, null, signal);
  }

  cardApdu(apdu: Buffer, signal?: AbortSignal, options?: CommandOptions): Promise<Buffer> {
    return this.command(CARD_APDU, 0, apdu, signal, false, 1, options?.noResend === true);
  }

  cardApduList(apdus: Buffer[], signal?: AbortSignal): Promise<Buffer[]> {
    return this.list(CARD_APDU_LIST, 0, apdus, signal);
  }

  async psamReset(slot: number, signal?: AbortSignal): Promise<Buffer> {
    return this.command(PSAM_RESET, this.slot(slot), "auto", signal);
  }

  async psamApdu(slot: number, apdu: Buffer, signal?: AbortSignal): Promise<Buffer> {
    return this.command(PSAM_APDU, this.slot(slot), apdu, signal);
  }

  async psamApduList(slot: number, apdus: Buffer[], signal?: AbortSignal): Promise<Buffer[]> {
    return this.list(PSAM_APDU_LIST, this.slot(slot), apdus, signal);
  }

  async signal(s: { beep?: number; led?: Led }): Promise<void> {
    const beepMs = Math.max(0, Math.min(0xffff, Math.round(s.beep ?? 0)));
    await this.command(SIGNAL, 0, { beepMs, ...(s.led ? { led: s.led } : {}) });
  }

  private slot(slot: number): number {
    if (!Number.isInteger(slot) || slot < 1 || slot > 0xff) {
      throw readerError(ReaderErrorCodes.BadRequest, `PSAM slot must be 1..255, got ${slot}`, "no");
    }
    return slot;
  }

  /**
   * A list command. When the reader stops it with an error status (card removed, card mute...), the
   * answers it got before that are in the error's `details.completed` (R-APDUs, in order).
   */
  private async list(
    def: ReaderCommandDef<Buffer[], Buffer[]>,
    p: number,
    apdus: Buffer[],
    signal?: AbortSignal,
  ): Promise<Buffer[]> {
    let out: Buffer[];
    try {
      out = await this.command(def, p, apdus, signal, false, Math.max(1, apdus.length));
    } catch (e) {
      const data = e instanceof EtcError ? e.details?.replyData : undefined;
      if (e instanceof EtcError && Buffer.isBuffer(data)) {
        const completed = def.reply.decode(data);
        if (completed && e.details) (e.details as Record<string, unknown>).completed = completed;
      }
      throw e;
    }
    if (out.length > apdus.length || out.length === 0) {
      throw readerError(
        ReaderErrorCodes.BadReply,
        `${this.transport.name}: ${def.name} answered ${out.length} R-APDU(s) to ${apdus.length} APDU(s)`,
        "unknown",
      );
    }
    return out;
  }

  /** Encode, run, decode one command; rejects with a reader EtcError. */
  private async command<Req, Rep>(
    def: ReaderCommandDef<Req, Rep>,
    p: number,
    req: Req,
    signal?: AbortSignal,
    whileConnecting = false,
    items = 1,
    noResend = false,
  ): Promise<Rep> {
    let data: Buffer;
    try {
      data = def.request.encode(req);
    } catch (e) {
      throw readerError(ReaderErrorCodes.BadRequest, `${def.name}: ${(e as Error).message}`, "no");
    }
    let frame: ReaderWireFrame;
    try {
      frame = await this.runner.run({
        def,
        p,
        data,
        timeoutMs: this.options.timeouts[def.timeout] * (def.perItem ? items : 1),
        ...(signal ? { signal } : {}),
        whileConnecting,
        ...(noResend ? { noResend } : {}),
      });
    } finally {
      this.supervisor.activity();
    }
    const value = def.reply.decode(frame.data);
    if (value === undefined) {
      throw badReply(this.transport.name, def.name, frame);
    }
    return value;
  }

  private onCardEvent(f: ReaderWireFrame, at: number): void {
    this.supervisor.alive();
    const kind =
      f.p === CARD_EVENT.inserted ? "inserted" : f.p === CARD_EVENT.removed ? "removed" : undefined;
    if (!kind || f.data.length !== 0) {
      this.c.unknownFrames++;
      this.log.warn({ p: f.p, hex: f.raw.toString("hex") }, "malformed CARD_EVENT: dropped");
      return;
    }
    this.c.cardEvents++;
    this.log.info({ kind }, `card ${kind}`);
    this.cardEventsSubject.next({ kind, at });
  }
}

/** The bytes of malformed reply data quoted: too few to hold a card number (10 bytes). */
const REPLY_HEAD_BYTES = 3;

/**
 * Reply data that does not decode, told by its length and first bytes only (an APDU list's count and first
 * length): the rest may be a card's file 0015, and an error's message is logged as it is (the wire capture
 * keeps every byte).
 */
function badReply(port: string, name: string, f: ReaderWireFrame): EtcError {
  const head = f.data.subarray(0, REPLY_HEAD_BYTES).toString("hex");
  return readerError(
    ReaderErrorCodes.BadReply,
    `${port}: ${name} reply data is malformed (${f.data.length} bytes${head ? `, starting ${head}` : ""})`,
    "unknown",
    { length: f.data.length },
  );
}

/** Names a frame for the wire log: the command, and for a reply its status. */
export function describeFrame(f: ReaderWireFrame, dir: "->" | "<-"): string | undefined {
  if (f.cmd === CARD_EVENT.code) return `CARD_EVENT ${f.p === CARD_EVENT.inserted ? "inserted" : "removed"}`;
  if (f.cmd === WAIT.code) return `WAIT seq ${f.seq}`;
  const def = COMMANDS_BY_CODE.get(f.cmd);
  const name = def?.name ?? `cmd 0x${f.cmd.toString(16)}`;
  return dir === "->" ? `${name} seq ${f.seq}` : `${name} seq ${f.seq} ${statusName(f.p)}`;
}
