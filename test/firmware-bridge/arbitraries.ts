/**
 * fast-check arbitraries generated from the frame declarations themselves, so every frame type and
 * every field is covered without listing them by hand.
 */
import fc from "fast-check";
import { catalogueFor, type Frame } from "../../firmware-bridge/frames/catalogue.js";
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import type { AnyField, FieldShape } from "../../firmware-bridge/frames/fields.js";
import type { FrameDef } from "../../firmware-bridge/frames/frame-def.js";
import type { Variant } from "../../firmware-bridge/framing/types.js";

const TEXT_CHARS = ["京", "沪", "粤", "测", "苏", "A", "B", "Z", "0", "1", "9", " ", "-", "学", "警"];

/** Bytes biased towards FF and FE so escaping is exercised everywhere. */
export const wireByte = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 255 }) },
  { weight: 2, arbitrary: fc.constantFrom(0xff, 0xfe, 0x00, 0x01) },
);

function hexOf(bytes: number): fc.Arbitrary<string> {
  return fc
    .array(wireByte, { minLength: bytes, maxLength: bytes })
    .map((a) => Buffer.from(a).toString("hex"));
}

function shapeArb(shape: FieldShape, d: Dialect): fc.Arbitrary<unknown> {
  switch (shape.kind) {
    case "uint": {
      const max = 2 ** (8 * shape.bytes) - 1;
      return fc.oneof(fc.integer({ min: 0, max }), fc.constantFrom(0, max, 0xfe, 0xff, max - 1));
    }
    case "hex":
      return hexOf(shape.bytes);
    case "bcd":
      return fc
        .array(fc.integer({ min: 0, max: 9 }), { minLength: shape.bytes * 2, maxLength: shape.bytes * 2 })
        .map((a) => a.join(""));
    case "text":
      // GB2312 is 2 bytes per Chinese character; keep the encoded width within the field.
      return fc.array(fc.constantFrom(...TEXT_CHARS), { maxLength: shape.bytes }).map((a) => {
        let s = "";
        let w = 0;
        for (const ch of a) {
          const cw = ch.charCodeAt(0) > 0x7f ? 2 : 1;
          if (w + cw > shape.bytes) break;
          s += ch;
          w += cw;
        }
        return s;
      });
    case "struct":
      return fieldsArb(shape.fields, d, false);
    case "repeat":
      return fc.array(fieldsArb(shape.item, d, false), { maxLength: 4 });
  }
}

/**
 * An object for a field list. With `allowShort`, optional tails are cut at a random field boundary
 * (the short error forms); trailing `extra` bytes are added only to complete frames.
 */
export function fieldsArb(
  fields: readonly AnyField[],
  d: Dialect,
  allowShort: boolean,
): fc.Arbitrary<Record<string, unknown>> {
  const present = fields.filter((f) => f.presentIn === undefined || f.presentIn(d));
  const rec: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of present) rec[f.name] = shapeArb(f.codec.shape, d);
  const firstOptional = present.findIndex((f) => f.optional);
  const cut =
    allowShort && firstOptional >= 0
      ? fc.integer({ min: firstOptional, max: present.length })
      : fc.constant(present.length);
  return fc.tuple(fc.record(rec), cut).map(([value, k]) => {
    const out: Record<string, unknown> = {};
    present.forEach((f, i) => {
      if (i < k) out[f.name] = value[f.name];
    });
    // A repeat's count field must equal the number of items.
    for (const f of present) {
      if (f.codec.shape.kind === "repeat" && Array.isArray(out[f.name])) {
        out[f.codec.shape.countField] = (out[f.name] as unknown[]).length;
      }
    }
    return out;
  });
}

export function frameArb(def: FrameDef, d: Dialect): fc.Arbitrary<Frame> {
  const complete = (v: Record<string, unknown>): boolean =>
    def.fields.every((f) => (f.presentIn !== undefined ? !f.presentIn(d) || f.name in v : f.name in v));
  return fc
    .tuple(fieldsArb(def.fields, d, true), fc.option(hexOf(3), { nil: undefined }))
    .map(([v, extra]) => {
      const frame: Record<string, unknown> = { type: def.type, ...v };
      if (extra !== undefined && complete(v)) frame.extra = extra;
      return frame as unknown as Frame;
    });
}

export function anyFrameArb(variant: Variant, d: Dialect): fc.Arbitrary<Frame> {
  const defs = [...catalogueFor(variant).byCode.values()];
  return fc.oneof(...defs.map((def) => frameArb(def, d)), fc.constant({ type: "ACK" } as Frame));
}
