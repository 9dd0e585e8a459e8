/**
 * A simulated desktop IC card reader with PSAM slots, speaking our reader framing (docs/reader.md)
 * byte-exactly over any Transport: a serial port, a pty, an in-process pair. Its cards come from a
 * CardStore shared with the RSU simulator, so a card read at the booth is the card the RSU read over
 * DSRC, and every debit lands in the store's one ledger (path "booth").
 *
 * It runs one command at a time. 61xx/6Cxx are resolved here, on the reader side
 * (firmware-bridge/reader/t0.ts). A command arriving while a slow one is in progress gets BUSY; a
 * command that arrived with a bad CRC gets BAD_CHECKSUM echoing its SEQ and CMD. Faults (faults.ts)
 * are injected with `inject()`, from a script, or from the CLI's stdin.
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
import { exchangeResolvingT0 } from "../../firmware-bridge/reader/t0.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import type { CardStore } from "../card/card-store.js";
import type { CardCommit, SimCard } from "../card/sim-card.js";
import type { SimPsam } from "../card/sim-psam.js";
import type { LedgerEntry } from "../ledger/ledger.js";
import {
  type ApduMatch,
  matches,
  parseReaderFault,
  type ReaderFault,
  type ReaderFaultInput,
} from "./faults.js";

export interface PsamSlotSpec {
  slot: number;
  /** 12 hex digits: the PSAM terminal number. */
  terminalNo: string;
  /** First terminal transaction serial (default 1). */
  serial?: number;
  /** Answer as a T=0 PSAM (61xx / GET RESPONSE), which the reader resolves. Default true. */
  t0?: boolean;
  /** The slot starts empty. */
  absent?: boolean;
}

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
}

export type ReaderSimEvent =
  | { type: "command"; name: string; seq: number; p: number; ins: number[] }
  | { type: "reply"; name: string; seq: number; status: string; ins: number[]; note?: string }
  | { type: "card"; kind: "inserted" | "removed"; cardId: string; why?: string }
  | { type: "fault"; fault: string; detail?: string }
  | { type: "debit"; entry: LedgerEntry }
  | { type: "signal"; beepMs: number; led?: string }
  | { type: "discarded"; reason: string; bytes: number };

interface Slot {
  /** The slot's PSAM; it keeps its serial counter while it is out of the slot. */
  psam: SimPsam;
  inserted: boolean;
  /** Reset since it was inserted or since the reader powered up. */
  powered: boolean;
}

interface Outcome {
  status: number;
  data?: Buffer;
  /** Card commits made during this command, recorded once the reply is out (or lost). */
  commits: CardCommit[];
  ins: number[];
  /** A card removal to announce after the reply. */
  removed?: string;
}

type FaultState = ReaderFault & { left: number };

export const DEFAULT_SIM_PSAM: PsamSlotSpec = { slot: 1, terminalNo: "430100000099", serial: 1, t0: true };

export class ReaderSimulator {
  readonly store: CardStore;
  private readonly transport: Transport;
  private readonly channel: ReaderChannel;
  private readonly log: Logger;
  private readonly opts: ReaderSimulatorOptions;
  private readonly info: ReaderInfo;
  private readonly slots = new Map<number, Slot>();
  private readonly faults: FaultState[] = [];
  private readonly eventsSubject = new Subject<ReaderSimEvent>();
  /** What the reader does: commands, replies, card events, faults, debits. */
  readonly events$: Observable<ReaderSimEvent> = this.eventsSubject.asObservable();
  private field: { cardId: string; card: SimCard; activated: boolean; off: () => void } | undefined;
  private working: { timers: ReturnType<typeof setTimeout>[] } | undefined;
  private exchangeCommits: CardCommit[] | undefined;
  private subs: Subscription[] = [];
  private started = false;
  private unplugged = false;
  /** After a replug: tell the host about the card in the field once it talks to us again. */
  private announceField = false;
  private readonly debits: LedgerEntry[] = [];
  private led: string | undefined;

  constructor(opts: ReaderSimulatorOptions) {
    this.opts = opts;
    this.store = opts.store;
    this.transport = opts.transport;
    this.log = (opts.logger ?? silentLogger).child({ ns: "sim-reader" });
    this.channel = new ReaderChannel({
      transport: opts.transport,
      channel: "READER-SIM",
      logger: opts.logger,
      deframer: { maxFrameLength: opts.maxFrameLength ?? 1024 },
      describe: (f, dir) => describeFrame(f, dir === "->" ? "<-" : "->"),
    });
    for (const spec of opts.psams ?? [DEFAULT_SIM_PSAM]) this.setSlot(spec);
    const highest = Math.max(0, ...this.slots.keys());
    this.info = {
      protocolVersion: 1,
      psamSlots: opts.psamSlots ?? Math.max(2, highest),
      maxFrameLength: opts.maxFrameLength ?? 1024,
      vendor: opts.info?.vendor ?? "etc-sim",
      model: opts.info?.model ?? "desk-reader",
      firmware: opts.info?.firmware ?? "1.0",
      serial: opts.info?.serial ?? "SIM00001",
    };
  }

  /** Opens the transport and starts answering. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.subs = [
      this.channel.frames$.subscribe((rf) => this.onFrame(rf.frame)),
      this.channel.discards$.subscribe((d) => {
        this.emit({ type: "discarded", reason: d.reason, bytes: d.bytes.length });
        if (d.reason === "checksum" && d.header) this.nak(d.header);
      }),
    ];
    this.channel.start();
    await this.transport.open();
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    for (const t of this.working?.timers ?? []) clearTimeout(t);
    this.working = undefined;
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    this.channel.stop();
    this.field?.off();
    await this.transport.close();
    this.eventsSubject.complete();
  }

  /** The card `cardId` (from the store) enters the field; a card already there leaves first. */
  present(cardId: string): void {
    const card = this.store.get(cardId);
    if (!card) throw new Error(`card ${cardId} is not in the card store`);
    if (this.field) this.remove("another card presented");
    card.reset();
    const off = card.onCommit((c) => this.exchangeCommits?.push(c));
    this.field = { cardId, card, activated: false, off };
    this.emit({ type: "card", kind: "inserted", cardId });
    this.sendEvent(CARD_EVENT.inserted);
  }

  /** The card leaves the field (power lost: selection and any open purchase are gone). */
  remove(why?: string): void {
    const f = this.field;
    if (!f) return;
    this.field = undefined;
    f.off();
    f.card.reset();
    this.emit({ type: "card", kind: "removed", cardId: f.cardId, ...(why ? { why } : {}) });
    this.sendEvent(CARD_EVENT.removed);
  }

  /** The card in the field, if any. */
  get cardInField(): string | undefined {
    return this.field?.cardId;
  }

  /** Inject a fault (validated; see faults.ts). */
  inject(input: ReaderFaultInput | ReaderFault): void {
    const f = parseReaderFault(input);
    this.emit({ type: "fault", fault: f.kind, detail: JSON.stringify(f) });
    switch (f.kind) {
      case "noise": {
        const junk = Buffer.alloc(f.bytes);
        for (let i = 0; i < junk.length; i++) junk[i] = (i * 37 + 11) & 0xff;
        void this.channel.write(junk, undefined, "noise").catch(() => {});
        return;
      }
      case "psam-absent":
      case "psam-present": {
        const slot = this.slots.get(f.slot);
        if (!slot) {
          if (f.kind === "psam-present") this.setSlot({ ...DEFAULT_SIM_PSAM, slot: f.slot });
          return;
        }
        slot.inserted = f.kind === "psam-present";
        slot.powered = false;
        return;
      }
      case "unplug":
        this.unplug(f.durationMs);
        return;
      default:
        this.faults.push({ ...f, left: "times" in f ? f.times : 1 });
    }
  }

  /** Debits the cards made through this reader (also in the store's ledger). */
  ledger(): LedgerEntry[] {
    return [...this.debits];
  }

  /** The PSAM in `slot` (undefined when the slot is empty). */
  psam(slot: number): SimPsam | undefined {
    const s = this.slots.get(slot);
    return s?.inserted ? s.psam : undefined;
  }

  get counters() {
    return this.channel.counters;
  }

  get ledOn(): string | undefined {
    return this.led;
  }

  // ---- commands -----------------------------------------------------------------------------------

  private onFrame(f: ReaderWireFrame): void {
    const def = COMMANDS_BY_CODE.get(f.cmd);
    this.emit({
      type: "command",
      name: def?.name ?? `0x${f.cmd.toString(16)}`,
      seq: f.seq,
      p: f.p,
      ins: insOf(def, f),
    });
    if (this.working) {
      this.reply(f, def, { status: ReaderStatus.busy, commits: [], ins: [] });
      return;
    }
    if (this.take("silent")) {
      this.log.info({ seq: f.seq }, "silent fault: no reply");
      return;
    }
    if (this.take("reader-nak")) {
      this.reply(f, def, { status: ReaderStatus.badChecksum, commits: [], ins: [] });
      return;
    }
    if (!def) {
      this.reply(f, def, { status: ReaderStatus.unknownCommand, commits: [], ins: [] });
      return;
    }
    const slow = this.take("slow") as Extract<ReaderFault, { kind: "slow" }> | undefined;
    if (!slow) {
      this.reply(f, def, this.execute(def, f));
      return;
    }
    // Still working: WAIT frames until the reply, BUSY for anything else meanwhile.
    const timers: ReturnType<typeof setTimeout>[] = [];
    this.working = { timers };
    if (slow.waitEveryMs > 0) {
      for (let t = slow.waitEveryMs; t < slow.delayMs; t += slow.waitEveryMs) {
        timers.push(
          setTimeout(() => {
            const left = slow.delayMs - t;
            void this.channel
              .write(encodeReaderFrame(f.seq, WAIT.code, 0, WAIT.encode(left)), undefined, "WAIT")
              .catch(() => {});
          }, t),
        );
      }
    }
    timers.push(
      setTimeout(() => {
        for (const x of timers) clearTimeout(x);
        this.working = undefined;
        this.reply(f, def, this.execute(def, f));
      }, slow.delayMs),
    );
  }

  private execute(def: AnyReaderCommand, f: ReaderWireFrame): Outcome {
    const none: Outcome = { status: ReaderStatus.ok, commits: [], ins: [] };
    const bad: Outcome = { status: ReaderStatus.badRequest, commits: [], ins: [] };
    const req = def.request.decode(f.data);
    if (req === undefined) return bad;
    switch (def.code) {
      case INFO.code:
        return { ...none, data: INFO.reply.encode(this.info) };
      case SIGNAL.code: {
        const s = req as SignalRequest;
        if (s.led) this.led = s.led;
        this.emit({ type: "signal", beepMs: s.beepMs, ...(s.led ? { led: s.led } : {}) });
        return none;
      }
      case CARD_ACTIVATE.code: {
        const fld = this.field;
        if (!fld) return { ...none, status: ReaderStatus.noCard };
        fld.card.reset();
        fld.activated = true;
        return {
          ...none,
          data: CARD_ACTIVATE.reply.encode({ cardType: "cpu-contactless", uid: uidOf(fld.cardId), ats: ATS }),
        };
      }
      case CARD_HALT.code:
        if (this.field) {
          this.field.card.reset();
          this.field.activated = false;
        }
        return none;
      case CARD_APDU.code:
        return this.cardExchange([req as Buffer], false);
      case CARD_APDU_LIST.code: {
        const list = req as Buffer[];
        if (list.length === 0 || list.some((a) => a.length < 4)) return bad;
        return this.cardExchange(list, true);
      }
      case PSAM_RESET.code:
        return this.psamReset(f.p);
      case PSAM_APDU.code:
        return this.psamExchange(f.p, [req as Buffer], false);
      case PSAM_APDU_LIST.code: {
        const list = req as Buffer[];
        if (list.length === 0 || list.some((a) => a.length < 4)) return bad;
        return this.psamExchange(f.p, list, true);
      }
      default:
        return { ...none, status: ReaderStatus.unknownCommand };
    }
  }

  private cardExchange(apdus: Buffer[], list: boolean): Outcome {
    const fld = this.field;
    const ins = apdus.map((a) => a[1] as number);
    if (!fld) return { status: ReaderStatus.noCard, commits: [], ins };
    if (!fld.activated) return { status: ReaderStatus.cardMute, commits: [], ins };
    const commits: CardCommit[] = [];
    const results: Buffer[] = [];
    const partial = (status: number, extra: Partial<Outcome> = {}): Outcome => ({
      status,
      commits,
      ins,
      ...(list ? { data: encodeApduList(results) } : {}),
      ...extra,
    });
    this.exchangeCommits = commits;
    try {
      for (const apdu of apdus) {
        const rm = this.takeRemoval(apdu);
        if (rm) {
          if (rm.commit) exchangeResolvingT0((c) => fld.card.apdu(c), apdu);
          this.field = undefined;
          fld.off();
          fld.card.reset();
          this.emit({
            type: "card",
            kind: "removed",
            cardId: fld.cardId,
            why: `fault ${rm.commit ? "after" : "before"} INS ${hex2(apdu[1] as number)}`,
          });
          return partial(ReaderStatus.cardRemoved, { removed: fld.cardId });
        }
        const mute = this.takeMatching("card-mute", "card", apdu) as
          | Extract<ReaderFault, { kind: "card-mute" }>
          | undefined;
        if (mute) {
          if (mute.commit) exchangeResolvingT0((c) => fld.card.apdu(c), apdu);
          return partial(ReaderStatus.cardMute);
        }
        const r = exchangeResolvingT0((c) => fld.card.apdu(c), apdu);
        results.push(r);
        if (!isOk(r)) break;
      }
    } finally {
      this.exchangeCommits = undefined;
    }
    return list ? partial(ReaderStatus.ok) : { status: ReaderStatus.ok, data: results[0], commits, ins };
  }

  private takeRemoval(apdu: Buffer): { commit: boolean } | undefined {
    for (let i = 0; i < this.faults.length; i++) {
      const f = this.faults[i] as FaultState;
      let m: { commit: boolean } | undefined;
      if (f.kind === "remove-card" && matches(f.when, "card", apdu)) m = { commit: f.commit };
      else if (f.kind === "card-removed-before-debit" && apdu[1] === 0x54) m = { commit: false };
      else if (f.kind === "card-removed-after-debit" && apdu[1] === 0x54) m = { commit: true };
      if (m) {
        this.faults.splice(i, 1);
        this.emit({ type: "fault", fault: f.kind, detail: `applied at card INS ${hex2(apdu[1] as number)}` });
        return m;
      }
    }
    return undefined;
  }

  private psamReset(slotNo: number): Outcome {
    const slot = this.slots.get(slotNo);
    if (!slot?.inserted) return { status: ReaderStatus.psamAbsent, commits: [], ins: [] };
    if (this.take("psam-mute")) return { status: ReaderStatus.psamMute, commits: [], ins: [] };
    slot.psam.reset();
    slot.powered = true;
    return { status: ReaderStatus.ok, data: slot.psam.atr, commits: [], ins: [] };
  }

  private psamExchange(slotNo: number, apdus: Buffer[], list: boolean): Outcome {
    const ins = apdus.map((a) => a[1] as number);
    const slot = this.slots.get(slotNo);
    if (!slot?.inserted) return { status: ReaderStatus.psamAbsent, commits: [], ins };
    const psam = slot.psam;
    if (!slot.powered || this.take("psam-mute")) return { status: ReaderStatus.psamMute, commits: [], ins };
    const results: Buffer[] = [];
    for (const apdu of apdus) {
      const err = this.takeMatching("psam-error", "psam", apdu) as
        | Extract<ReaderFault, { kind: "psam-error" }>
        | undefined;
      const r = err ? Buffer.from(err.sw, "hex") : exchangeResolvingT0((c) => psam.apdu(c), apdu);
      results.push(r);
      if (!isOk(r)) break;
    }
    return list
      ? { status: ReaderStatus.ok, data: encodeApduList(results), commits: [], ins }
      : { status: ReaderStatus.ok, data: results[0], commits: [], ins };
  }

  // ---- replies ------------------------------------------------------------------------------------

  private reply(f: ReaderWireFrame, def: AnyReaderCommand | undefined, o: Outcome): void {
    let raw = encodeReaderFrame(f.seq, f.cmd, o.status, o.data ?? Buffer.alloc(0));
    const notes: string[] = [];
    if (this.take("bad-checksum")) {
      raw = Buffer.from(raw);
      const at = raw.length - 3;
      raw[at] = (raw[at] as number) ^ 0x5a;
      notes.push("bad-checksum");
    }
    const garble = this.take("garble") as Extract<ReaderFault, { kind: "garble" }> | undefined;
    if (garble) {
      raw = Buffer.from(raw);
      if (garble.mode === "noise") {
        raw = Buffer.concat([Buffer.from([0x02, 0x00, 0x55, 0xaa, 0x03]), raw]);
        notes.push("garble-noise");
      } else {
        for (let i = 6; i < raw.length - 1; i += 5) raw[i] = (raw[i] as number) ^ 0xa5;
        raw[3] = (raw[3] as number) ^ 0x01;
        notes.push("garble-bytes");
      }
    }
    // Garbled by bytes, or a wrong CRC: the host never gets this answer.
    const intact = !notes.includes("bad-checksum") && !notes.includes("garble-bytes");
    const note = notes.join(",") || undefined;
    this.emit({
      type: "reply",
      name: def?.name ?? `0x${f.cmd.toString(16)}`,
      seq: f.seq,
      status: statusName(o.status),
      ins: o.ins,
      ...(note ? { note } : {}),
    });
    const frame = { seq: f.seq, cmd: f.cmd, p: o.status, data: o.data ?? Buffer.alloc(0), raw };
    const delivered = o.status === ReaderStatus.ok && intact && !this.unplugged;
    for (const c of o.commits) {
      const entry = this.store.recordBoothDebit(c, { outcome: delivered ? "done" : "torn-after-debit" });
      this.debits.push(entry);
      this.emit({ type: "debit", entry });
    }
    void this.channel
      .write(raw, frame, note)
      .catch((e: unknown) => this.log.info({ err: String(e) }, "reply not sent"));
    if (o.removed) this.sendEvent(CARD_EVENT.removed);
    if (this.announceField) {
      // A replugged reader reports the card in its field after its first reply (the host is listening).
      this.announceField = false;
      if (this.field) this.sendEvent(CARD_EVENT.inserted);
    }
  }

  /** BAD_CHECKSUM for a command that arrived with a wrong CRC, echoing its SEQ and CMD as received. */
  private nak(header: Buffer): void {
    const seq = header[3] as number;
    const cmd = header[4] as number;
    this.emit({
      type: "reply",
      name: COMMANDS_BY_CODE.get(cmd)?.name ?? `0x${cmd.toString(16)}`,
      seq,
      status: "badChecksum",
      ins: [],
    });
    void this.channel
      .write(encodeReaderFrame(seq, cmd, ReaderStatus.badChecksum), undefined, "nak")
      .catch(() => {});
  }

  private sendEvent(p: number): void {
    if (this.transport.status !== "open") return;
    void this.channel
      .write(encodeReaderFrame(EVENT_SEQ, CARD_EVENT.code, p), undefined, "card event")
      .catch(() => {});
  }

  // ---- faults -------------------------------------------------------------------------------------

  private take(kind: ReaderFault["kind"]): FaultState | undefined {
    const i = this.faults.findIndex((f) => f.kind === kind);
    if (i < 0) return undefined;
    return this.consume(i);
  }

  private takeMatching(
    kind: "card-mute" | "psam-error",
    target: "card" | "psam",
    apdu: Buffer,
  ): FaultState | undefined {
    const i = this.faults.findIndex(
      (f) => f.kind === kind && matches((f as { when: ApduMatch }).when, target, apdu),
    );
    if (i < 0) return undefined;
    return this.consume(i);
  }

  private consume(i: number): FaultState {
    const f = this.faults[i] as FaultState;
    f.left--;
    if (f.left <= 0) this.faults.splice(i, 1);
    this.emit({ type: "fault", fault: f.kind, detail: "applied" });
    return f;
  }

  private setSlot(spec: PsamSlotSpec): void {
    const psam = this.store.createPsam(spec.terminalNo, { serial: spec.serial ?? 1, t0: spec.t0 ?? true });
    this.slots.set(spec.slot, { psam, inserted: spec.absent !== true, powered: false });
  }

  private unplug(durationMs: number): void {
    if (this.unplugged) return;
    this.unplugged = true;
    this.log.info({ durationMs }, "reader unplugged");
    for (const t of this.working?.timers ?? []) clearTimeout(t);
    this.working = undefined;
    for (const s of this.slots.values()) s.powered = false;
    if (this.field) {
      this.field.activated = false;
      this.field.card.reset();
    }
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
  }

  private emit(e: ReaderSimEvent): void {
    this.eventsSubject.next(e);
  }
}

const ATS = Buffer.from("0578807002", "hex");

/** A 4-byte UID derived from the card id (stable per card). */
function uidOf(cardId: string): Buffer {
  return Buffer.from(cardId.slice(-8), "hex");
}

function isOk(r: Buffer): boolean {
  return r.length >= 2 && r[r.length - 2] === 0x90 && r[r.length - 1] === 0x00;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

function insOf(def: AnyReaderCommand | undefined, f: ReaderWireFrame): number[] {
  if (!def) return [];
  if (def.code === CARD_APDU.code || def.code === PSAM_APDU.code)
    return f.data.length >= 2 ? [f.data[1] as number] : [];
  if (def.code === CARD_APDU_LIST.code || def.code === PSAM_APDU_LIST.code) {
    const list = def.request.decode(f.data) as Buffer[] | undefined;
    return list ? list.map((a) => a[1] as number) : [];
  }
  return [];
}

/** Observable helper for tests: resolves with the first event matching `pred`. */
export function nextEvent(
  sim: ReaderSimulator,
  pred: (e: ReaderSimEvent) => boolean,
): Promise<ReaderSimEvent> {
  return new Promise((resolve, reject) => {
    const sub = sim.events$.subscribe({
      next: (e) => {
        if (!pred(e)) return;
        queueMicrotask(() => sub.unsubscribe());
        resolve(e);
      },
      complete: () => reject(new Error("reader simulator stopped")),
    });
  });
}

export function createReaderSimulator(opts: ReaderSimulatorOptions): ReaderSimulator {
  return new ReaderSimulator(opts);
}
