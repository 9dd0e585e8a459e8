/**
 * A lane-side RsuLink on an in-process pair, and a hand-written device side that writes raw encoded
 * frames and decodes what the lane sends. Use with vi.useFakeTimers(): the pair delivers on microtasks,
 * so `settle()` (advance 0 ms) lets bytes cross without moving the clock.
 */
import { BehaviorSubject, Subject } from "rxjs";
import { afterEach, beforeEach, vi } from "vitest";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { decodeData, type Frame } from "../../firmware-bridge/frames/catalogue.js";
import {
  DEFAULT_LEGACY_DIALECT,
  type Dialect,
  defaultDialect,
} from "../../firmware-bridge/frames/dialect.js";
import { createDeframer } from "../../firmware-bridge/framing/index.js";
import { encodeLegacy } from "../../firmware-bridge/framing/legacy.js";
import { encodeNational } from "../../firmware-bridge/framing/national.js";
import type { Variant } from "../../firmware-bridge/framing/types.js";
import type { RsuLinkOptionsInput } from "../../firmware-bridge/link/options.js";
import { type LinkState, RsuLink } from "../../firmware-bridge/link/rsu-link.js";
import type { Logger } from "../../firmware-bridge/log.js";
import {
  createTransportPair,
  type PairOptions,
  type TransportPair,
} from "../../firmware-bridge/transport/pair.js";
import type {
  Transport,
  TransportKind,
  TransportState,
  TransportStatus,
} from "../../firmware-bridge/transport/types.js";

export interface LaneWrite {
  seq: number;
  frame: Frame;
  hex: string;
  at: number;
}

export interface Rig {
  pair: TransportPair;
  link: RsuLink;
  dialect: Dialect;
  /** Every frame the lane wrote, decoded on the device side. */
  laneWrites: LaneWrite[];
  states: LinkState[];
  warnings: string[];
  /** Device writes one raw frame: `data` hex (type byte first), `seq` RSCTL/SEQ. */
  rsu(seq: number, dataHex: string): Promise<void>;
  /** Device writes raw bytes as they are. */
  raw(bytes: Buffer): Promise<void>;
}

export function frameBytes(variant: Variant, seq: number, dataHex: string): Buffer {
  const data = Buffer.from(dataHex.replace(/\s/g, ""), "hex");
  return variant === "legacy" ? encodeLegacy(seq, data) : encodeNational(seq, data);
}

/** Let queued microtasks (pair deliveries, write promises) run without moving the clock. */
export async function settle(): Promise<void> {
  await vi.advanceTimersByTimeAsync(0);
}

export function recordingLogger(warnings: string[]): Logger {
  const noop = (): void => {};
  const l: Logger = {
    trace: noop,
    debug: noop,
    info: noop,
    warn: (o, m) => warnings.push(typeof o === "string" ? o : (m ?? "")),
    error: (o, m) => warnings.push(typeof o === "string" ? o : (m ?? "")),
    child: () => l,
  };
  return l;
}

export async function makeRig(
  variant: Variant,
  options: RsuLinkOptionsInput = {},
  pairOptions: PairOptions = {},
  start = true,
  dialect: Dialect = defaultDialect(variant),
): Promise<Rig> {
  const pair = createTransportPair(pairOptions);
  const warnings: string[] = [];
  const link = new RsuLink({
    transport: pair.lane,
    dialect,
    options,
    now: () => Date.now(),
    random: () => 0.5, // jitter factor exactly 1: delays are the nominal backoff
    logger: recordingLogger(warnings),
  });
  const laneWrites: LaneWrite[] = [];
  const deframer = createDeframer(variant);
  pair.device.data$.subscribe((chunk) => {
    for (const ev of deframer.push(chunk, Date.now())) {
      if (ev.kind !== "frame") continue;
      const r = decodeData(ev.frame.data, dialect);
      if (!r.ok) throw r.error;
      laneWrites.push({
        seq: ev.frame.seq,
        frame: r.frame,
        hex: ev.frame.raw.toString("hex"),
        at: Date.now(),
      });
    }
  });
  const states: LinkState[] = [];
  link.state$.subscribe((s) => states.push(s));
  await pair.device.open();
  if (start) {
    await link.start();
  }
  return {
    pair,
    link,
    dialect,
    laneWrites,
    states,
    warnings,
    async rsu(seq, dataHex) {
      await pair.device.write(frameBytes(variant, seq, dataHex));
    },
    async raw(bytes) {
      await pair.device.write(bytes);
    },
  };
}

/**
 * A scripted transport: `respond` runs synchronously inside write(), before the write resolves, and may
 * push bytes back at once; `writeDelayMs` delays the write's resolution; `failWrites` rejects them; `hangOpen` never resolves open();
 * `kind` plays a medium ("tcp", "serial").
 */
export class ScriptedTransport implements Transport {
  readonly name = "scripted:rsu";
  /** The medium it plays (the link's reconnect policy depends on it); default: none given. */
  kind: TransportKind | undefined;
  readonly data = new Subject<Buffer>();
  readonly stateS = new BehaviorSubject<TransportState>({ status: "closed" });
  readonly data$ = this.data.asObservable();
  readonly state$ = this.stateS.asObservable();
  respond: ((bytes: Buffer) => void) | undefined;
  writeDelayMs = 0;
  /**
   * While set, every write is rejected with this error after the port took it (a stuck tx path: the port
   * stays open, the bytes may or may not be out), as the serial transport's failed write or drain is.
   */
  failWrites: EtcError | undefined;
  hangOpen = false;
  opens = 0;
  get status(): TransportStatus {
    return this.stateS.value.status;
  }
  open(): Promise<void> {
    this.opens++;
    if (this.hangOpen) return new Promise(() => {});
    this.stateS.next({ status: "open" });
    return Promise.resolve();
  }
  write(bytes: Buffer): Promise<void> {
    if (this.status !== "open") return Promise.reject(new EtcError(ErrorCodes.PortClosed, "closed"));
    this.respond?.(bytes);
    if (this.failWrites) return Promise.reject(this.failWrites);
    if (this.writeDelayMs === 0) return Promise.resolve();
    return new Promise((r) => setTimeout(r, this.writeDelayMs));
  }
  async close(): Promise<void> {
    if (this.status !== "closed") this.stateS.next({ status: "closed" });
  }
}

/** A C0 the lane sends, per variant (the link's own frames the tests send). */
export const C0_FRAME = {
  legacy: {
    type: "C0",
    unixTime: 0,
    dateTime: "20250101000000",
    laneMode: 4,
    waitTime: 1,
    txPower: 10,
    pllChannelId: 1,
    transClass: 0,
  } as Frame,
  national: {
    type: "C0",
    unixTime: 0,
    dateTime: "20250101000000",
    laneMode: 4,
    bstInterval: 10,
    txPower: 10,
    pllChannelId: 1,
    transMode: 1,
    flagId: "000000",
    reserved: "0000",
  } as Frame,
};

// Frame payloads (DATA, type byte first) the device side writes.
export const L = {
  /** legacy B2 OBU information, OBUID 01020304, ErrorCode 0 */
  b2: "b2 01020304 00",
  b2Other: "b2 0a0b0c0d 00",
  heartbeat80: "b2 00000000 80",
  heartbeat08: "b2 00000000 08",
  /** legacy B0: status 0, 1 PSAM, two terminal ids, alg, manu, rsuId, version */
  b0: "b0 00 01 010203040506 000000000000 00 01 aabbcc 0102",
};
export const N = {
  b2: "b2 01020304 00",
  /** national B1 heartbeat: master OK, standby OK, link OK, no PSAM on either, no antenna */
  b1: "b1 00 02 00 00 00 00 00",
  b0: "b0 00 01 01 01 00 010203040506 00 01 aabbcc 0102 00 000000 00000000",
};

/**
 * Fake timers for each test of the calling file; after each test the links it made with `rig()` (a rig of
 * makeRig) and `scriptedLink()` (a link on a ScriptedTransport, legacy unless a dialect is given) are stopped, then real timers return.
 */
export function linksPerTest(): {
  rig: (...args: Parameters<typeof makeRig>) => Promise<Rig>;
  scriptedLink: (t: ScriptedTransport, options?: RsuLinkOptionsInput, dialect?: Dialect) => RsuLink;
} {
  const rigs: Rig[] = [];
  const links: RsuLink[] = [];
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(async () => {
    for (const r of rigs.splice(0)) await r.link.stop();
    for (const l of links.splice(0)) await l.stop();
    vi.useRealTimers();
  });
  return {
    rig: async (...args) => {
      const r = await makeRig(...args);
      rigs.push(r);
      return r;
    },
    scriptedLink: (t, options = {}, dialect = DEFAULT_LEGACY_DIALECT) => {
      const link = new RsuLink({
        transport: t,
        dialect,
        options,
        now: () => Date.now(),
      });
      links.push(link);
      return link;
    },
  };
}
