/**
 * A simulated desktop IC card reader with PSAM slots, speaking our reader framing (docs/reader.md)
 * byte-exactly over any Transport: a serial port, a pty, an in-process pair. Its cards come from a
 * CardStore shared with the RSU simulator, so a card read at the booth is the card the RSU read over
 * DSRC, and every debit lands in the store's one ledger (path "booth").
 *
 * This file is the protocol side: frames in, one command at a time (BUSY while a slow one works,
 * WAIT frames meanwhile), BAD_CHECKSUM for a corrupted command, replies out (with the line faults),
 * card events, unplug. The card side is card-field.ts, the PSAM side psam-slots.ts, and which fault
 * applies where is fault-book.ts; a slow command's WAIT frames, its delay and the card it arrived for
 * are slow-command.ts. 61xx/6Cxx are resolved on this, the reader's, side
 * (firmware-bridge/reader/t0.ts).
 */
import { type Observable, Subject, type Subscription } from "rxjs";
import type { Logger } from "../../firmware-bridge/log.js";
import { silentLogger } from "../../firmware-bridge/log.js";
import { encodeApduList } from "../../firmware-bridge/reader/apdu-list.js";
import {
  type AnyReaderCommand,
  CARD_ACTIVATE,
  CARD_APDU,
  CARD_APDU_LIST,
  CARD_EVENT,
  CARD_HALT,
  COMMANDS_BY_CODE,
  INFO,
  PSAM_APDU,
  PSAM_APDU_LIST,
  PSAM_RESET,
  type ReaderInfo,
  SIGNAL,
  type SignalRequest,
  WAIT,
} from "../../firmware-bridge/reader/commands.js";
import { EVENT_SEQ, encodeReaderFrame, type ReaderWireFrame } from "../../firmware-bridge/reader/frame.js";
import { describeFrame } from "../../firmware-bridge/reader/framed-card-reader.js";
import { ReaderChannel } from "../../firmware-bridge/reader/reader-channel.js";
import { ReaderStatus, statusName } from "../../firmware-bridge/reader/status.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import type { CardStore } from "../card/card-store.js";
import type { SimPsam } from "../card/sim-psam.js";
import type { LedgerEntry } from "../ledger/ledger.js";
import { CardField } from "./card-field.js";
import { FaultBook } from "./fault-book.js";
import { parseReaderFault, type ReaderFault, type ReaderFaultInput } from "./faults.js";
import { type Outcome, outcome } from "./outcome.js";
import { DEFAULT_SIM_PSAM, type PsamSlotSpec, PsamSlots } from "./psam-slots.js";
import { checkReaderInfo, DEFAULT_READER_INFO_TEXT, DEFAULT_READER_SIM_MAX_FRAME } from "./reader-info.js";
import { SlowCommand } from "./slow-command.js";

export { DEFAULT_SIM_PSAM, type PsamSlotSpec } from "./psam-slots.js";

export interface ReaderSimulatorOptions {
  transport: Transport;
  store: CardStore;
  /** PSAM slots; default one T=0 PSAM in slot 1, terminal 430100000099. */
  psams?: PsamSlotSpec[];
  /** Number of PSAM slots the reader reports (default: the highest configured slot, at least 2). */
  psamSlots?: number;
  info?: Partial<Omit<ReaderInfo, "psamSlots">>;
  logger?: Logger;
  /** How the unplug fault pulls the cable (an in-process pair's unplug/replug); default: close and reopen. */
  cable?: { unplug(): void; replug(): void };
  /** Largest frame the reader accepts (default 1024). */
  maxFrameLength?: number;
  /**
   * Every command is answered this long after it arrived, without WAIT frames (a real desk reader and
   * card take tens of ms); default 0, at once. A setting, not a fault: an armed `slow` fault takes
   * precedence for the commands it covers, with its own delay and WAIT frames.
   */
  latencyMs?: number;
}

export type ReaderSimEvent =
  | { type: "command"; name: string; seq: number; p: number; ins: number[] }
  | { type: "reply"; name: string; seq: number; status: string; ins: number[]; note?: string }
  | { type: "card"; kind: "inserted" | "removed"; cardId: string; why?: string }
  | { type: "fault"; fault: string; detail?: string }
  | { type: "debit"; entry: LedgerEntry }
  | { type: "signal"; beepMs: number; led?: string }
  | { type: "discarded"; reason: string; bytes: number }
  /** a `hold` fault fired: this command ran, its reply and every later one are held back */
  | { type: "held"; name: string; seq: number; status: string; ins: number[]; cardId?: string }
  /** release(): `dropped` replies held back (the held one and the commands since), `disarmed` holds not fired */
  | { type: "released"; dropped: number; disarmed: number };

export class ReaderSimulator {
  readonly store: CardStore;
  private readonly transport: Transport;
  private readonly channel: ReaderChannel;
  private readonly log: Logger;
  private readonly opts: ReaderSimulatorOptions;
  private readonly info: ReaderInfo;
  private readonly faults: FaultBook;
  private readonly field: CardField;
  private readonly slots: PsamSlots;
  private readonly eventsSubject = new Subject<ReaderSimEvent>();
  /** What the reader does: commands, replies, card events, faults, debits. */
  readonly events$: Observable<ReaderSimEvent> = this.eventsSubject.asObservable();
  /** A slow command in progress (slow-command.ts). */
  private working: SlowCommand | undefined;
  private subs: Subscription[] = [];
  private started = false;
  private unplugged = false;
  /** After a replug: tell the host about the card in the field once it talks to us again. */
  private announceField = false;
  private readonly debits: LedgerEntry[] = [];
  private led: string | undefined;
  /** A `hold` fault fired: nothing is answered until release(); the commands that went unanswered. */
  private holding: { unanswered: number } | undefined;

  constructor(opts: ReaderSimulatorOptions) {
    this.opts = opts;
    this.store = opts.store;
    this.transport = opts.transport;
    this.log = (opts.logger ?? silentLogger).child({ ns: "sim-reader" });
    this.channel = new ReaderChannel({
      transport: opts.transport,
      channel: "READER-SIM",
      logger: opts.logger,
      deframer: { maxFrameLength: opts.maxFrameLength ?? DEFAULT_READER_SIM_MAX_FRAME },
      describe: (f, dir) => describeFrame(f, dir === "->" ? "<-" : "->"),
    });
    this.faults = new FaultBook((fault, detail) => this.emit({ type: "fault", fault, detail }));
    this.field = new CardField(this.faults, (cardId, why) =>
      this.emit({ type: "card", kind: "removed", cardId, why }),
    );
    this.slots = new PsamSlots(
      this.faults,
      (spec) => this.store.createPsam(spec.terminalNo, { serial: spec.serial ?? 1, t0: spec.t0 ?? true }),
      opts.psams ?? [DEFAULT_SIM_PSAM],
    );
    this.info = {
      protocolVersion: 1,
      psamSlots: opts.psamSlots ?? Math.max(2, this.slots.highest),
      maxFrameLength: opts.maxFrameLength ?? DEFAULT_READER_SIM_MAX_FRAME,
      vendor: opts.info?.vendor ?? DEFAULT_READER_INFO_TEXT.vendor,
      model: opts.info?.model ?? DEFAULT_READER_INFO_TEXT.model,
      firmware: opts.info?.firmware ?? DEFAULT_READER_INFO_TEXT.firmware,
      serial: opts.info?.serial ?? DEFAULT_READER_INFO_TEXT.serial,
    };
    checkReaderInfo(this.info);
  }

  /** Opens the transport and starts answering. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.subs = [
      this.channel.frames$.subscribe((rf) => this.onFrame(rf.frame)),
      this.channel.discards$.subscribe((d) => {
        this.emit({ type: "discarded", reason: d.reason, bytes: d.bytes.length });
        if (d.reason === "checksum" && d.header) this.onCorrupted(d.header);
      }),
    ];
    this.channel.start();
    await this.transport.open();
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.holding = undefined;
    this.stopWorking();
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    this.channel.stop();
    this.field.leave();
    await this.transport.close();
    this.eventsSubject.complete();
  }

  /** The card `cardId` (from the store) enters the field; a card already there leaves first. */
  present(cardId: string): void {
    const card = this.store.get(cardId);
    if (!card) throw new Error(`card ${cardId} is not in the card store`);
    if (this.field.cardId) this.remove("another card presented");
    this.field.enter(cardId, card);
    this.emit({ type: "card", kind: "inserted", cardId });
    this.sendEvent(CARD_EVENT.inserted);
  }

  /**
   * The card leaves the field (power lost: selection and any open purchase are gone). A slow card
   * command working on it is answered CARD_REMOVED now (it never ran), and the CARD_EVENT follows that
   * reply (docs/reader.md §3.1).
   */
  remove(why?: string): void {
    const w = this.working;
    const lostBy = w?.arrivedFor?.cardId !== undefined && this.field.isStill(w.arrivedFor) ? w : undefined;
    const cardId = this.field.leave();
    if (!cardId) return;
    this.emit({ type: "card", kind: "removed", cardId, ...(why ? { why } : {}) });
    if (!lostBy) {
      this.sendEvent(CARD_EVENT.removed);
      return;
    }
    this.stopWorking();
    const list = lostBy.def.code === CARD_APDU_LIST.code ? { data: encodeApduList([]) } : {};
    this.reply(
      lostBy.frame,
      lostBy.def,
      outcome(ReaderStatus.cardRemoved, { ins: insOf(lostBy.def, lostBy.frame), removed: cardId, ...list }),
    );
  }

  /** The card in the field, if any. */
  get cardInField(): string | undefined {
    return this.field.cardId;
  }

  /**
   * Inject a fault (validated; see faults.ts): a `fault` event with the fault's JSON ("armed"), then a
   * `fault` event "applied" when, and only if, it acts: `noise` once its bytes are written (none when the
   * write is refused, the cable out), `psam-absent` / `psam-present` when the slot changed (setInserted),
   * `unplug` when the cable was in; the others when they fire (fault-book.ts). `psam-present` for a slot
   * with no PSAM configured is refused (psam-slots.ts), before anything is emitted.
   */
  inject(input: ReaderFaultInput | ReaderFault): void {
    const f = parseReaderFault(input);
    if (f.kind === "psam-present") this.slots.checkConfigured(f.slot, "psam-present");
    this.emit({ type: "fault", fault: f.kind, detail: JSON.stringify(f) });
    const applied = (): void => this.emit({ type: "fault", fault: f.kind, detail: "applied" });
    switch (f.kind) {
      case "noise": {
        const junk = Buffer.alloc(f.bytes);
        for (let i = 0; i < junk.length; i++) junk[i] = (i * 37 + 11) & 0xff;
        // applied once on the line: a write refused (the cable out, the port closed) put nothing there
        void this.channel
          .write(junk, undefined, "noise")
          .then(applied, (e: unknown) => this.log.info({ err: String(e) }, "noise not written"));
        return;
      }
      case "psam-absent":
      case "psam-present":
        // a slot that is so already (empty, never configured, or holding its PSAM) changes nothing
        if (this.slots.setInserted(f.slot, f.kind === "psam-present")) applied();
        return;
      case "unplug":
        // an unplug while the cable is out already changes nothing: no "applied"
        if (this.unplug(f.durationMs)) applied();
        return;
      default:
        this.faults.arm(f);
    }
  }

  /**
   * Ends a `hold` (faults.ts): the replies held back are dropped, and the reader answers again; a hold
   * armed and not fired yet is disarmed.
   */
  release(): void {
    const disarmed = this.faults.disarm("hold");
    const dropped = this.holding?.unanswered ?? 0;
    this.holding = undefined;
    this.emit({ type: "released", dropped, disarmed });
  }

  /** Debits the cards made through this reader (also in the store's ledger). */
  ledger(): LedgerEntry[] {
    return [...this.debits];
  }

  /** The PSAM in `slot` (undefined when the slot is empty). */
  psam(slot: number): SimPsam | undefined {
    return this.slots.psam(slot);
  }

  get counters() {
    return this.channel.counters;
  }

  /** The LED as the host last set it. */
  get ledOn(): string | undefined {
    return this.led;
  }

  // ---- commands -----------------------------------------------------------------------------------

  private onFrame(f: ReaderWireFrame): void {
    const def = COMMANDS_BY_CODE.get(f.cmd);
    this.emit({ type: "command", name: nameOf(def, f.cmd), seq: f.seq, p: f.p, ins: insOf(def, f) });
    if (this.holding) {
      this.holding.unanswered++;
      return;
    }
    if (this.working) {
      this.reply(f, def, outcome(ReaderStatus.busy));
      return;
    }
    if (this.faults.take("silent")) {
      this.log.info({ seq: f.seq }, "silent fault: no reply");
      return;
    }
    if (this.faults.take("reader-nak")) {
      this.reply(f, def, outcome(ReaderStatus.badChecksum));
      return;
    }
    if (!def) {
      this.reply(f, def, outcome(ReaderStatus.unknownCommand));
      return;
    }
    const latency = this.opts.latencyMs ?? 0;
    const slow = this.faults.take("slow") ?? (latency > 0 ? { delayMs: latency, waitEveryMs: 0 } : undefined);
    if (!slow) {
      this.answer(f, def);
      return;
    }
    // Still working: WAIT frames until the reply, BUSY for anything else meanwhile. A card command
    // runs on the card that was in the field when it arrived (remove() answers it if that card leaves).
    const w = new SlowCommand(f, def, NEEDS_CARD.has(def.code) ? this.field.presence : undefined);
    this.working = w;
    w.start(
      slow,
      (left) => {
        const wait = encodeReaderFrame(f.seq, WAIT.code, 0, WAIT.encode(left));
        void this.channel.write(wait, undefined, "WAIT").catch(() => {});
      },
      () => {
        this.stopWorking();
        if (w.arrivedFor && !this.field.isStill(w.arrivedFor)) {
          // no card when it arrived, one since: NO_CARD, never run on the newcomer (a card that left
          // was answered by remove(); CARD_REMOVED covers any other way it went)
          const status = w.arrivedFor.cardId === undefined ? ReaderStatus.noCard : ReaderStatus.cardRemoved;
          this.reply(f, def, outcome(status, { ins: insOf(def, f) }));
          return;
        }
        this.answer(f, def);
      },
    );
  }

  /** Runs the command and replies, or, when an armed `hold` matches its APDUs, holds the reply back. */
  private answer(f: ReaderWireFrame, def: AnyReaderCommand): void {
    const o = this.execute(def, f);
    const apdus = apdusOf(def, f);
    if (!apdus || !this.faults.takeHold(apdus.target, apdus.list)) {
      this.reply(f, def, o);
      return;
    }
    this.holding = { unanswered: 1 };
    // the card ran the command; its answer never leaves the reader
    for (const c of o.commits) {
      const entry = this.store.recordBoothDebit(c, { outcome: "torn-after-debit" });
      this.debits.push(entry);
      this.emit({ type: "debit", entry });
    }
    const cardId = this.field.cardId;
    this.emit({
      type: "held",
      name: def.name,
      seq: f.seq,
      status: statusName(o.status),
      ins: o.ins,
      ...(cardId ? { cardId } : {}),
    });
  }

  private execute(def: AnyReaderCommand, f: ReaderWireFrame): Outcome {
    const req = def.request.decode(f.data);
    if (req === undefined) return outcome(ReaderStatus.badRequest);
    const list = (): Buffer[] | undefined => {
      const l = req as Buffer[];
      return l.length === 0 || l.some((a) => a.length < 4) ? undefined : l;
    };
    switch (def.code) {
      case INFO.code:
        return outcome(ReaderStatus.ok, { data: INFO.reply.encode(this.info) });
      case SIGNAL.code: {
        const s = req as SignalRequest;
        if (s.led) this.led = s.led;
        this.emit({ type: "signal", beepMs: s.beepMs, ...(s.led ? { led: s.led } : {}) });
        return outcome(ReaderStatus.ok);
      }
      case CARD_ACTIVATE.code:
        return this.field.activate();
      case CARD_HALT.code:
        return this.field.halt();
      case CARD_APDU.code:
        return this.field.exchange([req as Buffer], false);
      case CARD_APDU_LIST.code: {
        const l = list();
        return l ? this.field.exchange(l, true) : outcome(ReaderStatus.badRequest);
      }
      case PSAM_RESET.code:
        return this.slots.reset(f.p);
      case PSAM_APDU.code:
        return this.slots.exchange(f.p, [req as Buffer], false);
      case PSAM_APDU_LIST.code: {
        const l = list();
        return l ? this.slots.exchange(f.p, l, true) : outcome(ReaderStatus.badRequest);
      }
      default:
        return outcome(ReaderStatus.unknownCommand);
    }
  }

  // ---- replies ------------------------------------------------------------------------------------

  /** Send the reply (with any armed line fault), then record the card's debits and card events. */
  private reply(f: ReaderWireFrame, def: AnyReaderCommand | undefined, o: Outcome): void {
    let raw = encodeReaderFrame(f.seq, f.cmd, o.status, o.data ?? Buffer.alloc(0));
    const notes: string[] = [];
    if (this.faults.take("bad-checksum")) {
      raw = Buffer.from(raw);
      const at = raw.length - 3;
      raw[at] = (raw[at] as number) ^ 0x5a;
      notes.push("bad-checksum");
    }
    const garble = this.faults.take("garble");
    if (garble?.mode === "noise") {
      raw = Buffer.concat([Buffer.from([0x02, 0x00, 0x55, 0xaa, 0x03]), raw]);
      notes.push("garble-noise");
    } else if (garble) {
      raw = Buffer.from(raw);
      for (let i = 6; i < raw.length - 1; i += 5) raw[i] = (raw[i] as number) ^ 0xa5;
      raw[3] = (raw[3] as number) ^ 0x01;
      notes.push("garble-bytes");
    }
    // Garbled by bytes, or a wrong CRC: the host never gets this answer.
    const intact = !notes.includes("bad-checksum") && !notes.includes("garble-bytes");
    const note = notes.join(",") || undefined;
    this.emit({
      type: "reply",
      name: nameOf(def, f.cmd),
      seq: f.seq,
      status: statusName(o.status),
      ins: o.ins,
      ...(note ? { note } : {}),
    });
    const delivered = o.status === ReaderStatus.ok && intact && !this.unplugged;
    for (const c of o.commits) {
      const entry = this.store.recordBoothDebit(c, { outcome: delivered ? "done" : "torn-after-debit" });
      this.debits.push(entry);
      this.emit({ type: "debit", entry });
    }
    const frame = { seq: f.seq, cmd: f.cmd, p: o.status, data: o.data ?? Buffer.alloc(0), raw };
    void this.channel
      .write(raw, frame, note)
      .catch((e: unknown) => this.log.info({ err: String(e) }, "reply not sent"));
    if (o.removed) this.sendEvent(CARD_EVENT.removed);
    if (this.announceField) {
      // A replugged reader reports the card in its field after its first reply (the host is listening).
      this.announceField = false;
      if (this.field.cardId) this.sendEvent(CARD_EVENT.inserted);
    }
  }

  /** A command that arrived with a wrong CRC: BAD_CHECKSUM, unless a `hold` answers nothing now. */
  private onCorrupted(header: Buffer): void {
    if (this.holding) {
      this.holding.unanswered++;
      return;
    }
    this.nak(header);
  }

  /** BAD_CHECKSUM for a command that arrived with a wrong CRC, echoing its SEQ and CMD as received. */
  private nak(header: Buffer): void {
    const seq = header[3] as number;
    const cmd = header[4] as number;
    const name = nameOf(COMMANDS_BY_CODE.get(cmd), cmd);
    this.emit({ type: "reply", name, seq, status: "badChecksum", ins: [] });
    const raw = encodeReaderFrame(seq, cmd, ReaderStatus.badChecksum);
    void this.channel.write(raw, undefined, "nak").catch(() => {});
  }

  private sendEvent(p: number): void {
    if (this.transport.status !== "open") return;
    const raw = encodeReaderFrame(EVENT_SEQ, CARD_EVENT.code, p);
    void this.channel.write(raw, undefined, "card event").catch(() => {});
  }

  private stopWorking(): void {
    this.working?.cancel();
    this.working = undefined;
  }

  /**
   * The cable is pulled for `durationMs`: power lost (PSAMs unpowered, card deactivated), then back.
   * False when it is out already (nothing done).
   */
  private unplug(durationMs: number): boolean {
    if (this.unplugged) return false;
    this.unplugged = true;
    this.log.info({ durationMs }, "reader unplugged");
    this.stopWorking();
    this.slots.powerDown();
    this.field.powerDown();
    if (this.opts.cable) this.opts.cable.unplug();
    else void this.transport.close().catch(() => {});
    setTimeout(() => {
      this.unplugged = false;
      this.opts.cable?.replug();
      if (!this.started) return;
      this.transport
        .open()
        .then(() => {
          this.channel.resetReceiver();
          this.announceField = true;
        })
        .catch((e: unknown) => this.log.warn({ err: (e as Error).message }, "reopen after unplug failed"));
    }, durationMs);
    return true;
  }

  private emit(e: ReaderSimEvent): void {
    this.eventsSubject.next(e);
  }
}

/** The commands that need the card in the field (CARD_HALT answers OK without one). */
const NEEDS_CARD: ReadonlySet<number> = new Set([CARD_ACTIVATE.code, CARD_APDU.code, CARD_APDU_LIST.code]);

function nameOf(def: AnyReaderCommand | undefined, cmd: number): string {
  return def?.name ?? `0x${cmd.toString(16)}`;
}

/** The APDUs a card or PSAM command carries, and to which. */
function apdusOf(
  def: AnyReaderCommand,
  f: ReaderWireFrame,
): { target: "card" | "psam"; list: Buffer[] } | undefined {
  const card = def.code === CARD_APDU.code || def.code === CARD_APDU_LIST.code;
  const psam = def.code === PSAM_APDU.code || def.code === PSAM_APDU_LIST.code;
  if (!card && !psam) return undefined;
  const req = def.request.decode(f.data) as Buffer | Buffer[] | undefined;
  if (req === undefined) return undefined;
  return { target: card ? "card" : "psam", list: Array.isArray(req) ? req : [req] };
}

/** INS of the APDUs a command carries. */
function insOf(def: AnyReaderCommand | undefined, f: ReaderWireFrame): number[] {
  if (!def) return [];
  if (def.code === CARD_APDU.code || def.code === PSAM_APDU.code) {
    return f.data.length >= 2 ? [f.data[1] as number] : [];
  }
  if (def.code === CARD_APDU_LIST.code || def.code === PSAM_APDU_LIST.code) {
    const list = def.request.decode(f.data) as Buffer[] | undefined;
    return list ? list.map((a) => a[1] as number) : [];
  }
  return [];
}

export function createReaderSimulator(opts: ReaderSimulatorOptions): ReaderSimulator {
  return new ReaderSimulator(opts);
}
