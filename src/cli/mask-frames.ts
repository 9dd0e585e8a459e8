/**
 * Card numbers inside a record's raw RSU frames (`rawB4`, `rawB5`: the wire bytes as hex), masked for the
 * CLI's outputs without `--full-ids`. A B4 carries the card's file 0015, whose cardNetwork (2 bytes) and
 * cardSerial (8 BCD bytes) are the 20-digit card number (firmware-bridge/frames/records.ts), so it stands
 * in the hex as those 20 digits inside a longer run of hex, where maskCardIds (src/service/format.ts: a
 * number standing alone) does not see it. Those digits are masked as maskCardId masks a number
 * ("4301************9001"): the frame stays readable but no longer carries the number (nor decodes).
 */
import { defaultDialect } from "../../firmware-bridge/frames/dialect.js";
import type { Variant } from "../../firmware-bridge/framing/types.js";
import { decodeFrameBytes } from "../rsu/analyse.js";
import { maskCardId } from "../service/format.js";

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

/**
 * The card numbers (cardNetwork + cardSerial of file 0015) of every B4 found in `raw`, decoded as the
 * record's RSU protocol says (both when it says none), a national B4 with and without its EF04 block.
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
  let out = raw;
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
