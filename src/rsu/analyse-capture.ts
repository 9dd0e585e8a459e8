/**
 * A wire capture as a timeline of decoded frames: each port and direction is deframed on its own, in
 * time order, and every frame is shown the way `etc-lane decode` shows one (./analyse.ts), with the
 * time it was complete. Bytes that were not a frame and port state changes are on the timeline too.
 * The booth's card-reader port (`protocol=etc-reader`) is deframed with the reader's framing
 * (docs/reader.md): each frame named as the reader driver's wire log names it, with its fields.
 */
import type { Capture, CapturePort } from "../../firmware-bridge/capture/read-capture.js";
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import { createDeframer } from "../../firmware-bridge/framing/index.js";
import type { Deframer, DeframerEvent } from "../../firmware-bridge/framing/types.js";
import { ReaderDeframer, type ReaderDeframerEvent } from "../../firmware-bridge/reader/deframer.js";
import { READER_CAPTURE_PROTOCOL } from "../../firmware-bridge/reader/frame.js";
import { describeFrame } from "../../firmware-bridge/reader/framed-card-reader.js";
import { dataToJson } from "./analyse.js";

export interface TimelineEntry {
  /** ms since the capture's first record */
  t: number;
  /** every key of the printed object, `t` first */
  json: Record<string, unknown>;
  /** a frame decoded fully with a good checksum, or a port state change */
  complete: boolean;
}

const round3 = (ms: number): number => Math.round(ms * 1000) / 1000;

/**
 * The timeline of `cap`. `dialectFor` gives the RSU dialect of each port that is not the card reader's
 * (it may throw, e.g. for a port that does not say its protocol).
 */
export function captureTimeline(cap: Capture, dialectFor: (port: CapturePort) => Dialect): TimelineEntry[] {
  type Stream =
    | { kind: "rsu"; deframer: Deframer; d: Dialect }
    | { kind: "reader"; deframer: ReaderDeframer };
  const streams = new Map<string, Stream>();
  const readerPorts = new Set(
    cap.ports.filter((p) => p.speaks === READER_CAPTURE_PROTOCOL).map((p) => p.name),
  );
  const dialects = new Map(
    cap.ports.filter((p) => !readerPorts.has(p.name)).map((p) => [p.name, dialectFor(p)]),
  );
  const out: TimelineEntry[] = [];
  const where = (t: number, wallMs: number, port: string, dir: "tx" | "rx") => ({
    t: round3(t),
    time: new Date(wallMs).toISOString(),
    port,
    dir,
  });
  const emitRsu = (
    t: number,
    wallMs: number,
    port: string,
    dir: "tx" | "rx",
    d: Dialect,
    events: DeframerEvent[],
  ): void => {
    const at = where(t, wallMs, port, dir);
    for (const ev of events) {
      if (ev.kind === "frame") {
        const w = ev.frame;
        const header = d.variant === "national" ? { ver: w.ver, len: w.data.length } : undefined;
        const r = dataToJson(w.data, w.seq, true, d, header);
        out.push({ t, json: { ...at, ...r.json, hex: w.raw.toString("hex") }, complete: r.complete });
      } else if (ev.kind === "checksum-error") {
        out.push({
          t,
          json: {
            ...at,
            discarded: ev.candidate.toString("hex"),
            why: `${d.variant === "legacy" ? "BCC" : "CRC"} mismatch: frame says ${ev.expected.toString(16)}, bytes give ${ev.actual.toString(16)}`,
          },
          complete: false,
        });
      } else if (ev.reason !== "checksum") {
        out.push({
          t,
          json: { ...at, discarded: ev.bytes.toString("hex"), why: ev.reason },
          complete: false,
        });
      }
    }
  };
  const emitReader = (
    t: number,
    wallMs: number,
    port: string,
    dir: "tx" | "rx",
    events: ReaderDeframerEvent[],
  ): void => {
    const at = where(t, wallMs, port, dir);
    for (const ev of events) {
      if (ev.kind === "frame") {
        const f = ev.frame;
        // the lane's side was captured: tx went to the reader, rx came from it
        out.push({
          t,
          json: {
            ...at,
            reader: describeFrame(f, dir === "tx" ? "->" : "<-"),
            seq: f.seq,
            cmd: f.cmd,
            p: f.p,
            data: f.data.toString("hex"),
            hex: f.raw.toString("hex"),
          },
          complete: true,
        });
      } else {
        const why = ev.reason === "checksum" ? "CRC mismatch" : ev.reason;
        out.push({ t, json: { ...at, discarded: ev.bytes.toString("hex"), why }, complete: false });
      }
    }
  };
  let last = { t: 0, wallMs: 0 };
  for (const r of cap.records) {
    last = r;
    if (r.dir === "state") {
      out.push({
        t: r.t,
        json: { t: round3(r.t), time: new Date(r.wallMs).toISOString(), port: r.port, state: r.state },
        complete: true,
      });
      continue;
    }
    const key = `${r.port}/${r.dir}`;
    let s = streams.get(key);
    if (!s) {
      if (readerPorts.has(r.port))
        s = { kind: "reader", deframer: new ReaderDeframer({ maxFrameLength: 65_544 }) };
      else {
        const d = dialects.get(r.port) as Dialect;
        s = { kind: "rsu", deframer: createDeframer(d.variant, { maxFrameLength: 65_536 }), d };
      }
      streams.set(key, s);
    }
    if (s.kind === "rsu") emitRsu(r.t, r.wallMs, r.port, r.dir, s.d, s.deframer.push(r.bytes, r.t));
    else emitReader(r.t, r.wallMs, r.port, r.dir, s.deframer.push(r.bytes, r.t));
  }
  // Half frames still buffered at the end of the capture.
  for (const [key, s] of streams) {
    const [port, dir] = key.split("/") as [string, "tx" | "rx"];
    if (s.kind === "rsu")
      emitRsu(last.t, last.wallMs, port, dir, s.d, s.deframer.tick(Number.MAX_SAFE_INTEGER));
    else emitReader(last.t, last.wallMs, port, dir, s.deframer.tick(Number.MAX_SAFE_INTEGER));
  }
  return out;
}
