/**
 * Card numbers inside raw RSU frames (the wire bytes as hex), masked for the CLI's outputs without
 * `--full-ids` (a record's `rawB4`, `rawB5`) and for the lane's log without `log.fullIds` (src/log-frames.ts). A B4 carries the card's file 0015, whose cardNetwork (2 bytes) and
 * cardSerial (8 BCD bytes) are the 20-digit card number (firmware-bridge/frames/records.ts), so it stands
 * in the hex as those 20 digits inside a longer run of hex, where maskCardIds (src/service/format.ts: a
 * number standing alone) does not see it. Those digits are masked as maskCardId masks a number
 * ("4301************9001"): the frame stays readable but no longer carries the number (nor decodes).
 * The CLI masks every number it finds in a record's frame (maskFrameCards); the lane's log shows frame bytes
 * masked only where each B4 has its file 0015 where its layout puts it, else only their header
 * (frameForLog).
 */
import { catalogueFor, decodeData } from "../../firmware-bridge/frames/catalogue.js";
import { type Dialect, defaultDialect } from "../../firmware-bridge/frames/dialect.js";
import { declaredBodyLength, isComplete } from "../../firmware-bridge/frames/dialect-fit.js";
import { createDeframer, type Variant } from "../../firmware-bridge/framing/index.js";
import { maskCardId } from "../service/format.js";
import { candidateData, decodeFrameBytes } from "./analyse.js";

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

/**
 * The card numbers (cardNetwork + cardSerial of file 0015, lower case) of every B4 found in `raw`, decoded as
 * the record's RSU protocol says (both when it says none), a national B4 with and without its EF04 block:
 * the two places file 0015 can stand. A B4 cut short after its file 0015 (a FRAME_INCOMPLETE stop) counts
 * too: the CLI masks what it finds in a record's `rawB4` (maskFrameCards) and shows the rest.
 */
export function cardNumbersInFrame(raw: string, rsuProtocol: string | null): string[] {
  if (!HEX_RE.test(raw)) return [];
  const bytes = Buffer.from(raw, "hex");
  const variants: Variant[] =
    rsuProtocol === "legacy" || rsuProtocol === "national" ? [rsuProtocol] : ["legacy", "national"];
  const found = new Set<string>();
  for (const v of variants)
    for (const b4Ef04 of v === "national" ? [true, false] : [false])
      for (const line of decodeFrameBytes(bytes, { ...defaultDialect(v), b4Ef04 })) {
        if (line.kind !== "frame" || line.json.type !== "B4") continue;
        const iss = line.json.issuerInfo as { cardNetwork?: unknown; cardSerial?: unknown } | undefined;
        if (typeof iss?.cardNetwork === "string" && typeof iss.cardSerial === "string")
          found.add(`${iss.cardNetwork}${iss.cardSerial}`.toLowerCase());
      }
  return [...found];
}

const B4_CODE = 0xb4;
/** File 0015's card types (firmware-bridge/frames/records.ts): 0x16 stored value, 0x17 credit. */
const CARD_TYPES: ReadonlySet<unknown> = new Set([0x16, 0x17]);

/**
 * The layouts a B4 is read under in the log, per protocol, longest first: the default one and the other
 * value of the setting that changes its length (national: the 91-byte EF04 block just before file 0015;
 * legacy: the last station's 4-byte reserve, after it). `fixed`: its DATA bytes after the type byte.
 */
const B4_LAYOUTS: Record<Variant, readonly { d: Dialect; fixed: number }[]> = {
  national: layouts(defaultDialect("national"), { b4Ef04: true }, { b4Ef04: false }),
  legacy: layouts(defaultDialect("legacy"), { lastStationLength: 43 }, { lastStationLength: 39 }),
};

function layouts(base: Dialect, ...settings: Partial<Dialect>[]): { d: Dialect; fixed: number }[] {
  return settings
    .map((s) => {
      const d = { ...base, ...s } as Dialect;
      return { d, fixed: declaredBodyLength("B4", d) ?? 0 };
    })
    .sort((a, b) => b.fixed - a.fixed);
}

/**
 * The card number of a B4's DATA (type byte first) when its file 0015 is where the layout puts it: the
 * body decodes exactly under the longest layout it is long enough for (every declared field, no byte
 * after them), its card number is 20 decimal digits and its card type one a card has. Else null: a body
 * that is not one of the layouts (a vendor's, a B4 cut short) may hold the card number anywhere, so no
 * number read from it says where the real one stands. One decode.
 */
function b4CardNumber(data: Buffer, v: Variant): string | null {
  const layout = B4_LAYOUTS[v].find((l) => data.length - 1 >= l.fixed);
  if (layout === undefined) return null;
  const r = decodeData(data, layout.d);
  if (!r.ok || r.frame.type !== "B4" || r.frame.extra !== undefined || !isComplete(r.frame, layout.d))
    return null;
  const iss = r.frame.issuerInfo;
  const n = iss ? `${iss.cardNetwork}${iss.cardSerial}` : "";
  return /^[0-9]{20}$/.test(n) && CARD_TYPES.has(iss?.cardType) ? n : null;
}

/**
 * The DATA of every frame in `bytes` as `v` frames them, when they all are frames (a checksum failure
 * allowed) of types `v` declares; null when a byte is outside a frame or a type is not declared.
 */
function framesOf(bytes: Buffer, v: Variant): Buffer[] | null {
  const deframer = createDeframer(v, { maxFrameLength: 65_536 });
  const out: Buffer[] = [];
  const codes = catalogueFor(v).byCode;
  for (const ev of [...deframer.push(bytes, 0), ...deframer.tick(Number.MAX_SAFE_INTEGER)]) {
    let data: Buffer | undefined;
    if (ev.kind === "frame") data = ev.frame.data;
    else if (ev.kind === "checksum-error") data = candidateData(ev.candidate, defaultDialect(v))?.data;
    else if (ev.reason === "checksum") continue; // the candidate's bytes, rescanned: its checksum-error said it
    if (data === undefined || (data.length > 0 && !codes.has(data[0] as number))) return null;
    out.push(data);
  }
  return out.length > 0 ? out : null;
}

/**
 * Frame bytes the lane logs (src/log-frames.ts), as they can be shown without a card number: when they are
 * RSU frames of declared types (either protocol, a checksum failure allowed) and each B4 among them has its
 * card number where its layout puts it (b4CardNumber), the hex with those numbers masked, and the numbers
 * (to mask them in the frame's other fields too); null otherwise (bytes discarded, a frame of an undeclared
 * type, a B4 of another layout or cut short), as nothing then says where a number stands. Only a B4's body
 * is decoded (the one frame with a file 0015), once; other frames are shown as they are.
 */
export function frameForLog(raw: string): { hex: string; numbers: string[] } | null {
  // both protocols' frames start FF FF: other bytes (a card reader frame, noise, a frame's tail) are none
  if (!/^ffff/i.test(raw) || !HEX_RE.test(raw)) return null;
  const bytes = Buffer.from(raw, "hex");
  // a national frame's third byte is its VER (0), a legacy one's its RSCTL (never 0): that one first
  const variants: readonly Variant[] = bytes[2] === 0 ? ["national", "legacy"] : ["legacy", "national"];
  for (const v of variants) {
    const frames = framesOf(bytes, v);
    if (frames === null) continue;
    const numbers: string[] = [];
    for (const data of frames) {
      if (data[0] !== B4_CODE) continue;
      const n = b4CardNumber(data, v);
      if (n === null) return null;
      numbers.push(n);
    }
    return { hex: maskNumbers(raw, numbers), numbers };
  }
  return null;
}

/**
 * `raw` with every byte-aligned occurrence of a card number masked (compared without regard to case):
 * the record's own `cardId` (the lane took it from this B4's file 0015), else, when `decode` (a raw B4)
 * and the record has no card id or it is not in the frame (a B4 the lane stopped on before taking the
 * card: FRAME_INCOMPLETE, CARD_READ_FAILED...), the numbers the frame itself carries (cardNumbersInFrame;
 * decoding costs, so only then).
 */
export function maskFrameCards(
  raw: string | null,
  rsuProtocol: string | null,
  cardId: string | null,
  decode: boolean,
): string | null {
  if (raw === null) return null;
  const lower = raw.toLowerCase();
  const own = cardId && cardId.length > 8 ? cardId.toLowerCase() : null;
  const numbers =
    own !== null && aligned(lower, own).length > 0
      ? [own]
      : [...(own ? [own] : []), ...(decode ? cardNumbersInFrame(raw, rsuProtocol) : [])];
  return maskNumbers(raw, numbers);
}

/** `hex` with each byte-aligned occurrence of the (lower-case) `numbers` masked, whatever its case. */
export function maskNumbers(hex: string, numbers: readonly string[]): string {
  const lower = hex.toLowerCase();
  let out = hex;
  for (const n of numbers)
    for (const i of aligned(lower, n))
      out = out.slice(0, i) + maskCardId(out.slice(i, i + n.length)) + out.slice(i + n.length);
  return out;
}

/** Where `n` starts in `hex` on a byte boundary (an even index). */
function aligned(hex: string, n: string): number[] {
  const at: number[] = [];
  for (let i = hex.indexOf(n); i !== -1; i = hex.indexOf(n, i + 1)) if (i % 2 === 0) at.push(i);
  return at;
}
