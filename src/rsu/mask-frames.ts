/**
 * Card numbers inside raw RSU frames (the wire bytes as hex), masked for the CLI's outputs without
 * `--full-ids` (a record's `rawB4`, `rawB5`) and for the lane's log without `log.fullIds` (src/log-frames.ts). A B4 carries the card's file 0015, whose cardNetwork (2 bytes) and
 * cardSerial (8 BCD bytes) are the 20-digit card number (firmware-bridge/frames/records.ts), so it stands
 * in the hex as those 20 digits inside a longer run of hex, where maskCardIds (src/service/format.ts: a
 * number standing alone) does not see it. Those digits are masked as maskCardId masks a number
 * ("4301************9001"): the frame stays readable but no longer carries the number (nor decodes).
 */
import { defaultDialect } from "../../firmware-bridge/frames/dialect.js";
import type { Variant } from "../../firmware-bridge/framing/types.js";
import { maskCardId } from "../service/format.js";
import { decodeFrameBytes } from "./analyse.js";

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

/** What decoding a run of RSU frame bytes found, under every dialect it was tried with. */
interface FrameReading {
  /** The card numbers (cardNetwork + cardSerial of file 0015, lower case) of every B4 found. */
  numbers: string[];
  /**
   * Whether the run reads as RSU frames all through under one of the dialects (every byte in a frame of
   * a declared type, a checksum failure allowed) and, where it holds a B4, a card number was found in it.
   */
  decodes: boolean;
}

/**
 * `raw` decoded as the record's RSU protocol says (both when it says none), a national B4 with and
 * without its EF04 block: the two places file 0015 can stand.
 */
function readFrames(raw: string, rsuProtocol: string | null): FrameReading {
  if (!HEX_RE.test(raw)) return { numbers: [], decodes: false };
  const bytes = Buffer.from(raw, "hex");
  const variants: Variant[] =
    rsuProtocol === "legacy" || rsuProtocol === "national" ? [rsuProtocol] : ["legacy", "national"];
  const found = new Set<string>();
  let readsAll = false;
  let b4 = false;
  for (const v of variants)
    for (const b4Ef04 of v === "national" ? [true, false] : [false]) {
      const lines = decodeFrameBytes(bytes, { ...defaultDialect(v), b4Ef04 });
      let frames = 0;
      let checksumFailed = 0;
      let undeclared = false;
      for (const line of lines) {
        if (line.kind !== "frame") continue;
        frames++;
        if (line.json.checksum !== undefined) checksumFailed++;
        const type = line.json.type;
        if (typeof type !== "string" || type.startsWith("0x")) undeclared = true;
        if (type !== "B4") continue;
        b4 = true;
        const iss = line.json.issuerInfo as { cardNetwork?: unknown; cardSerial?: unknown } | undefined;
        if (typeof iss?.cardNetwork === "string" && typeof iss.cardSerial === "string")
          found.add(`${iss.cardNetwork}${iss.cardSerial}`.toLowerCase());
      }
      // each problem line is a checksum failure whose frame follows it, or bytes that are no frame
      const problems = lines.length - frames;
      if (frames > 0 && !undeclared && problems === checksumFailed) readsAll = true;
    }
  return { numbers: [...found], decodes: readsAll && (!b4 || found.size > 0) };
}

/**
 * The card numbers (cardNetwork + cardSerial of file 0015) of every B4 found in `raw`, decoded as the
 * record's RSU protocol says (both when it says none), a national B4 with and without its EF04 block.
 */
export function cardNumbersInFrame(raw: string, rsuProtocol: string | null): string[] {
  return readFrames(raw, rsuProtocol).numbers;
}

/**
 * Frame bytes the lane logs (src/log-frames.ts), as they can be shown without a card number: when they
 * read as RSU frames (either protocol), the hex with every card number of their B4s masked, and those
 * numbers (to mask them in the frame's other fields too); null when they do not (bytes discarded, a frame
 * of an undeclared type, a B4 whose file 0015 was not found), as nothing then says where a number stands.
 */
export function frameForLog(raw: string): { hex: string; numbers: string[] } | null {
  const r = readFrames(raw, null);
  return r.decodes ? { hex: maskNumbers(raw, r.numbers), numbers: r.numbers } : null;
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
