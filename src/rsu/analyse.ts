/**
 * Offline analysis of captured bytes: find every frame in a byte run and show each one, whatever its
 * body: header, sequence, checksum verdict and type always; the fields that fit the declaration; the
 * bytes left undecoded and why the layout did not fit. Discarded bytes (noise, half frames) are
 * reported as problems. Used by `etc-lane decode` (hex and captures) and by the simulator's frame log,
 * so all of them print frames the same way.
 */
import { decodeData, type Frame, type PartialFrame } from "../../firmware-bridge/frames/catalogue.js";
import { type Dialect, fromCardUnix, fromWireUnix } from "../../firmware-bridge/frames/dialect.js";
import { decodeObuStatus } from "../../firmware-bridge/frames/obu-status.js";
import { hex2 } from "../../firmware-bridge/framing/bytes.js";
import { crcHex } from "../../firmware-bridge/framing/crc.js";
import { createDeframer } from "../../firmware-bridge/framing/index.js";
import type { Variant } from "../../firmware-bridge/framing/types.js";

/** One frame as the analyser shows it. `complete`: checksum right and every declared field decoded. */
export interface AnalysedFrame {
  kind: "frame";
  json: Record<string, unknown>;
  complete: boolean;
}
export type DecodedLine = AnalysedFrame | { kind: "problem"; message: string };

/** National frames also show their header: VER and LEN (the DATA length the frame declares). */
export interface FrameHeader {
  ver: number;
  len: number;
}

/** Derived, human-friendly values printed beside the wire fields (never needed to re-encode). */
export function derivedFields(f: Frame): Record<string, unknown> | undefined {
  if (f.type === "B2" && typeof f.obuStatus === "number")
    return { obuStatusBits: decodeObuStatus(f.obuStatus) };
  if (f.type === "B4" && f.issuerInfo)
    return { cardNo: `${f.issuerInfo.cardNetwork}${f.issuerInfo.cardSerial}` };
  return undefined;
}

function head(type: string, seq: number, checksumOk: boolean, h?: FrameHeader): Record<string, unknown> {
  return { type, seq, ...(h ? { ver: h.ver, len: h.len } : {}), checksumOk };
}

export function frameToJson(
  f: Frame,
  seq: number,
  checksumOk: boolean,
  header?: FrameHeader,
): Record<string, unknown> {
  const { type, ...fields } = f as Frame & Record<string, unknown>;
  const derived = derivedFields(f);
  return { ...head(type, seq, checksumOk, header), ...fields, ...(derived ? { derived } : {}) };
}

/**
 * A frame whose body does not fit its declaration: the fields that fit, then `undecoded` (the rest of
 * DATA in hex) and `reason`.
 */
export function partialToJson(
  p: PartialFrame,
  seq: number,
  checksumOk: boolean,
  header?: FrameHeader,
): Record<string, unknown> {
  return {
    ...head(p.type, seq, checksumOk, header),
    ...p.fields,
    undecoded: p.rest.toString("hex"),
    reason: p.reason,
  };
}

/** The 4-byte "Unix" time fields (firmware-bridge/frames/legacy-frames.ts, national-frames.ts, records.ts). */
const TIME_FIELDS = new Set(["unixTime", "wrFileTime", "time"]);

/**
 * Every 4-byte time field of `fields` (nested records too) as the instant it stands for, ISO UTC, read
 * with the dialect's UTC offset and its time base: `cardTimeBase` for a 0019 record's `time`, `timeBase`
 * for the frame's own (`unixTime`, `wrFileTime`); keyed by its path (`unixTime`, `station.time`). A 0 is
 * no time and gets none.
 */
export function derivedTimes(
  fields: Record<string, unknown>,
  d: Dialect,
): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  const walk = (v: unknown, path: string): void => {
    if (Array.isArray(v)) {
      for (const [i, x] of v.entries()) walk(x, `${path}[${i}]`);
    } else if (v !== null && typeof v === "object" && !Buffer.isBuffer(v))
      for (const [k, x] of Object.entries(v)) {
        const at = path ? `${path}.${k}` : k;
        if (TIME_FIELDS.has(k) && typeof x === "number" && Number.isInteger(x) && x > 0)
          out[at] = new Date(k === "time" ? fromCardUnix(d, x) : fromWireUnix(d, x)).toISOString();
        else walk(x, at);
      }
  };
  walk(fields, "");
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Adds `derived.times` (derivedTimes) to a printed frame. */
function withTimes(json: Record<string, unknown>, d: Dialect): Record<string, unknown> {
  const times = derivedTimes(json, d);
  if (!times) return json;
  return { ...json, derived: { ...(json.derived as Record<string, unknown> | undefined), times } };
}

/** DATA decoded as far as it goes: the JSON object and whether every declared field was there. */
export function dataToJson(
  data: Buffer,
  seq: number,
  checksumOk: boolean,
  d: Dialect,
  header?: FrameHeader,
): { json: Record<string, unknown>; complete: boolean } {
  const r = decodeData(data, d);
  if (!r.ok)
    return { json: withTimes(partialToJson(r.partial, seq, checksumOk, header), d), complete: false };
  const json = withTimes(frameToJson(r.frame, seq, checksumOk, header), d);
  const extra = (r.frame as { extra?: string }).extra;
  if (extra === undefined) return { json, complete: checksumOk };
  // The link keeps trailing bytes a dialect appends; the analyser says they were not decoded.
  json.reason = `${extra.length / 2} byte(s) after the last declared field, kept as "extra"`;
  return { json, complete: false };
}

/** SEQ, header and DATA of a candidate whose checksum failed, so its fields can still be shown. */
export function candidateData(
  candidate: Buffer,
  d: Dialect,
): { seq: number; data: Buffer; header?: FrameHeader } | undefined {
  if (d.variant === "national") {
    if (candidate.length < 10) return undefined;
    return {
      seq: candidate[3] as number,
      data: candidate.subarray(8, candidate.length - 2),
      header: { ver: candidate[2] as number, len: candidate.readUInt32BE(4) },
    };
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

/** A BCC (legacy: one byte) or CRC (national: two bytes) as hex digits, as the frame carries it. */
const checksumHex = (n: number, variant: Variant): string => (variant === "legacy" ? hex2(n) : crcHex(n));

/**
 * `BCC mismatch: frame says X, bytes give Y` (`CRC` for national): a checksum-error event as `etc-lane
 * decode` and `decode --capture` (./analyse-capture.ts) both say it.
 */
export const checksumMismatch = (ev: { expected: number; actual: number }, variant: Variant): string =>
  `${variant === "legacy" ? "BCC" : "CRC"} mismatch: frame says ${checksumHex(ev.expected, variant)}, bytes give ${checksumHex(ev.actual, variant)}`;

export function decodeFrameBytes(bytes: Buffer, d: Dialect, where = "input"): DecodedLine[] {
  const deframer = createDeframer(d.variant, { maxFrameLength: 65_536 });
  const events = [...deframer.push(bytes, 0), ...deframer.tick(Number.MAX_SAFE_INTEGER)];
  const out: DecodedLine[] = [];
  for (const ev of events) {
    if (ev.kind === "frame") {
      const w = ev.frame;
      const header = d.variant === "national" ? { ver: w.ver, len: w.data.length } : undefined;
      const { json, complete } = dataToJson(w.data, w.seq, true, d, header);
      out.push({ kind: "frame", json, complete });
    } else if (ev.kind === "checksum-error") {
      out.push({
        kind: "problem",
        message: `${where}: ${checksumMismatch(ev, d.variant)} (${ev.candidate.toString("hex")})`,
      });
      const c = candidateData(ev.candidate, d);
      if (c) {
        const { json } = dataToJson(c.data, c.seq, false, d, c.header);
        json.checksum = {
          sent: checksumHex(ev.expected, d.variant),
          computed: checksumHex(ev.actual, d.variant),
        };
        out.push({ kind: "frame", json, complete: false });
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
