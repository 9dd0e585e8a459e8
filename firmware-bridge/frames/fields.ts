/**
 * The field DSL every frame is declared with. A field has a name, a codec and a presence rule; the
 * TypeScript type of a decoded frame is computed from its declaration, so a frame is declared once
 * and encode/decode stay symmetric by construction.
 *
 * Value conventions (also what `etc-lane decode` prints): integers are numbers; byte strings are
 * lowercase hex; BCD digit strings (dates, times, card serials) are their hex digits, which for valid
 * BCD are the decimal digits themselves; GB2312 text is decoded to a string.
 */
import { ErrorCodes, EtcError } from "../errors.js";
import type { Dialect } from "./dialect.js";
import { codePointName, decodeGbk, encodeGbk, showRawBytes } from "./gbk-text.js";

export type FieldShape =
  | { readonly kind: "uint"; readonly bytes: 1 | 2 | 3 | 4 }
  /** `minBytes`: a variable-width field (`hexUpTo`) of minBytes..bytes bytes */
  | { readonly kind: "hex"; readonly bytes: number; readonly minBytes?: number }
  | { readonly kind: "bcd"; readonly bytes: number }
  | { readonly kind: "text"; readonly bytes: number }
  | { readonly kind: "struct"; readonly fields: readonly AnyField[] }
  | { readonly kind: "repeat"; readonly countField: string; readonly item: readonly AnyField[] };

export interface FieldCodec<T> {
  readonly shape: FieldShape;
  /** Width in bytes when it does not depend on the value (the decoder's fast path). */
  readonly fixed?: (d: Dialect) => number | undefined;
  /** Fast read of a fixed-width value known to fit. */
  readonly read?: (buf: Buffer, off: number, d: Dialect) => T;
  size(value: T, d: Dialect): number;
  /** Reads at `off`; returns the value and the next offset, or undefined if `end` cuts it short. */
  decode(
    buf: Buffer,
    off: number,
    end: number,
    d: Dialect,
    ctx: Record<string, unknown>,
  ): [T, number] | undefined;
  /** Writes at `off` and returns the next offset; throws EtcError(FieldValue) naming the problem. */
  encode(value: T, buf: Buffer, off: number, d: Dialect, ctx: Record<string, unknown>): number;
}

export interface FieldDef<N extends string, T, O extends boolean> {
  readonly name: N;
  readonly codec: FieldCodec<T>;
  /** Optional fields may be missing at the end of a frame (short error forms, minimal heartbeats). */
  readonly optional: O;
  /** Present only in some dialects (e.g. the 4-byte reserve of a 40-byte Station). */
  readonly presentIn?: (d: Dialect) => boolean;
  /** The last field of the frame's short error form (`errorFormEnd`). */
  readonly endsErrorForm?: boolean;
  /**
   * Decoded only when whole (`reserveOrExtra`): with fewer bytes left than it needs, the frame's fields
   * end before it and those bytes are trailing bytes (`extra`), not a field cut short.
   */
  readonly wholeOrExtra?: boolean;
}
// biome-ignore lint/suspicious/noExplicitAny: the union of all field definitions
export type AnyField = FieldDef<string, any, boolean>;

type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type ValuesOf<F extends readonly AnyField[]> = Simplify<
  {
    [D in F[number] as D extends FieldDef<infer N, unknown, false> ? N : never]: D extends FieldDef<
      string,
      infer T,
      false
    >
      ? T
      : never;
  } & {
    [D in F[number] as D extends FieldDef<infer N, unknown, true> ? N : never]?: D extends FieldDef<
      string,
      infer T,
      true
    >
      ? T
      : never;
  }
>;

export function field<N extends string, T>(name: N, codec: FieldCodec<T>): FieldDef<N, T, false> {
  return { name, codec, optional: false };
}
export function optional<N extends string, T>(name: N, codec: FieldCodec<T>): FieldDef<N, T, true> {
  return { name, codec, optional: true };
}
/** A field that exists only where `presentIn(dialect)` holds; typed as optional. */
export function dialectField<N extends string, T>(
  name: N,
  codec: FieldCodec<T>,
  presentIn: (d: Dialect) => boolean,
): FieldDef<N, T, true> {
  return { name, codec, optional: true, presentIn };
}

/**
 * A trailing reserve of exactly `bytes` bytes (hex) that takes 0 or `bytes` bytes: present when at least
 * `bytes` bytes are left, and otherwise absent, the 1..bytes-1 bytes left kept as `extra` (docs/protocol.md
 * §3, "Trailing bytes ... never an error"). Optional like any trailing field.
 */
export function reserveOrExtra<N extends string>(name: N, bytes: number): FieldDef<N, string, true> {
  return { name, codec: hex(bytes), optional: true, wholeOrExtra: true };
}

/**
 * Marks `f` as the last field of its frame's short error form (docs/protocol.md §3, "Short error
 * forms"): an RSU reporting an error sends the fields up to and including this one. Decoding is not
 * changed by it: the fields after ErrorCode stay optional one by one.
 */
export function errorFormEnd<F extends AnyField>(f: F): F {
  return { ...f, endsErrorForm: true };
}

const HEX_PAIRS: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const HEX_VAL = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX_VAL[48 + i] = i;
for (let i = 0; i < 6; i++) HEX_VAL[97 + i] = 10 + i;

/** Lowercase hex of buf[off, off+n): a table walk, faster than Buffer#toString for short fields. */
function hexAt(buf: Buffer, off: number, n: number): string {
  let s = "";
  for (let i = off; i < off + n; i++) s += HEX_PAIRS[buf[i] as number];
  return s;
}

/** Writes 2n lowercase hex digits; false if any character is not [0-9a-f]. */
function writeHexAt(v: string, buf: Buffer, off: number, n: number): boolean {
  for (let i = 0; i < n; i++) {
    const hi = HEX_VAL[v.charCodeAt(2 * i)] ?? -1;
    const lo = HEX_VAL[v.charCodeAt(2 * i + 1)] ?? -1;
    if (hi < 0 || lo < 0) return false;
    buf[off + i] = (hi << 4) | lo;
  }
  return true;
}

/**
 * `v` as bytes when it is an even number of lowercase hex digits (none included), else undefined: the
 * check the hex fields make, for a value with no fixed length (a frame's `extra`, catalogue.ts).
 */
export function lowerHexBytes(v: unknown): Buffer | undefined {
  if (typeof v !== "string" || v.length % 2 !== 0) return undefined;
  const out = Buffer.alloc(v.length / 2);
  return writeHexAt(v, out, 0, out.length) ? out : undefined;
}

function bad(message: string): EtcError {
  return new EtcError(ErrorCodes.FieldValue, message);
}

export function uint(bytes: 1 | 2 | 3 | 4): FieldCodec<number> {
  const max = 2 ** (8 * bytes) - 1;
  return {
    shape: { kind: "uint", bytes },
    fixed: () => bytes,
    size: () => bytes,
    read: bytes === 1 ? (buf, off) => buf[off] as number : (buf, off) => buf.readUIntBE(off, bytes),
    decode(buf, off, end) {
      if (off + bytes > end) return undefined;
      return [buf.readUIntBE(off, bytes), off + bytes];
    },
    encode(v, buf, off) {
      if (!Number.isInteger(v) || v < 0 || v > max) throw bad(`expected an integer 0..${max}, got ${v}`);
      for (let i = bytes - 1, x = v; i >= 0; i--, x = Math.floor(x / 256)) buf[off + i] = x & 0xff;
      return off + bytes;
    },
  };
}
export const u8 = uint(1);
export const u16 = uint(2);
export const u32 = uint(4);

function hexLike(kind: "hex" | "bcd", bytes: number): FieldCodec<string> {
  return {
    shape: { kind, bytes },
    fixed: () => bytes,
    size: () => bytes,
    read: (buf, off) => hexAt(buf, off, bytes),
    decode(buf, off, end) {
      if (off + bytes > end) return undefined;
      return [hexAt(buf, off, bytes), off + bytes];
    },
    encode(v, buf, off) {
      if (typeof v !== "string" || v.length !== bytes * 2 || !writeHexAt(v, buf, off, bytes)) {
        throw bad(`expected ${bytes * 2} lowercase hex digits, got ${JSON.stringify(v)}`);
      }
      return off + bytes;
    },
  };
}
/** A byte string shown as lowercase hex (OBUID, TAC, PSAM terminal number, network "4301"). */
export const hex = (bytes: number): FieldCodec<string> => hexLike("hex", bytes);
/** BCD digits (dates yyyymmdd, times yyyymmddhhmmss, card serials). */
export const bcd = (bytes: number): FieldCodec<string> => hexLike("bcd", bytes);

/**
 * A byte string of `min`..`max` bytes that ends the frame (a trailing reserve whose width vendors
 * differ on): decoding takes what is left, up to `max` bytes, and fails only if fewer than `min` are
 * left. Bytes beyond `max` stay for `extra`. Shown as lowercase hex like `hex`.
 */
export function hexUpTo(min: number, max: number): FieldCodec<string> {
  return {
    shape: { kind: "hex", bytes: max, minBytes: min },
    size: (v) => (typeof v === "string" ? Math.floor(v.length / 2) : 0),
    decode(buf, off, end) {
      const n = Math.min(max, end - off);
      if (n < min) return undefined;
      return [hexAt(buf, off, n), off + n];
    },
    encode(v, buf, off) {
      const n = typeof v === "string" ? v.length / 2 : -1;
      if (!Number.isInteger(n) || n < min || n > max || !writeHexAt(v, buf, off, n)) {
        throw bad(`expected ${min * 2} to ${max * 2} lowercase hex digits, got ${JSON.stringify(v)}`);
      }
      return off + n;
    },
  };
}

/**
 * GB2312/GBK text padded with NUL to a fixed width (plates, names). Trailing NULs are not part of the value.
 * Lossless (./gbk-text.ts): a byte that is no GBK text decodes to the reserved character U+F700 + byte and
 * encodes back to that byte; any other character GBK cannot hold is refused naming it, never written as 3F.
 */
export function text(bytes: number): FieldCodec<string> {
  const read = (buf: Buffer, off: number): string => {
    let e = off + bytes;
    while (e > off && buf[e - 1] === 0) e--;
    let ascii = true;
    for (let i = off; i < e; i++) {
      if ((buf[i] as number) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (!ascii) return decodeGbk(buf.subarray(off, e));
    let out = "";
    for (let i = off; i < e; i++) out += String.fromCharCode(buf[i] as number);
    return out;
  };
  return {
    shape: { kind: "text", bytes },
    fixed: () => bytes,
    size: () => bytes,
    read,
    decode(buf, off, end) {
      if (off + bytes > end) return undefined;
      return [read(buf, off), off + bytes];
    },
    encode(v, buf, off) {
      if (typeof v !== "string") throw bad(`expected text, got ${typeof v}`);
      let ascii = v.length <= bytes;
      for (let i = 0; ascii && i < v.length; i++) if (v.charCodeAt(i) >= 0x80) ascii = false;
      buf.fill(0, off, off + bytes);
      if (ascii) {
        for (let i = 0; i < v.length; i++) buf[off + i] = v.charCodeAt(i);
        return off + bytes;
      }
      const enc = encodeGbk(v);
      if (!Buffer.isBuffer(enc)) {
        throw bad(
          `text "${showRawBytes(v)}" has a character GBK cannot encode: ${codePointName(enc.bad)}; expected GB2312/GBK text (a byte that is no GBK text as the reserved character U+F700 + byte, as decoding gives it)`,
        );
      }
      if (enc.length > bytes)
        throw bad(`text "${showRawBytes(v)}" needs ${enc.length} bytes in GB2312, field holds ${bytes}`);
      enc.copy(buf, off);
      return off + bytes;
    },
  };
}

function presentIn(f: AnyField, d: Dialect): boolean {
  return f.presentIn === undefined || f.presentIn(d);
}

/**
 * Decode a field list. Returns the object, or the name of the first required field cut short with the
 * offset where it starts (the fields before it are already in `into`: a partial decode).
 */
export function decodeFields(
  fields: readonly AnyField[],
  buf: Buffer,
  off: number,
  end: number,
  d: Dialect,
  into: Record<string, unknown> = {},
): { value: Record<string, unknown>; next: number } | { missing: string; at: number } {
  const out = into;
  let o = off;
  for (const f of fields) {
    if (f.presentIn !== undefined && !f.presentIn(d)) continue;
    if (o === end && f.optional) break;
    const c = f.codec;
    const w = c.read !== undefined && c.fixed !== undefined ? c.fixed(d) : undefined;
    if (w !== undefined) {
      if (o + w > end) {
        if (f.wholeOrExtra) break;
        return { missing: f.name, at: o };
      }
      out[f.name] = (c.read as NonNullable<typeof c.read>)(buf, o, d);
      o += w;
      continue;
    }
    const r = c.decode(buf, o, end, d, out);
    if (!r) {
      if (f.wholeOrExtra) break;
      return { missing: f.name, at: o };
    }
    out[f.name] = r[0];
    o = r[1];
  }
  return { value: out, next: o };
}

/**
 * `fields[i]`, an optional field `v` leaves out, ends the frame: later fields cannot follow a gap. A value
 * given for a later field (one its dialect has) would be dropped without a word (a B5 without TransType
 * going out with no TAC), so it is refused, naming the gap and that field.
 */
function endAtGap(fields: readonly AnyField[], i: number, v: Record<string, unknown>, d: Dialect): void {
  for (let j = i + 1; j < fields.length; j++) {
    const later = fields[j] as AnyField;
    if (presentIn(later, d) && v[later.name] !== undefined) {
      throw bad(
        `${(fields[i] as AnyField).name}: missing, but the later field "${later.name}" is given (later fields cannot follow a gap)`,
      );
    }
  }
}

/**
 * An error of field `name`'s value, named by the path to it: `psams[1].terminalId: ...` when it came from
 * an item of a list (repeat), else `name: ...`.
 */
function underField(name: string, e: EtcError): EtcError {
  return new EtcError(e.code, `${name}${e.message.startsWith("[") ? "" : ": "}${e.message}`);
}

/**
 * An error of item `i` of a list of `item` records, naming the item: `[1].terminalId: ...` when it names
 * one of the record's fields, else `[1]: ...`.
 */
function inItem(i: number, item: readonly AnyField[], e: EtcError): EtcError {
  const m = e.message;
  const named = item.some((f) => m.startsWith(f.name) && /^[:.[]/.test(m.slice(f.name.length)));
  return new EtcError(e.code, `[${i}]${named ? "." : ": "}${m}`);
}

function missingRequired(f: AnyField): EtcError {
  return bad(`${f.name}: missing, and the field is required`);
}

/** Throws EtcError(FieldValue) as `encodeFields` does, naming the field, before any byte is written. */
export function sizeFields(fields: readonly AnyField[], v: Record<string, unknown>, d: Dialect): number {
  let n = 0;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i] as AnyField;
    if (!presentIn(f, d)) continue;
    const x = v[f.name];
    if (x === undefined) {
      if (!f.optional) throw missingRequired(f);
      endAtGap(fields, i, v, d);
      break;
    }
    const w = f.codec.fixed?.(d);
    if (w !== undefined) {
      n += w;
      continue;
    }
    try {
      n += f.codec.size(x, d);
    } catch (e) {
      if (e instanceof EtcError) throw underField(f.name, e);
      throw e;
    }
  }
  return n;
}

export function encodeFields(
  fields: readonly AnyField[],
  v: Record<string, unknown>,
  buf: Buffer,
  off: number,
  d: Dialect,
): number {
  let o = off;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i] as AnyField;
    if (!presentIn(f, d)) continue;
    const x = v[f.name];
    if (x === undefined) {
      if (!f.optional) throw missingRequired(f);
      endAtGap(fields, i, v, d); // optional fields end the frame: later fields cannot follow a gap
      break;
    }
    try {
      o = f.codec.encode(x, buf, o, d, v);
    } catch (e) {
      if (e instanceof EtcError) throw underField(f.name, e);
      throw e;
    }
  }
  return o;
}

/** A nested record (file 0015, 0019, a PSAM entry). */
export function struct<F extends readonly AnyField[]>(fields: F): FieldCodec<ValuesOf<F>> {
  const fixedWidth = (d: Dialect): number | undefined => {
    let n = 0;
    for (const f of fields) {
      if (f.presentIn !== undefined && !f.presentIn(d)) continue;
      if (f.optional && f.presentIn === undefined) return undefined;
      const w = f.codec.fixed?.(d);
      if (w === undefined) return undefined;
      n += w;
    }
    return n;
  };
  return {
    shape: { kind: "struct", fields },
    fixed: fixedWidth,
    read: (buf, off, d) =>
      (decodeFields(fields, buf, off, Number.MAX_SAFE_INTEGER, d) as { value: Record<string, unknown> })
        .value as ValuesOf<F>,
    size: (v, d) => sizeFields(fields, v as Record<string, unknown>, d),
    decode(buf, off, end, d) {
      // A nested record is all-or-nothing: its own optional tail ends at the record's end.
      const r = decodeFields(fields, buf, off, end, d);
      if ("missing" in r) return undefined;
      return [r.value as ValuesOf<F>, r.next];
    },
    encode(v, buf, off, d) {
      const rec = v as Record<string, unknown>;
      // A record of fixed width is sized by its width, not its value (sizeFields): it must carry every
      // field its dialect has, or bytes counted for a missing one would go out unwritten.
      if (fixedWidth(d) !== undefined) {
        for (const f of fields) {
          if (presentIn(f, d) && rec[f.name] === undefined) {
            throw bad(`field "${f.name}" is required in this dialect (a ${fixedWidth(d)}-byte record)`);
          }
        }
      }
      return encodeFields(fields, rec, buf, off, d);
    },
  };
}

/** `count` items, where `count` is an earlier field of the same frame (variant B B0/B1 PSAM lists). */
export function repeat<F extends readonly AnyField[]>(
  countField: string,
  item: F,
): FieldCodec<ValuesOf<F>[]> {
  const one = struct(item);
  return {
    shape: { kind: "repeat", countField, item },
    size: (v, d) =>
      v.reduce((n, x, i) => {
        try {
          return n + one.size(x, d);
        } catch (e) {
          if (e instanceof EtcError) throw inItem(i, item, e);
          throw e;
        }
      }, 0),
    decode(buf, off, end, d, ctx) {
      const n = ctx[countField];
      if (typeof n !== "number") return undefined;
      const items: ValuesOf<F>[] = [];
      let o = off;
      for (let i = 0; i < n; i++) {
        const r = one.decode(buf, o, end, d, ctx);
        if (!r) return undefined;
        items.push(r[0]);
        o = r[1];
      }
      return [items, o];
    },
    encode(v, buf, off, d, ctx) {
      if (!Array.isArray(v) || v.length !== ctx[countField]) {
        throw bad(
          `expected ${String(ctx[countField])} items (field ${countField}), got ${Array.isArray(v) ? v.length : typeof v}`,
        );
      }
      let o = off;
      for (const [i, x] of v.entries()) {
        try {
          o = one.encode(x, buf, o, d, ctx);
        } catch (e) {
          if (e instanceof EtcError) throw inItem(i, item, e);
          throw e;
        }
      }
      return o;
    },
  };
}
