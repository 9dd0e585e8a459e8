/**
 * A FramedCardReader on an in-process pair, and a hand-written device end that decodes what the host
 * writes and answers with raw frames. Use with vi.useFakeTimers(): the pair delivers on microtasks, so
 * `settle()` lets bytes cross without moving the clock.
 */
import { vi } from "vitest";
import type { Logger } from "../../firmware-bridge/log.js";
import type { ReaderLinkState } from "../../firmware-bridge/reader/card-reader.js";
import { INFO, type ReaderInfo } from "../../firmware-bridge/reader/commands.js";
import { ReaderDeframer } from "../../firmware-bridge/reader/deframer.js";
import { encodeReaderFrame, type ReaderWireFrame } from "../../firmware-bridge/reader/frame.js";
import { FramedCardReader } from "../../firmware-bridge/reader/framed-card-reader.js";
import type { ReaderOptionsInput } from "../../firmware-bridge/reader/options.js";
import { createTransportPair, type TransportPair } from "../../firmware-bridge/transport/pair.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";

export const SIM_INFO: ReaderInfo = {
  protocolVersion: 1,
  psamSlots: 2,
  maxFrameLength: 1024,
  vendor: "test",
  model: "hand",
  firmware: "0",
  serial: "1",
};

export async function settle(): Promise<void> {
  await vi.advanceTimersByTimeAsync(0);
}

export interface LogLine {
  level: string;
  obj: unknown;
  msg: string;
}

export function recordingLogger(lines: LogLine[]): Logger {
  const rec =
    (level: string) =>
    (o: object | string, m?: string): void => {
      lines.push({ level, obj: o, msg: typeof o === "string" ? o : (m ?? "") });
    };
  const l: Logger = {
    trace: rec("trace"),
    debug: rec("debug"),
    info: rec("info"),
    warn: rec("warn"),
    error: rec("error"),
    child: () => l,
    isLevelEnabled: () => true,
  };
  return l;
}

/** The device end: every host frame is recorded; INFO is answered unless `answerInfo` is false. */
export class HandDevice {
  readonly commands: ReaderWireFrame[] = [];
  answerInfo = true;
  onCommand: ((f: ReaderWireFrame) => void) | undefined;
  private readonly deframer = new ReaderDeframer();

  constructor(readonly pair: TransportPair) {
    pair.device.data$.subscribe((chunk) => {
      for (const ev of this.deframer.push(chunk, Date.now())) {
        if (ev.kind !== "frame") continue;
        this.commands.push(ev.frame);
        if (ev.frame.cmd === INFO.code && this.answerInfo) {
          this.reply(ev.frame, 0, INFO.reply.encode(SIM_INFO));
          continue;
        }
        this.onCommand?.(ev.frame);
      }
    });
  }

  /** Commands other than INFO. */
  get nonInfo(): ReaderWireFrame[] {
    return this.commands.filter((c) => c.cmd !== INFO.code);
  }

  reply(to: ReaderWireFrame, status: number, data: Buffer = Buffer.alloc(0)): void {
    this.raw(encodeReaderFrame(to.seq, to.cmd, status, data));
  }

  raw(bytes: Buffer): void {
    void this.pair.device.write(bytes).catch(() => {});
  }
}

export interface ReaderRig {
  pair: TransportPair;
  device: HandDevice;
  reader: FramedCardReader;
  states: ReaderLinkState[];
  log: LogLine[];
}

/** `wrap`: the reader's port as the driver sees it, around the pair's lane end (fault injection). */
export async function makeReaderRig(
  options: ReaderOptionsInput = {},
  open = true,
  wrap: (lane: Transport) => Transport = (t) => t,
): Promise<ReaderRig> {
  const pair = createTransportPair({ names: ["pair:lane-reader", "pair:reader"] });
  await pair.device.open();
  const device = new HandDevice(pair);
  const log: LogLine[] = [];
  const reader = new FramedCardReader({
    transport: wrap(pair.lane),
    options: { pingIntervalMs: 0, ...options },
    logger: recordingLogger(log),
    now: () => Date.now(),
    random: () => 0.5,
  });
  const states: ReaderLinkState[] = [];
  reader.state$.subscribe((s) => states.push(s));
  if (open) {
    const p = reader.open();
    await settle();
    await p;
  }
  return { pair, device, reader, states, log };
}
