/**
 * The frame log: every frame in and out of the simulated RSU, one JSON line each, with a monotonic
 * timestamp, direction, raw hex and the decoded form (frameToJson, as `etc-lane decode` prints it).
 * Injected faults (garbled bytes, bad checksums, duplicates, noise) and illegal lane frames are marked,
 * so an integration tester can read what the lane under test did wrong.
 *
 * `t` is always the first key: strip it and two runs of the same scenario and seed compare equal.
 */
import { closeSync, openSync, writeSync } from "node:fs";

export interface FrameLogRecord {
  /** ms since the simulator started (monotonic). */
  t: number;
  dir: "rx" | "tx";
  hex: string;
  /** Decoded frame (frameToJson), absent for bytes that are not a frame. */
  frame?: Record<string, unknown>;
  /**
   * tx: "retransmit", "duplicate", "garbled", "bad-checksum", "noise", "power-on"; rx: problems. The resend
   * a C2 stop type 2 asks for is a new frame (new RSCTL/SEQ) with no note; the C2's `handling` says
   * "resend current frame".
   */
  note?: string;
  /** rx: what the RSU did with it when it was not a normal step ("illegal in mode wait-b4", "wrong OBU"...). */
  handling?: string;
  /** RSU mode when the frame went out / came in. */
  mode?: string;
}

export interface FrameLogSink {
  write(rec: FrameLogRecord): void;
  close(): void;
}

/** Serialise with `t` first and fixed decimals so logs diff cleanly. */
export function frameLogLine(rec: FrameLogRecord): string {
  const { t, ...rest } = rec;
  return JSON.stringify({ t: Math.round(t * 1000) / 1000, ...rest });
}

export function fileFrameLog(path: string): FrameLogSink {
  let fd: number | undefined = openSync(path, "a");
  return {
    write(rec) {
      if (fd !== undefined) writeSync(fd, `${frameLogLine(rec)}\n`);
    },
    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

export function memoryFrameLog(): FrameLogSink & { records: FrameLogRecord[] } {
  const records: FrameLogRecord[] = [];
  return { records, write: (r) => void records.push(r), close: () => {} };
}
