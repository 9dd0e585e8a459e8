/**
 * A wire capture as a timeline of decoded frames: each port and direction is deframed on its own, in
 * time order, and every frame is shown the way `etc-lane decode` shows one (./analyse.ts), with the
 * time it was complete. Bytes that were not a frame and port state changes are on the timeline too.
 */
import type { Capture, CapturePort } from "../../firmware-bridge/capture/read-capture.js";
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import { createDeframer } from "../../firmware-bridge/framing/index.js";
import type { Deframer, DeframerEvent } from "../../firmware-bridge/framing/types.js";
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

export function captureTimeline(cap: Capture, dialectFor: (port: CapturePort) => Dialect): TimelineEntry[] {
  const streams = new Map<string, { deframer: Deframer; d: Dialect }>();
  const dialects = new Map(cap.ports.map((p) => [p.name, dialectFor(p)]));
  const out: TimelineEntry[] = [];
  const emit = (
    t: number,
    wallMs: number,
    port: string,
    dir: "tx" | "rx",
    d: Dialect,
    events: DeframerEvent[],
  ): void => {
    const where = { t: round3(t), time: new Date(wallMs).toISOString(), port, dir };
    for (const ev of events) {
      if (ev.kind === "frame") {
        const w = ev.frame;
        const header = d.variant === "national" ? { ver: w.ver, len: w.data.length } : undefined;
        const r = dataToJson(w.data, w.seq, true, d, header);
        out.push({ t, json: { ...where, ...r.json, hex: w.raw.toString("hex") }, complete: r.complete });
      } else if (ev.kind === "checksum-error") {
        out.push({
          t,
          json: {
            ...where,
            discarded: ev.candidate.toString("hex"),
            why: `${d.variant === "legacy" ? "BCC" : "CRC"} mismatch: frame says ${ev.expected.toString(16)}, bytes give ${ev.actual.toString(16)}`,
          },
          complete: false,
        });
      } else if (ev.reason !== "checksum") {
        out.push({
          t,
          json: { ...where, discarded: ev.bytes.toString("hex"), why: ev.reason },
          complete: false,
        });
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
      const d = dialects.get(r.port) as Dialect;
      s = { deframer: createDeframer(d.variant, { maxFrameLength: 65_536 }), d };
      streams.set(key, s);
    }
    emit(r.t, r.wallMs, r.port, r.dir, s.d, s.deframer.push(r.bytes, r.t));
  }
  // Half frames still buffered at the end of the capture.
  for (const [key, s] of streams) {
    const [port, dir] = key.split("/") as [string, "tx" | "rx"];
    emit(last.t, last.wallMs, port, dir, s.d, s.deframer.tick(Number.MAX_SAFE_INTEGER));
  }
  return out;
}
