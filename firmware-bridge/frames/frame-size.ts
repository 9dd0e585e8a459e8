/**
 * The longest frame a catalogue declares, worked out from its declarations: the floor of the RSU link's
 * `deframer.maxFrameLength` (firmware-bridge/link/options.ts), so that a limit that would drop a
 * declared frame (a national B4 with EF04, 284 bytes) is refused instead of discarding every one.
 */
import { encodeLegacy } from "../framing/legacy.js";
import { encodeNational } from "../framing/national.js";
import type { Variant } from "../framing/types.js";
import { catalogueFor } from "./catalogue.js";
import type { AnyField } from "./fields.js";
import type { FrameDef } from "./frame-def.js";

/**
 * Bytes of `fields` at their widest: every optional and dialect field present, a variable-width one at
 * its maximum, a repeated list empty (its length is the RSU's PSAM and antenna counts, not the layout's).
 */
function widest(fields: readonly AnyField[]): number {
  let n = 0;
  for (const f of fields) {
    const s = f.codec.shape;
    if (s.kind === "struct") n += widest(s.fields);
    else if (s.kind !== "repeat") n += s.bytes;
  }
  return n;
}

/** DATA (the type byte and the fields) of `def` at its widest. */
export function longestData(def: FrameDef): number {
  return 1 + widest(def.fields);
}

/**
 * On the wire, DATA of `dataBytes`: national adds its fixed envelope (FF FF, VER, SEQ, LEN 4, CRC 2);
 * legacy adds FF FF, RSCTL, BCC and the ETX FF and escapes RSCTL..BCC, so at worst each of those bytes is
 * doubled (FE 00 / FE 01, firmware-bridge/framing/legacy.ts).
 */
export function longestWire(variant: Variant, dataBytes: number): number {
  if (variant === "national") return encodeNational(0, Buffer.alloc(dataBytes)).length;
  const unescaped = encodeLegacy(0, Buffer.alloc(dataBytes)).length; // no byte escaped
  return unescaped + (1 + dataBytes + 1); // RSCTL, DATA and BCC each take 2 bytes
}

/** The longest frame of the variant's catalogue on the wire, and its type. */
export function longestFrame(variant: Variant): { type: string; bytes: number } {
  let best = { type: "", bytes: 0 };
  for (const def of catalogueFor(variant).byCode.values()) {
    const bytes = longestWire(variant, longestData(def));
    if (bytes > best.bytes) best = { type: def.type, bytes };
  }
  return best;
}
