/**
 * Reading captures back: one or more capture files (a rotated capture's files in order) as one
 * timeline of records per port and direction. `etc-lane decode --capture` and `etc-sim replay` use it.
 */
import { readFileSync } from "node:fs";
import type { Variant } from "../framing/types.js";
import { dialectFromTerms, type RecordedDialect } from "./dialect-terms.js";
import { LINKTYPE_RTAC_SERIAL, parsePcapng, RTAC_EVENT } from "./pcapng.js";

export interface CapturePort {
  readonly name: string;
  readonly description: string;
  /** from the description's "protocol=legacy|national", when it says */
  readonly protocol: Variant | undefined;
  /** the description's "protocol=..." as written ("legacy", "national", "etc-reader"), when it says */
  readonly speaks: string | undefined;
  /** the inter-byte timeout (ms) the port's deframer applied: the description's "inter-byte-ms=N", when it says */
  readonly interByteMs?: number;
  /** the largest frame the port's deframer accepted: the description's "max-frame-length=N", when it says */
  readonly maxFrameLength?: number;
  /**
   * the dialect settings the port's description records (station-length=..., ./dialect-terms.ts), when it
   * records any: the ones it does not record are the protocol's defaults
   */
  readonly dialect?: RecordedDialect;
}

export interface CaptureRecord {
  /** ms since the first record of the capture (monotonic within a capture) */
  readonly t: number;
  /** wall clock ms */
  readonly wallMs: number;
  readonly port: string;
  /** as seen by the side that captured: tx written, rx read, state a port state change */
  readonly dir: "tx" | "rx" | "state";
  readonly bytes: Buffer;
  /** for dir "state": open, closed, disconnected: why */
  readonly state?: string;
  /**
   * for dir "tx" or "rx": the block's comment, when it has one (a write that failed after its bytes may
   * have left: "write failed: why", firmware-bridge/capture/capture-transport.ts)
   */
  readonly note?: string;
}

export interface Capture {
  readonly files: string[];
  readonly ports: CapturePort[];
  readonly records: CaptureRecord[];
  /**
   * files read only up to a block whose length cannot be right or that is cut short (the process died
   * while writing), each `FILE: why`, naming the byte offset; and files cut before their section header
   * was whole (empty, ended inside it, only zero bytes: nothing in them is read), each `FILE: why`. The
   * other files are read.
   */
  readonly truncated: string[];
  /** blocks skipped, each `FILE: skipped block at byte N: why`; the blocks after them were read */
  readonly skipped: string[];
}

export function readCapture(files: string[]): Capture {
  const ports = new Map<string, CapturePort>();
  const raw: {
    us: bigint;
    port: string;
    dir: CaptureRecord["dir"];
    bytes: Buffer;
    state?: string;
    note?: string;
  }[] = [];
  const truncated: string[] = [];
  const skipped: string[] = [];
  for (const file of files) {
    let parsed: ReturnType<typeof parsePcapng>;
    try {
      parsed = parsePcapng(readFileSync(file));
    } catch (e) {
      throw new Error(`${file}: ${(e as Error).message}`);
    }
    if (parsed.truncated) truncated.push(`${file}: ${parsed.truncated}`);
    // This file's skipped blocks, in file order.
    const bad = [...parsed.skipped];
    const skip = (offset: number, why: string): void => {
      bad.push({ offset, why });
    };
    for (const i of parsed.interfaces) {
      if (ports.has(i.name)) continue;
      const m = /protocol=(legacy|national)\b/.exec(i.description);
      const speaks = /protocol=([a-z0-9-]+)/.exec(i.description)?.[1];
      const interByteMs = /(?:^|\s)inter-byte-ms=(\d+(?:\.\d+)?)(?:\s|$)/.exec(i.description)?.[1];
      const maxFrameLength = /(?:^|\s)max-frame-length=(\d+)(?:\s|$)/.exec(i.description)?.[1];
      const dialect = dialectFromTerms(i.description);
      ports.set(i.name, {
        name: i.name,
        description: i.description,
        protocol: m?.[1] as Variant | undefined,
        speaks,
        ...(interByteMs !== undefined ? { interByteMs: Number(interByteMs) } : {}),
        ...(maxFrameLength !== undefined ? { maxFrameLength: Number(maxFrameLength) } : {}),
        ...(Object.keys(dialect).length > 0 ? { dialect } : {}),
      });
    }
    for (const p of parsed.packets) {
      const dir =
        p.event === RTAC_EVENT.dataTx
          ? "tx"
          : p.event === RTAC_EVENT.dataRx
            ? "rx"
            : p.event === RTAC_EVENT.statusChange
              ? "state"
              : undefined;
      if (!dir) {
        skip(
          p.offset,
          p.event !== undefined
            ? `RTAC event type ${p.event.toString(16).padStart(2, "0")}, not one a capture writes (00, 01, 02)`
            : p.iface.linkType !== LINKTYPE_RTAC_SERIAL
              ? `interface "${p.iface.name}" has link type ${p.iface.linkType}, not RTAC serial (${LINKTYPE_RTAC_SERIAL})`
              : `${p.bytes.length} byte(s), shorter than the 12-byte RTAC serial header`,
        );
        continue;
      }
      raw.push({
        us: p.us,
        port: p.iface.name,
        dir,
        bytes: p.bytes,
        ...(dir === "state"
          ? { state: p.comment ?? "" }
          : p.comment !== undefined
            ? { note: p.comment }
            : {}),
      });
    }
    bad.sort((a, b) => a.offset - b.offset);
    for (const b of bad) skipped.push(`${file}: skipped block at byte ${b.offset}: ${b.why}`);
  }
  // Files are given in order and each is in time order; a stable sort keeps same-instant records in order.
  raw.sort((a, b) => (a.us < b.us ? -1 : a.us > b.us ? 1 : 0));
  const us0 = raw[0]?.us ?? 0n;
  const records = raw.map((r) => ({
    t: Number(r.us - us0) / 1000,
    wallMs: Number(r.us / 1000n),
    port: r.port,
    dir: r.dir,
    bytes: r.bytes,
    ...(r.state !== undefined ? { state: r.state } : {}),
    ...(r.note !== undefined ? { note: r.note } : {}),
  }));
  return { files, ports: [...ports.values()], records, truncated, skipped };
}
