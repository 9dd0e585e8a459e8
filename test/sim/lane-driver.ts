/**
 * The lane side for simulator tests: a plain FrameChannel on the other end of the transport, answering
 * frames the way the test says, with `expectFrame`-style waits (never sleeps as synchronisation).
 */
import type { Frame, FrameOf, LegacyFrame, NationalFrame } from "../../firmware-bridge/frames/catalogue.js";
import { isHeartbeat } from "../../firmware-bridge/frames/catalogue.js";
import {
  type Dialect,
  defaultDialect,
  toBcdDateTime,
  toCardUnix,
  toWireUnix,
} from "../../firmware-bridge/frames/dialect.js";
import type { Variant } from "../../firmware-bridge/framing/types.js";
import { FrameChannel, type ReceivedFrame } from "../../firmware-bridge/link/frame-channel.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";

type AnyFrame = Frame & Record<string, unknown>;

export interface Got<T extends string = string> extends ReceivedFrame {
  frame: FrameOf<LegacyFrame | NationalFrame, T> & AnyFrame;
}

export class LaneDriver {
  readonly ch: FrameChannel;
  readonly dialect: Dialect;
  readonly received: ReceivedFrame[] = [];
  private readonly queue: ReceivedFrame[] = [];
  private waiters: { pred: (r: ReceivedFrame) => boolean; resolve: (r: ReceivedFrame) => void }[] = [];
  /** Each OBU's divisor factor (its issuer's first 4 bytes twice, docs/protocol.md §8), from its B2. */
  private readonly divFactors = new Map<string, string>();
  /** Auto-answer nothing; tests decide. */
  constructor(
    readonly transport: Transport,
    readonly variant: Variant,
  ) {
    this.dialect = defaultDialect(variant);
    this.ch = new FrameChannel({
      transport,
      dialect: this.dialect,
      receives: "rsu-to-lane",
      channel: "TEST-LANE",
    });
    this.ch.frames$.subscribe((r) => {
      this.received.push(r);
      const f = r.frame as AnyFrame;
      if (f.type === "B2" && typeof f.issuerIdentifier === "string" && typeof f.obuId === "string") {
        const head = f.issuerIdentifier.slice(0, 8);
        this.divFactors.set(f.obuId, `${head}${head}`);
      }
      const i = this.waiters.findIndex((w) => w.pred(r));
      if (i >= 0) {
        const [w] = this.waiters.splice(i, 1);
        w?.resolve(r);
      } else {
        this.queue.push(r);
      }
    });
  }

  async open(): Promise<void> {
    this.ch.start();
    if (this.transport.status !== "open") await this.transport.open();
  }

  close(): void {
    this.ch.stop();
  }

  /**
   * The next not-yet-consumed frame of `type`; "HB" is a heartbeat as this lane's variant judges it
   * (legacy B2 OBUID 0 ErrorCode 0x80/0x08, national B1), and a type never matches a heartbeat.
   */
  expectFrame<T extends string>(
    type: T,
    timeoutMs = 2000,
    pred: (f: AnyFrame) => boolean = () => true,
  ): Promise<Got<T>> {
    const match = (r: ReceivedFrame): boolean =>
      (type === "HB"
        ? isHeartbeat(r.frame, this.variant)
        : r.frame.type === type && !isHeartbeat(r.frame, this.variant)) && pred(r.frame as AnyFrame);
    const i = this.queue.findIndex(match);
    if (i >= 0) {
      const [r] = this.queue.splice(i, 1);
      return Promise.resolve(r as Got<T>);
    }
    return new Promise<Got<T>>((resolve, reject) => {
      const w = {
        pred: match,
        resolve: (r: ReceivedFrame) => {
          clearTimeout(timer);
          resolve(r as Got<T>);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        const seen = this.received.map((r) => r.frame.type).join(" ");
        reject(new Error(`expected ${type} within ${timeoutMs} ms; frames so far: ${seen || "none"}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Drop everything received so far that nobody waited for. */
  drain(): ReceivedFrame[] {
    return this.queue.splice(0);
  }

  /** Reply to `to` (swapped RSCTL/SEQ), or start a lane frame (0x80 / 0x10). */
  async send(frame: Frame, to?: ReceivedFrame | number): Promise<void> {
    const seq =
      typeof to === "number" ? to : to ? swap(to.wire.seq) : this.variant === "legacy" ? 0x80 : 0x10;
    await this.ch.send(frame, seq);
  }

  c0(now = Date.now(), laneMode = 4): Frame {
    const base = {
      type: "C0",
      unixTime: toWireUnix(this.dialect, now),
      dateTime: toBcdDateTime(this.dialect, now),
      laneMode,
    };
    if (this.variant === "legacy") {
      return { ...base, waitTime: 0, txPower: 0x15, pllChannelId: 0, transClass: 1 } as Frame;
    }
    return {
      ...base,
      bstInterval: 10,
      txPower: 0x15,
      pllChannelId: 1,
      transMode: 1,
      flagId: "000000",
      reserved: "0000",
    } as Frame;
  }

  /** C1 with the OBU issuer's divisor factor, from that OBU's B2 (zeros for an OBU never seen). */
  c1(obuId: string, divFactor = this.divFactors.get(obuId) ?? "00".repeat(8)): Frame {
    return { type: "C1", obuId, obuDivFactor: divFactor } as Frame;
  }

  c2(obuId: string, stopType = 1): Frame {
    return { type: "C2", obuId, stopType } as Frame;
  }

  c4(on: boolean): Frame {
    return { type: "C4", controlType: on ? 1 : 0 } as Frame;
  }

  /** TAC only, in both variants OBUID + EpSerial (national: no EF04CmdType, as the lane sends it). */
  c8(obuId: string, epSerial: number): Frame {
    return { type: "C8", obuId, epSerial } as Frame;
  }

  /** C6 for the card in a B4: exit at `station` with `amount` fen. */
  c6(b4: AnyFrame, amount: number, purchaseTime: string, station = "0201", lane = 3): Frame {
    const info = b4.issuerInfo as Record<string, unknown>;
    const issuer = info.issuerId as string;
    const div = `${issuer.slice(0, 8)}${issuer.slice(0, 8)}`;
    const rec = {
      network: info.cardNetwork as string,
      station,
      lane,
      time: toCardUnix(this.dialect, Date.UTC(2025, 0, 2, 4, 0, 0)),
      vehicleClass: info.vehicleClass as number,
      status: 0x04,
      flagStations: "00".repeat(9),
      collectorId: "000000",
      shift: 1,
      plate: info.plate as string,
      reserved: "00000000",
    };
    if (this.variant === "legacy") {
      return {
        type: "C6",
        obuId: b4.obuId,
        cardDivFactor: div,
        transSerial: 0,
        consumeMoney: amount,
        purchaseTime,
        station: rec,
      } as Frame;
    }
    return {
      type: "C6",
      obuId: b4.obuId,
      obuDivFactor: div,
      obuTradeType: 2,
      consumeMoney: amount,
      purchaseTime,
      station: { applicationType: 0xaa, recordLength: 0x29, lockFlag: 0, ...rec },
      ef04Info: "00".repeat(91),
    } as Frame;
  }

  /** Initialise and open the antenna: C0 -> B0, answer B0, C4 01. Returns the B0. */
  async init(): Promise<Got<"B0">> {
    await this.send(this.c0());
    const b0 = await this.expectFrame("B0");
    await this.send({ type: "ACK" }, b0);
    await this.send(this.c4(true));
    return b0;
  }
}

export function swap(seq: number): number {
  return ((seq & 0x0f) << 4) | ((seq >> 4) & 0x0f);
}

/**
 * A well-behaved exit lane: C1 to B2/B3, C6 of `amount` to B4, C1 to B5/B8, C2 to error frames.
 * Returns an unsubscribe function.
 */
export function autoExitLane(
  lane: LaneDriver,
  amount: number,
  purchaseTime = "20250102100005",
  opts: { reinitOnRebootB0?: boolean; c0Time?: number } = {},
): () => void {
  const sub = lane.ch.frames$.subscribe((r) => {
    const f = r.frame as Frame & Record<string, unknown>;
    if (isHeartbeat(f, lane.variant) || f.type === "ACK") return;
    const obuId = f.obuId as string | undefined;
    const rebootSeq = lane.variant === "legacy" ? 0x98 : 0x01;
    if (f.type === "B0" && opts.reinitOnRebootB0 && r.wire.seq === rebootSeq) {
      // What a real lane does with a power-on B0: initialise again.
      void lane.send(lane.c0(opts.c0Time));
    } else if (f.type === "B0") {
      void lane
        .send({ type: "ACK" }, r)
        .then(() => (opts.reinitOnRebootB0 ? lane.send(lane.c4(true)) : undefined));
    } else if (!obuId) return;
    else if (f.errorCode !== 0) void lane.send(lane.c2(obuId, 1), r);
    else if (f.type === "B2" || f.type === "B3") void lane.send(lane.c1(obuId), r);
    else if (f.type === "B4") void lane.send(lane.c6(f, amount, purchaseTime), r);
    else if (f.type === "B5" || f.type === "B8") void lane.send(lane.c1(obuId), r);
  });
  return () => sub.unsubscribe();
}
