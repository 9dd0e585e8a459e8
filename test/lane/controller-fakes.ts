/**
 * Fakes for the controller tests: a link whose frames carry decoded events (a pass-through codec), an
 * in-memory journal implementing the JournalPort contract (settle, intents, guard rows, open suspects),
 * and a status list whose health the test sets. Time is vitest's fake clock.
 */
import { BehaviorSubject, Subject } from "rxjs";
import { vi } from "vitest";
import { EtcError } from "../../firmware-bridge/errors.js";
import type { Frame } from "../../firmware-bridge/frames/catalogue.js";
import { DEFAULT_LEGACY_DIALECT } from "../../firmware-bridge/frames/dialect.js";
import type { WireFrame } from "../../firmware-bridge/framing/types.js";
import { JournalErrorCodes } from "../../src/journal/errors.js";
import type { CommittedRecord, NewLaneRecord } from "../../src/journal/types.js";
import { LaneController, type LaneControllerOptions } from "../../src/lane/controller.js";
import type {
  DebitIntentRow,
  GuardRow,
  JournalPort,
  Settlement,
  StatusListHealth,
  StatusListLookup,
  StatusListPort,
} from "../../src/lane/ports.js";
import type { LaneOutputEvent } from "../../src/outputs/outputs.js";
import type { RsuCodec, RsuCommand, RsuEvent, RsuStatus } from "../../src/rsu/driver.js";
import { tariff } from "./machine-fixtures.js";

/**
 * The payload of a booth debit intent as src/booth/charge.ts writes it (BoothIntentPayload, version 1), for
 * card `cardId` and OBU `obuSerial`: a booth DEBIT of 1425 fen whose answer was lost; with `tac`, one
 * whose DEBIT answered and whose record the journal did not take (`paid`).
 */
export function boothIntentPayload(cardId: string, obuSerial: string | null, tac?: string): string {
  const draft: NewLaneRecord = {
    kind: "transaction",
    outcome: "BOOTH_EXIT_DEBIT",
    obuId: obuSerial ? "a1b2c3d4" : "",
    obuSerial,
    cardId,
    cardType: 22,
    cardIssuer: "bafec4cfbafec4cf",
    cardNetwork: "4301",
    vehicleClass: 1,
    plate: "湘A12345",
    plateColor: 0,
    entry: null,
    amountDue: 1500,
    discountPercent: 5,
    amount: 1425,
    balanceBefore: 10_000,
    balanceAfter: null,
    tac: null,
    iccPaySerial: "0011",
    psamNo: "010203040506",
    psamTransSerial: "00000100",
    transTime: "20250716103000",
    transType: "09",
    algFlag: "00",
    keyVersion: "01",
    statusListVersions: { full: null, delta: null },
    tariffVersion: null,
    stageTimes: {},
    rawB4: null,
    rawB5: null,
    rsuProtocol: null,
    extra: {
      path: "booth",
      purchaseTimeMs: 1_752_633_000_000,
      booth: { case: { id: "w1", seq: null, reason: "WALK_UP" } },
    },
  };
  return JSON.stringify({
    v: 1,
    path: "booth",
    case: { id: "w1", seq: null, reason: "WALK_UP" },
    cardId,
    obuSerial,
    draft,
    prepared: {
      amount: 1425,
      transTime: "20250716103000",
      transType: 9,
      offlineSerial: 0x11,
      balanceBefore: 10_000,
      psamNo: "010203040506",
      psamTransSerial: 0x100,
    },
    mac1Ref: { session: 1 },
    process: "previous-process",
    write: {
      network: "4301",
      station: "0102",
      lane: 3,
      timeMs: 1_752_633_000_000,
      vehicleClass: 1,
      status: 4,
    },
    layout: "aa43",
    ...(tac ? { paid: { ...draft, tac, balanceAfter: 10_000 - 1425 } } : {}),
  });
}

export const RSU_OK: RsuStatus = {
  rsuStatus: 0,
  psams: [{ terminalId: "010203040506", authorised: true }],
  manuId: 1,
  rsuId: "000001",
  version: "0100",
  rebooted: false,
};

/** Frames are { type: "EV", ev } in and { type: "CMD", cmd } out: the controller's logic, not the codec's. */
export const passCodec: RsuCodec = {
  dialect: DEFAULT_LEGACY_DIALECT,
  decode: (f) => (f as unknown as { ev: RsuEvent }).ev,
  encode: (cmd) => ({ type: "CMD", cmd }) as unknown as Frame,
};

export interface Answer {
  to: RsuEvent["kind"];
  cmd: RsuCommand | "ACK";
  /** what the journal held when the answer was handed to the port */
  recordsAtReply: number;
}

export class FakeLink {
  readonly incoming$ = new Subject<{
    frame: Frame;
    wire: WireFrame;
    at: number;
    answered: boolean;
    rsuRebooted?: boolean;
    reply(f: Frame): Promise<{ at: number }>;
    ack(): Promise<{ at: number }>;
  }>();
  readonly state$ = new BehaviorSubject<{
    status: "connecting" | "up" | "down" | "stopped";
    reason?: string;
    portOpen?: boolean;
  }>({
    status: "connecting",
  });
  /** lane-initiated commands (C0, C4, ...) */
  readonly sent: RsuCommand[] = [];
  readonly answers: Answer[] = [];
  /** every command put on the wire, replies and the lane's own, in order: "reply:debit", "send:init", "antenna:off" */
  readonly wire: string[] = [];
  /** a reply this returns an error for is refused with it, as the link refuses one (nothing recorded as sent) */
  refuseReply: ((cmd: RsuCommand) => Error | undefined) | undefined;
  started = false;
  stopped = false;

  constructor(private readonly journal: FakeJournal) {}

  start(): void {
    this.started = true;
  }
  stop(): void {
    this.stopped = true;
  }
  async send(frame: Frame): Promise<{ at: number }> {
    const s = this.state$.value;
    // as RsuLink: a link down only because the RSU is silent (its port open) still sends
    if (s.status !== "up" && !s.portOpen) throw new Error("link down");
    const cmd = (frame as unknown as { cmd: RsuCommand }).cmd;
    this.sent.push(cmd);
    this.wire.push(cmd.kind === "antenna" ? `antenna:${cmd.on ? "on" : "off"}` : `send:${cmd.kind}`);
    return { at: Date.now() };
  }

  /** An RSU frame carrying `ev` (`raw`: its bytes as hex, as the record keeps them; default ffff). */
  frame(ev: RsuEvent, opts: { rebooted?: boolean; raw?: string } = {}): void {
    const answer = async (f: Frame | "ACK"): Promise<{ at: number }> => {
      const refused = f === "ACK" ? undefined : this.refuseReply?.((f as unknown as { cmd: RsuCommand }).cmd);
      if (refused) throw refused;
      inc.answered = true;
      if (f !== "ACK") this.wire.push(`reply:${(f as unknown as { cmd: RsuCommand }).cmd.kind}`);
      this.answers.push({
        to: ev.kind,
        cmd: f === "ACK" ? "ACK" : (f as unknown as { cmd: RsuCommand }).cmd,
        recordsAtReply: this.journal.records.length,
      });
      return { at: Date.now() };
    };
    const inc = {
      frame: { type: "EV", ev } as unknown as Frame,
      wire: { seq: 0x18, raw: Buffer.from(opts.raw ?? "ffff", "hex") } as unknown as WireFrame,
      at: Date.now(),
      answered: false,
      ...(opts.rebooted ? { rsuRebooted: true } : {}),
      reply: (f: Frame) => answer(f),
      ack: () => answer("ACK"),
    };
    this.incoming$.next(inc);
  }

  up(): void {
    this.state$.next({ status: "up" });
  }
  down(reason = "unplugged"): void {
    this.state$.next({ status: "down", reason });
  }
  /** The watchdog on a serial port or pty: down, the port open (firmware-bridge/link/link-supervisor.ts). */
  silent(reason = "no valid frame for 30000 ms"): void {
    this.state$.next({ status: "down", reason, portOpen: true });
  }

  inits(): number {
    return this.sent.filter((c) => c.kind === "init").length;
  }
  antenna(): boolean[] {
    return this.sent.flatMap((c) => (c.kind === "antenna" ? [c.on] : []));
  }
  answersTo(kind: RsuEvent["kind"]): (RsuCommand | "ACK")[] {
    return this.answers.filter((a) => a.to === kind).map((a) => a.cmd);
  }
}

export class FakeJournal implements JournalPort {
  records: (CommittedRecord & { revision: number; settled?: Settlement })[] = [];
  intents = new Map<number, DebitIntentRow>();
  /** lane settings (the journal's meta rows under setting.*) */
  settings = new Map<string, string>();
  nextIntent = 1;
  /** called at each commit/settle (tests check what had been sent by then) */
  onWrite: (() => void) | undefined;
  /** commits fail as the real journal's do on a full disk: health$ turns unhealthy, then E601 is thrown */
  failCommits = false;
  /** commits are refused as a record the journal will not take (E605): the journal stays healthy */
  refuseCommits = false;
  /** intent writes fail (a rewrite before C8 included) */
  failIntents = false;
  /** what intentDurable() answers: the fdatasync of the intents written so far (tests hold or fail it) */
  durable: () => Promise<boolean> = () => Promise.resolve(true);
  /** the journal's health, as the journal's health$ (tests turn it unhealthy) */
  readonly health$ = new BehaviorSubject<{ healthy: boolean; error?: { read?: true } }>({ healthy: true });

  constructor(private readonly wallNow: () => number = () => Date.now()) {}

  private failIfAsked(): void {
    if (this.refuseCommits)
      throw new EtcError(
        JournalErrorCodes.JournalRecordInvalid,
        "record invalid: tac: expected 8 hex digits",
      );
    if (!this.failCommits) return;
    if (this.health$.value.healthy) this.health$.next({ healthy: false });
    throw new EtcError(JournalErrorCodes.JournalWrite, "SQLITE_FULL: database or disk is full");
  }

  commit(rec: NewLaneRecord, opts?: { intentId?: number | undefined }): CommittedRecord {
    this.failIfAsked();
    this.onWrite?.();
    const seq = this.records.length + 1;
    const c = {
      ...structuredClone(rec),
      seq,
      tradeId: `T${seq}`,
      createdAt: new Date(this.wallNow()).toISOString(),
      lane: { network: "4301", station: "0102", lane: 3 },
      revision: 1,
    };
    this.records.push(c);
    if (opts?.intentId !== undefined) this.intents.delete(opts.intentId);
    return c;
  }

  /** called at the start of each settle (a test settles the record first, as the booth would) */
  beforeSettle?: (seq: number) => void;

  settle(seq: number, s: Settlement, opts?: { intentId?: number | undefined }): CommittedRecord {
    this.beforeSettle?.(seq);
    const r = this.records.find((x) => x.seq === seq);
    // as the journal refuses it (src/journal/records.ts): nothing changed, the journal is healthy
    if (r?.kind !== "suspect" || r.settled)
      throw new EtcError(JournalErrorCodes.JournalSettleRefused, `record ${seq} is not an open suspect`);
    this.onWrite?.();
    Object.assign(r, s.fields, { kind: s.kind, outcome: s.outcome, settled: s, revision: r.revision + 1 });
    if (opts?.intentId !== undefined) this.intents.delete(opts.intentId);
    return r;
  }

  get(seq: number): CommittedRecord | null {
    return this.records.find((x) => x.seq === seq) ?? null;
  }

  /** no suspect kept from the audit trail (the real journal's: test/audit/journal-behind.test.ts) */
  keptSuspect(_seq: number): CommittedRecord | null {
    return null;
  }

  intentDurable(): Promise<boolean> {
    return this.durable();
  }

  writeIntent(key: string, payload: string, id?: number): number {
    if (this.failIntents) throw new Error("SQLITE_FULL");
    // a rewrite of an intent that is gone is refused, as the real journal's (src/journal/intents.ts)
    if (id !== undefined && !this.intents.has(id))
      throw new EtcError(JournalErrorCodes.JournalIntentGone, `debit intent ${id} is not in the journal`);
    const i = id ?? this.nextIntent++;
    this.intents.set(i, {
      id: i,
      key,
      payload,
      createdAtMs: this.intents.get(i)?.createdAtMs ?? this.wallNow(),
    });
    return i;
  }

  openIntents(): DebitIntentRow[] {
    return [...this.intents.values()];
  }

  withdrawIntent(id: number): "deleted" | "pending" {
    this.intents.delete(id);
    return "deleted";
  }

  private rows(kind: "transaction" | "suspect", sinceMs: number): GuardRow[] {
    return this.records
      .filter((r) => r.kind === kind && !r.settled && Date.parse(r.createdAt) >= sinceMs)
      .map((r) => ({
        seq: r.seq,
        obuId: r.obuId,
        obuSerial: r.obuSerial,
        cardId: r.cardId,
        createdAtMs: Date.parse(r.createdAt),
      }));
  }

  unsettledSince(sinceMs: number): GuardRow[] {
    return this.rows("suspect", sinceMs);
  }

  tradedSince(sinceMs: number): GuardRow[] {
    return this.rows("transaction", sinceMs);
  }

  readSetting(key: string): string | null {
    return this.settings.get(key) ?? null;
  }

  writeSetting(key: string, value: string | null): void {
    this.failIfAsked();
    if (value === null) this.settings.delete(key);
    else this.settings.set(key, value);
  }

  openSuspectOf(k: { cardId?: string | null; obuSerial?: string | null }): number | null {
    const hit = this.records.find(
      (r) =>
        r.kind === "suspect" &&
        !r.settled &&
        ((k.cardId && r.cardId === k.cardId) || (k.obuSerial && r.obuSerial === k.obuSerial)),
    );
    return hit?.seq ?? null;
  }

  /**
   * as the journal's (src/journal/intents.ts): a `booth:` intent naming the card (key or payload) or the OBU
   * serial; an RSU debit's (any other key) naming them in its state's debit
   */
  openIntentOf(k: { cardId?: string | null; obuSerial?: string | null }): number | null {
    type Names = { cardId?: unknown; obuSerial?: unknown } | null | undefined;
    const names = (i: DebitIntentRow): boolean => {
      const booth = i.key.startsWith("booth:");
      if (booth && k.cardId && i.key === `booth:${k.cardId}`) return true;
      let p: Names & { state?: { debit?: { card?: Names; obu?: Names } } };
      try {
        p = JSON.parse(i.payload) as typeof p;
      } catch {
        return false;
      }
      const card = booth ? p?.cardId : p?.state?.debit?.card?.cardId;
      const obu = booth ? p?.obuSerial : p?.state?.debit?.obu?.obuSerial;
      return (!!k.cardId && card === k.cardId) || (!!k.obuSerial && obu === k.obuSerial);
    };
    return [...this.intents.values()].find(names)?.id ?? null;
  }

  findOpenSuspect(q: { obuId?: string; cardId?: string }): CommittedRecord | null {
    const hits = this.records.filter(
      (r) =>
        r.kind === "suspect" &&
        r.outcome !== "ORPHAN_B5" && // settled at the station only, as the journal's (src/journal/records.ts)
        !r.settled &&
        ((q.obuId !== undefined && r.obuId.toUpperCase() === q.obuId.toUpperCase()) ||
          (q.cardId !== undefined && r.cardId === q.cardId)),
    );
    return hits[hits.length - 1] ?? null;
  }
}

export class FakeStatusList implements StatusListPort {
  readonly health$ = new BehaviorSubject<StatusListHealth>({ state: "ok", reason: "" });
  /** the card ids and OBU contract serials the list holds */
  listed = new Set<string>();
  throws: Error | undefined;
  /** answer as a list cache with no list loaded does (noList: "not checked") */
  noList = false;

  health(): StatusListHealth {
    return this.health$.value;
  }

  lookup(q: { cardId?: string; obuId?: string }): StatusListLookup {
    if (this.throws) throw this.throws;
    if (this.noList) return { listed: false, noList: true, versions: { full: null, delta: null } };
    // as the list answers (src/status-list/lookup.ts): the card and the OBU in one lookup, the card's entry first
    const versions = { full: "f1", delta: null };
    const hit = (kind: "card" | "obu", id: string | undefined): StatusListLookup | null =>
      id !== undefined && this.listed.has(id)
        ? { listed: true, entry: { kind, id, listType: 1, listTypeName: "status", reason: "test" }, versions }
        : null;
    return hit("card", q.cardId) ?? hit("obu", q.obuId) ?? { listed: false, versions };
  }
}

export interface Rig {
  ctl: LaneController;
  link: FakeLink;
  journal: FakeJournal;
  list: FakeStatusList;
  outputs: LaneOutputEvent[];
  /** let everything queued (and the promises it started) finish */
  settle(): Promise<void>;
  /** advance the fake clock and let the queue run what the timers queued */
  advance(ms: number): Promise<void>;
  /** start the controller, bring the link up and answer its C0 with a healthy B0 (RSU_OK): the lane opens */
  open(): Promise<void>;
}

export function rig(
  over: Partial<Omit<LaneControllerOptions, "transaction">> & {
    journal?: FakeJournal;
    transaction?: Partial<LaneControllerOptions["transaction"]>;
  } = {},
): Rig {
  const journal = over.journal ?? new FakeJournal();
  const link = new FakeLink(journal);
  const list = new FakeStatusList();
  const outputs: LaneOutputEvent[] = [];
  const { transaction, ...rest } = over;
  const ctl = new LaneController({
    lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
    link,
    codec: passCodec,
    journal,
    statusList: list,
    statusListPolicy: { whenMissing: "close", whenPastHardAge: "trade" },
    tariff,
    outputs: { emit: (e) => outputs.push(e) },
    c0: { waitTime: 1, txPower: 21, pllChannelId: 0, transClass: 1, transMode: 1 },
    timing: { initTimeoutMs: 1000, initRetryMs: 3000 },
    transaction: {
      obuTimeoutMs: 2000,
      b5TimeoutMs: 1000,
      b8TimeoutMs: 1000,
      maxTripHours: 0,
      lowBattery: "warn",
      tamperByte: "ignore",
      recentTradeWindowMs: 300_000,
      repeatedB5WindowMs: 300_000,
      unsettledHoldMs: 86_400_000,
      recoveryListenMs: 800,
      drainTimeoutMs: 3000,
      ...transaction,
    },
    entryWrite: "c6",
    alreadyTradedStopType: 1,
    now: () => Date.now(),
    ...rest,
  });
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) {
      await ctl.idle();
      await Promise.resolve();
    }
  };
  return {
    ctl,
    link,
    journal,
    list,
    outputs,
    settle,
    async advance(ms: number) {
      await vi.advanceTimersByTimeAsync(ms);
      await settle();
    },
    async open() {
      await ctl.start();
      link.up();
      await settle();
      link.frame({ kind: "rsu-status", status: RSU_OK });
      await settle();
    },
  };
}
