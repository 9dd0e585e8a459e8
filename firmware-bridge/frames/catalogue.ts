/**
 * The frame registry per wire variant: one place that maps an opcode to its declaration, and the
 * generic encode/decode every frame goes through. Decoding never throws: it returns a result.
 */

import { ErrorCodes, EtcError } from "../errors.js";
import { hex2 } from "../framing/bytes.js";
import { encodeLegacy } from "../framing/legacy.js";
import { encodeNational } from "../framing/national.js";
import type { Variant, WireFrame } from "../framing/types.js";
import type { Dialect } from "./dialect.js";
import { type AnyField, decodeFields, encodeFields, lowerHexBytes, sizeFields } from "./fields.js";
import type { FrameDef, FrameValue } from "./frame-def.js";
import * as L from "./legacy-frames.js";
import * as N from "./national-frames.js";

export type LegacyFrame = FrameValue<(typeof L.LEGACY_FRAMES)[number]>;
export type NationalFrame = FrameValue<(typeof N.NATIONAL_FRAMES)[number]>;
/** An empty acknowledgement: a frame with no DATA. */
export interface AckFrame {
  type: "ACK";
}
export type Frame = LegacyFrame | NationalFrame | AckFrame;
export type FrameType = Frame["type"];
/** Narrow a frame union to one type: `FrameOf<LegacyFrame, "B5">`. */
export type FrameOf<U, T extends string> = Extract<U, { type: T }>;

export interface Catalogue {
  readonly variant: Variant;
  readonly byCode: ReadonlyMap<number, FrameDef>;
  readonly byType: ReadonlyMap<string, FrameDef>;
}

function build(variant: Variant, defs: readonly FrameDef[]): Catalogue {
  const byCode = new Map<number, FrameDef>();
  const byType = new Map<string, FrameDef>();
  for (const d of defs) {
    if (byCode.has(d.code))
      throw new Error(`duplicate opcode ${d.code.toString(16)} in ${variant} catalogue`);
    byCode.set(d.code, d);
    byType.set(d.type, d);
  }
  return { variant, byCode, byType };
}

export const LEGACY_CATALOGUE = build("legacy", L.LEGACY_FRAMES as unknown as readonly FrameDef[]);
export const NATIONAL_CATALOGUE = build("national", N.NATIONAL_FRAMES as unknown as readonly FrameDef[]);

export function catalogueFor(variant: Variant): Catalogue {
  return variant === "legacy" ? LEGACY_CATALOGUE : NATIONAL_CATALOGUE;
}

/**
 * What could be read of a frame whose body does not fit its declaration (an unknown type, a body cut
 * inside a field): the fields decoded before the layout stopped fitting, the bytes left undecoded and
 * why. The analyser (`etc-lane decode`), the simulator's frame log and the capture reader print it, so a
 * frame is never hidden behind an error.
 */
export interface PartialFrame {
  /** The declared type ("B1"), or "0x9a" for a type byte the catalogue does not know. */
  readonly type: string;
  readonly code: number;
  /** True when the catalogue declares this type. */
  readonly known: boolean;
  /** Top-level fields decoded in order before the first one that did not fit. */
  readonly fields: Record<string, unknown>;
  /** The DATA bytes after the decoded fields (after the type byte when nothing decoded). */
  readonly rest: Buffer;
  /** The declared field the body ended in or before, if any. */
  readonly missingField?: string;
  /** Why the layout did not fit, in words. */
  readonly reason: string;
}

export type DecodeResult = { ok: true; frame: Frame } | { ok: false; error: EtcError; partial: PartialFrame };

/**
 * Decode DATA (type byte first). Unknown types and bodies cut short are failures, never exceptions;
 * a failure carries the partial decode. Bytes after the last declared field are kept as `extra`.
 */
export function decodeData(data: Buffer, d: Dialect): DecodeResult {
  if (data.length === 0) return { ok: true, frame: { type: "ACK" } };
  const code = data[0] as number;
  const def = catalogueFor(d.variant).byCode.get(code);
  if (!def) {
    const reason = `unknown ${d.variant} frame type 0x${hex2(code)}`;
    return {
      ok: false,
      error: new EtcError(ErrorCodes.FrameUnknownType, `${reason}; body "${data.toString("hex", 1)}"`, {
        code,
      }),
      partial: { type: `0x${hex2(code)}`, code, known: false, fields: {}, rest: data.subarray(1), reason },
    };
  }
  const frame: Record<string, unknown> = { type: def.type };
  const r = decodeFields(def.fields as readonly AnyField[], data, 1, data.length, d, frame);
  if ("missing" in r) {
    const { type: _t, ...fields } = frame;
    const bodyBytes = data.length - 1;
    const reason =
      r.at >= data.length
        ? `the body ends before field "${r.missing}": ${bodyBytes} byte(s) after the type byte, all decoded`
        : `the body ends inside field "${r.missing}": it starts at body byte ${r.at - 1} and needs more than the ${data.length - r.at} byte(s) left`;
    return {
      ok: false,
      // The message carries the partial decode too, so a wire log that prints it shows what fitted.
      error: new EtcError(
        ErrorCodes.FrameLength,
        `${def.type} frame too short: ${data.length} data bytes end inside field "${r.missing}"; decoded ${JSON.stringify(fields)}, undecoded "${data.toString("hex", r.at)}"`,
        { type: def.type, length: data.length, field: r.missing, decoded: Object.keys(fields) },
      ),
      partial: {
        type: def.type,
        code,
        known: true,
        fields,
        rest: data.subarray(r.at),
        missingField: r.missing,
        reason,
      },
    };
  }
  if (r.next < data.length) frame.extra = data.toString("hex", r.next);
  return { ok: true, frame: frame as unknown as Frame };
}

/**
 * Encode a frame to DATA (type byte first). Throws EtcError naming the bad field; never returns a byte
 * it did not write (a size that disagrees with what was written throws instead).
 */
export function encodeData(frame: Frame, d: Dialect): Buffer {
  if (frame.type === "ACK") return Buffer.alloc(0);
  const def = catalogueFor(d.variant).byType.get(frame.type);
  if (!def)
    throw new EtcError(
      ErrorCodes.FrameUnknownType,
      `frame type ${frame.type} is not in the ${d.variant} catalogue`,
    );
  const v = frame as unknown as Record<string, unknown>;
  const fields = def.fields as readonly AnyField[];
  // Buffer.from(hex) would stop at the first bad character and drop an odd digit: refused instead
  const extra = v.extra === undefined ? undefined : lowerHexBytes(v.extra);
  if (v.extra !== undefined && extra === undefined) {
    throw new EtcError(
      ErrorCodes.FieldValue,
      `${def.type}.extra: expected an even number of lowercase hex digits, got ${JSON.stringify(v.extra)}`,
    );
  }
  let n: number;
  let out: Buffer;
  let o: number;
  try {
    n = 1 + sizeFields(fields, v, d) + (extra?.length ?? 0);
    out = Buffer.allocUnsafe(n); // every byte is written below (text fields pad their own NULs)
    out[0] = def.code;
    o = encodeFields(fields, v, out, 1, d);
  } catch (e) {
    if (e instanceof EtcError) throw new EtcError(e.code, `${def.type}.${e.message}`);
    throw e;
  }
  if (extra) o += extra.copy(out, o);
  if (o !== n) {
    // out is allocUnsafe: bytes not written would be whatever the heap held
    throw new EtcError(
      ErrorCodes.FieldValue,
      `${def.type}: encoded ${o} of the ${n} bytes its fields count; not sending it`,
    );
  }
  return out;
}

/**
 * The fields of frame `type`'s short error form in dialect `d` (docs/protocol.md §3, "Short error
 * forms"), in wire order: the declaration's fields up to the one marked `errorFormEnd` (B5: OBUID,
 * ErrorCode, WrFileTime, PSAMNo in variant A; OBUID, ErrorCode, PSAMNo, TransTime, TransType in variant
 * B), or its required fields where none is marked (B3, B4, B8: OBUID and ErrorCode).
 */
export function errorFormFields(type: string, d: Dialect): string[] {
  const def = catalogueFor(d.variant).byType.get(type);
  if (!def)
    throw new EtcError(
      ErrorCodes.FrameUnknownType,
      `frame type ${type} is not in the ${d.variant} catalogue`,
    );
  const fields = (def.fields as readonly AnyField[]).filter(
    (f) => f.presentIn === undefined || f.presentIn(d),
  );
  const end = fields.findIndex((f) => f.endsErrorForm === true);
  return (end >= 0 ? fields.slice(0, end + 1) : fields.filter((f) => !f.optional)).map((f) => f.name);
}

/**
 * `frame` as its type's short error form: its type and the fields `errorFormFields` names, every one of
 * which it must carry (throws EtcError naming the first missing one); any other field is dropped.
 */
export function toErrorForm<F extends Frame>(frame: F, d: Dialect): F {
  const v = frame as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { type: frame.type };
  for (const name of errorFormFields(frame.type, d)) {
    if (v[name] === undefined)
      throw new EtcError(
        ErrorCodes.FieldValue,
        `${frame.type}.${name}: the short error form needs it (docs/protocol.md §3)`,
      );
    out[name] = v[name];
  }
  return out as unknown as F;
}

/** Encode a whole wire frame: `seq` is RSCTL (variant A) or SEQ (variant B). */
export function encodeFrame(frame: Frame, seq: number, d: Dialect): Buffer {
  const data = encodeData(frame, d);
  return d.variant === "legacy" ? encodeLegacy(seq, data) : encodeNational(seq, data);
}

export function decodeWire(w: WireFrame, d: Dialect): DecodeResult {
  return decodeData(w.data, d);
}

/**
 * Whether `f`, received on a `variant` link, is a heartbeat (docs/protocol.md §5): a legacy B2 with OBUID
 * 00000000 and ErrorCode 0x80 or 0x08, or a national B1 (only the national catalogue declares B1). A
 * national B2 is never one, whatever its OBUID and ErrorCode: it is an OBU's, delivered and answered as
 * any.
 */
export function isHeartbeat(f: Frame, variant: Variant): boolean {
  if (f.type === "B1") return true;
  if (f.type !== "B2" || variant === "national") return false;
  return f.obuId === "00000000" && (f.errorCode === 0x80 || f.errorCode === 0x08);
}

/** The declaration behind a decoded frame (undefined for an empty ack). */
export function frameDef(type: string, variant: Variant): FrameDef | undefined {
  return catalogueFor(variant).byType.get(type);
}

/** True for RSU frames the RSU retransmits until answered (everything informational but heartbeats). */
export function needsAnswer(f: Frame, variant: Variant): boolean {
  if (isHeartbeat(f, variant)) return false;
  return frameDef(f.type, variant)?.informational === true;
}
