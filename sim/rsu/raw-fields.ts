/**
 * Frame fields as the bytes on the wire, passed through untouched as a real RSU does: the C6/C3 Station to
 * the card (UPDATE CAPP DATA CACHE), the card's 0019 to the lane (B4 LastStation), under the card's own
 * header where the decoded view shows AA. GB2312 text (a plate) decodes losslessly, a byte that is no GBK
 * text as a reserved character that encodes back to it (firmware-bridge/frames/gbk-text.ts), so a plate
 * padded with FF comes back whichever way; the bytes are still taken from the wire, not re-encoded. The
 * decoded values stay what logs show.
 */
import { catalogueFor, encodeData, type Frame } from "../../firmware-bridge/frames/catalogue.js";
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import { type AnyField, decodeFields } from "../../firmware-bridge/frames/fields.js";
import { encodeLegacy } from "../../firmware-bridge/framing/legacy.js";
import { encodeNational } from "../../firmware-bridge/framing/national.js";

/** Where field `name` of a frame's DATA (type byte first) lies; undefined when it has none or is cut short. */
export function fieldSpan(
  data: Buffer,
  d: Dialect,
  name: string,
): { start: number; end: number } | undefined {
  const def = data.length > 0 ? catalogueFor(d.variant).byCode.get(data[0] as number) : undefined;
  if (!def) return undefined;
  const fields = def.fields as readonly AnyField[];
  const i = fields.findIndex((f) => f.name === name);
  const f = fields[i];
  if (!f || (f.presentIn !== undefined && !f.presentIn(d))) return undefined;
  const before = decodeFields(fields.slice(0, i), data, 1, data.length, d);
  if ("missing" in before) return undefined;
  const it = decodeFields([f], data, before.next, data.length, d);
  if ("missing" in it || it.next === before.next) return undefined;
  return { start: before.next, end: it.next };
}

/** The bytes of field `name` of a frame's DATA, as the lane sent them (a copy). */
export function fieldBytes(data: Buffer, d: Dialect, name: string): Buffer | undefined {
  const s = fieldSpan(data, d, name);
  return s ? Buffer.from(data.subarray(s.start, s.end)) : undefined;
}

const rawFields = new WeakMap<Frame, Map<string, Buffer>>();

/**
 * `frame` goes out with field `name` as `bytes` (their first bytes where the dialect's field is shorter,
 * e.g. a 39-byte LastStation), whatever its decoded value would encode to. Returns `frame`.
 */
export function withRawField<F extends Frame>(frame: F, name: string, bytes: Buffer): F {
  const m = rawFields.get(frame) ?? new Map<string, Buffer>();
  m.set(name, Buffer.from(bytes));
  rawFields.set(frame, m);
  return frame;
}

/** The whole wire frame, its raw fields (`withRawField`) in place. */
export function encodeFrameRaw(frame: Frame, seq: number, d: Dialect): Buffer {
  const data = encodeData(frame, d);
  for (const [name, bytes] of rawFields.get(frame) ?? []) {
    const s = fieldSpan(data, d, name);
    if (s && bytes.length >= s.end - s.start) bytes.copy(data, s.start, 0, s.end - s.start);
  }
  return d.variant === "legacy" ? encodeLegacy(seq, data) : encodeNational(seq, data);
}
