/**
 * Which single dialect setting would explain a frame's length. A frame longer than its declaration is
 * delivered with the surplus as `extra` (docs/protocol.md §2); when another value of one layout setting (B2
 * AntennaID: `b2AntennaId`; the 91-byte B4 EF04 block: `b4Ef04`; the 0019 reserve: `lastStationLength`; the
 * C6 Station's: `stationLength`) reads the frame with less surplus, all of it or part of it (the 274-byte B4
 * with EF04 plus a trailing vendor reserve under `b4Ef04: false`), the RSU may speak that value, and every
 * field after the one the setting adds was then read shifted. The same holds the other way: a frame shorter
 * than its declaration by exactly such a field (a B2 without AntennaID under `b2AntennaId: true`) decodes
 * too, its last optional fields missing and the ones before them read shifted, or is cut short inside a
 * field (a 182-byte B4 under `b4Ef04: true`). Only the settings that change the frame type's layout are
 * tried (`settingsAffecting`). The link names the setting in its warning
 * (firmware-bridge/link/frame-channel.ts); the lane's codec refuses the fields such a reading changes
 * (src/rsu/layout-check.ts). ./layout-fit-memo.ts keeps the answer per frame type and length.
 */
import { catalogueFor, type DecodeResult, decodeData, type Frame } from "./catalogue.js";
import type { Dialect } from "./dialect.js";
import type { AnyField } from "./fields.js";

/** The Dialect settings that change where a frame's fields lie, and their values. */
const LAYOUT_SETTINGS = {
  b2AntennaId: [false, true],
  b4Ef04: [false, true],
  lastStationLength: [39, 43],
  stationLength: [36, 40],
} as const;

export type LayoutSetting = keyof typeof LAYOUT_SETTINGS;

export interface DialectFit {
  readonly setting: LayoutSetting;
  /** The value under which the body decodes with less surplus (longer) or complete (shorter). */
  readonly value: boolean | number;
  /** The configured dialect with that one setting changed. */
  readonly dialect: Dialect;
  /** A longer frame: its surplus bytes under the configured dialect. */
  readonly surplus?: number;
  /** A longer frame: the bytes still left over under `dialect` (0: it decodes exactly). */
  readonly left?: number;
}

/** A setting's other value, before trying it on a frame. */
type Alternative = Pick<DialectFit, "setting" | "value" | "dialect">;

/**
 * For DATA (type byte first) that decodes under `d` with bytes left over, every single layout setting
 * whose other value makes it decode with fewer bytes left over, none or some (`left`). Empty when none
 * does, or when nothing is left.
 */
export function dialectsFitting(
  data: Buffer,
  d: Dialect,
  r: DecodeResult = decodeData(data, d),
): DialectFit[] {
  if (!r.ok || r.frame.type === "ACK" || r.frame.extra === undefined) return [];
  const surplus = r.frame.extra.length / 2;
  const fits: DialectFit[] = [];
  for (const alt of settingsAffecting(data[0] as number, d)) {
    const a = decodeData(data, alt.dialect);
    if (!a.ok || a.frame.type === "ACK") continue;
    const left = a.frame.extra === undefined ? 0 : a.frame.extra.length / 2;
    if (left < surplus) fits.push({ ...alt, surplus, left });
  }
  return fits;
}

/**
 * `d` with one layout setting at another value, for each setting and value that changes where the fields
 * of the frame type `code` lie (`b4Ef04` for a national B4, not `stationLength`); none for an unknown code.
 */
export function settingsAffecting(code: number, d: Dialect): Alternative[] {
  const def = catalogueFor(d.variant).byCode.get(code);
  if (def === undefined) return [];
  const layout = layoutOf(def.fields as readonly AnyField[], d);
  return otherValues(d).filter((alt) => layoutOf(def.fields as readonly AnyField[], alt.dialect) !== layout);
}

/**
 * Whether a frame of type `code` decodes the same way under `d` and the settings that affect it (whole,
 * with so much left over, or cut short in such a field) for every DATA of one length: true unless a field's
 * width is read from the frame (a `repeat` list). Unknown codes: true (they never decode).
 */
export function lengthDecidesFit(code: number, d: Dialect): boolean {
  const def = catalogueFor(d.variant).byCode.get(code);
  if (def === undefined) return true;
  const dialects = [d, ...settingsAffecting(code, d).map((a) => a.dialect)];
  return dialects.every((x) => !layoutOf(def.fields as readonly AnyField[], x).includes("["));
}

/** Which fields are present under `d`, nested records and lists included: "1,0,{1,1},[1,1]". */
function layoutOf(fields: readonly AnyField[], d: Dialect): string {
  return fields
    .map((f) => {
      if (f.presentIn !== undefined && !f.presentIn(d)) return "0";
      const shape = f.codec.shape;
      if (shape.kind === "struct") return `{${layoutOf(shape.fields, d)}}`;
      if (shape.kind === "repeat") return `[${layoutOf(shape.item, d)}]`;
      return "1";
    })
    .join(",");
}

/** `d` with one layout setting at another value, for each setting and value. */
function otherValues(d: Dialect): Alternative[] {
  const out: Alternative[] = [];
  for (const [setting, values] of Object.entries(LAYOUT_SETTINGS) as [
    LayoutSetting,
    readonly (boolean | number)[],
  ][]) {
    for (const value of values) {
      if (value !== d[setting]) out.push({ setting, value, dialect: { ...d, [setting]: value } as Dialect });
    }
  }
  return out;
}

/**
 * Every declared field of the frame present in `d`, nested records whole; a trailing reserve of 0 or N
 * bytes (`reserveOrExtra`) may be absent. A short error form or a frame cut after an optional field is not.
 */
export function isComplete(frame: Frame, d: Dialect): boolean {
  const def = frame.type === "ACK" ? undefined : catalogueFor(d.variant).byType.get(frame.type);
  return def !== undefined && fieldsComplete(def.fields as readonly AnyField[], frame, d);
}

function fieldsComplete(fields: readonly AnyField[], value: object, d: Dialect): boolean {
  for (const f of fields) {
    if ((f.presentIn !== undefined && !f.presentIn(d)) || f.wholeOrExtra) continue;
    const v = (value as Record<string, unknown>)[f.name];
    if (v === undefined) return false;
    const shape = f.codec.shape;
    if (shape.kind === "struct" && !fieldsComplete(shape.fields, v as object, d)) return false;
  }
  return true;
}

/** DATA bytes after the type byte that a complete frame of `type` has under `d`; undefined when not fixed. */
export function declaredBodyLength(type: string, d: Dialect): number | undefined {
  const def = catalogueFor(d.variant).byType.get(type);
  if (def === undefined) return undefined;
  let n = 0;
  for (const f of def.fields as readonly AnyField[]) {
    if ((f.presentIn !== undefined && !f.presentIn(d)) || f.wholeOrExtra) continue;
    const w = f.codec.fixed?.(d);
    if (w === undefined) return undefined;
    n += w;
  }
  return n;
}

/**
 * For DATA (type byte first) that under `d` decodes without its last declared fields, or ends inside a
 * field, every single layout setting whose other value makes it decode complete (`isComplete`) with no
 * bytes left over: the frame is shorter than its declaration by exactly what that setting adds. Empty
 * when none does (a short error form, a frame cut short for another reason), or when the frame is whole.
 */
export function dialectsFittingShorter(
  data: Buffer,
  d: Dialect,
  r: DecodeResult = decodeData(data, d),
): DialectFit[] {
  if (r.ok && (r.frame.type === "ACK" || r.frame.extra !== undefined || isComplete(r.frame, d))) return [];
  if (!r.ok && r.partial.missingField === undefined) return [];
  const fits: DialectFit[] = [];
  for (const { setting, value, dialect } of settingsAffecting(data[0] as number, d)) {
    const alt = decodeData(data, dialect);
    if (alt.ok && alt.frame.type !== "ACK" && alt.frame.extra === undefined && isComplete(alt.frame, dialect))
      fits.push({ setting, value, dialect });
  }
  return fits;
}

/**
 * "with b2AntennaId: true it decodes exactly: check the dialect setting b2AntennaId (...)", "with b4Ef04:
 * true 91 of the 93 surplus bytes are explained: check ...", or "no single dialect setting explains the
 * length" (none explains any part of it).
 */
export function fitHint(fits: readonly DialectFit[]): string {
  if (fits.length === 0) return "no single dialect setting explains the length";
  const each = fits
    .map((f) =>
      f.left === undefined || f.left === 0 || f.surplus === undefined
        ? `with ${f.setting}: ${String(f.value)} it decodes exactly`
        : `with ${f.setting}: ${String(f.value)} ${f.surplus - f.left} of the ${f.surplus} surplus bytes are explained`,
    )
    .join(" or ");
  const names = fits.map((f) => f.setting).join(", ");
  return `${each}: check the dialect setting ${names} (the fields after the one it changes were read shifted)`;
}

/**
 * "B2 is 1 byte(s) shorter than its declaration (35 byte(s) after the type, 36 declared); with
 * b2AntennaId: false it decodes exactly: check ...", for a frame `dialectsFittingShorter` found fits for.
 */
export function shorterHint(type: string, data: Buffer, d: Dialect, fits: readonly DialectFit[]): string {
  const declared = declaredBodyLength(type, d);
  const body = data.length - 1;
  const by = declared === undefined ? "" : ` ${declared - body} byte(s)`;
  const sizes = declared === undefined ? `${body}` : `${body} byte(s) after the type, ${declared} declared`;
  return `${type} is${by} shorter than its declaration (${sizes}); ${fitHint(fits)}`;
}
