/**
 * Offline analysis of captured bytes: find every frame in a byte run, report checksum failures
 * (still decoding what can be decoded) and discarded bytes. Used by `etc-lane decode` and by the
 * simulator's frame log, so both print frames the same way.
 */
import { decodeData, type Frame } from "../../firmware-bridge/frames/catalogue.js";
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import { decodeObuStatus } from "../../firmware-bridge/frames/obu-status.js";
import { createDeframer } from "../../firmware-bridge/framing/index.js";

export type DecodedLine =
  | { kind: "frame"; json: Record<string, unknown> }
  | { kind: "problem"; message: string };

/** Derived, human-friendly values printed beside the wire fields (never needed to re-encode). */
export function derivedFields(f: Frame): Record<string, unknown> | undefined {
  if (f.type === "B2" && typeof f.obuStatus === "number")
    return { obuStatusBits: decodeObuStatus(f.obuStatus) };
  if (f.type === "B4" && f.issuerInfo)
    return { cardNo: `${f.issuerInfo.cardNetwork}${f.issuerInfo.cardSerial}` };
  return undefined;
}

export function frameToJson(f: Frame, seq: number, checksumOk: boolean): Record<string, unknown> {
  const { type, ...fields } = f as Frame & Record<string, unknown>;
  const derived = derivedFields(f);
  return { type, seq, checksumOk, ...fields, ...(derived ? { derived } : {}) };
}

/** DATA of a candidate whose checksum failed, so its fields can still be shown. */
function candidateData(candidate: Buffer, d: Dialect): { seq: number; data: Buffer } | undefined {
  if (d.variant === "national") {
    if (candidate.length < 10) return undefined;
    return { seq: candidate[3] as number, data: candidate.subarray(8, candidate.length - 2) };
  }
  const body: number[] = [];
  for (let i = 2; i < candidate.length - 1; i++) {
    const b = candidate[i] as number;
    if (b === 0xfe && i + 1 < candidate.length - 1) {
      body.push(candidate[i + 1] === 0x01 ? 0xff : 0xfe);
      i++;
    } else body.push(b);
  }
  if (body.length < 2) return undefined;
  return { seq: body[0] as number, data: Buffer.from(body.slice(1, -1)) };
}

export function decodeFrameBytes(bytes: Buffer, d: Dialect, where = "input"): DecodedLine[] {
  const deframer = createDeframer(d.variant, { maxFrameLength: 4096 });
  const events = [...deframer.push(bytes, 0), ...deframer.tick(Number.MAX_SAFE_INTEGER)];
  const out: DecodedLine[] = [];
  for (const ev of events) {
    if (ev.kind === "frame") {
      const r = decodeData(ev.frame.data, d);
      if (r.ok) out.push({ kind: "frame", json: frameToJson(r.frame, ev.frame.seq, true) });
      else
        out.push({
          kind: "problem",
          message: `${where}: ${r.error.message} (frame ${ev.frame.raw.toString("hex")})`,
        });
    } else if (ev.kind === "checksum-error") {
      const what = d.variant === "legacy" ? "BCC" : "CRC";
      out.push({
        kind: "problem",
        message: `${where}: ${what} mismatch: frame says ${ev.expected.toString(16).padStart(2, "0")}, bytes give ${ev.actual.toString(16).padStart(2, "0")} (${ev.candidate.toString("hex")})`,
      });
      const c = candidateData(ev.candidate, d);
      if (c) {
        const r = decodeData(c.data, d);
        if (r.ok) out.push({ kind: "frame", json: frameToJson(r.frame, c.seq, false) });
      }
    } else {
      const why = ev.reason === "timeout" ? "incomplete frame" : ev.reason === "checksum" ? "" : ev.reason;
      if (why)
        out.push({
          kind: "problem",
          message: `${where}: ${why}: ${ev.bytes.length} byte(s) skipped (${ev.bytes.toString("hex")})`,
        });
    }
  }
  return out;
}
