/**
 * The lines of `etc-lane decode --capture` (src/rsu/analyse-capture.ts) as they can be shown without a card
 * number, as the lane's log shows frame bytes (src/log-frames.ts) unless `--full-ids`:
 * - a B4's card number (issuerInfo cardNetwork + cardSerial) masked as maskCardId masks it
 *   (`4301************9001`) wherever it stands in the line: its `cardSerial` (the masked number's last 16
 *   characters), `derived.cardNo`, and in the frame's `hex`;
 * - an RSU frame's `hex`, and `discarded` bytes, shown as the log shows them (src/rsu/mask-frames.ts
 *   frameForLog: RSU frames of declared types with each B4's number masked), else by their length and their
 *   frame header (src/log-frames.ts headOf); a frame's `extra` masked with the frame, else by its length;
 * - a card reader frame (decoded: its header checked, its CRC too) shown whole when it has no DATA, else its
 *   `hex` by its header and its `data` by its length (DATA may carry the card's files): headOf, as decoded;
 * - `undecoded` (the rest of a body that did not fit its layout) by its length.
 */
import { headOf } from "../log-frames.js";
import { maskCardId } from "../service/format.js";
import { frameForLog, maskNumbers } from "./mask-frames.js";

const HIDDEN = { not: "not shown", full: "--full-ids shows it" };
/** how a card reader frame's bytes (`hex`, past its header) or its DATA are hidden: they decoded */
const READER_HIDDEN = { ...HIDDEN, what: "decoded" as const };

export function maskCaptureLine(json: Record<string, unknown>): Record<string, unknown> {
  const numbers: string[] = [];
  const out: Record<string, unknown> = { ...json };
  const iss = json.issuerInfo as Record<string, unknown> | undefined;
  if (json.type === "B4" && typeof iss?.cardNetwork === "string" && typeof iss.cardSerial === "string") {
    const n = `${iss.cardNetwork}${iss.cardSerial}`;
    numbers.push(n.toLowerCase());
    out.issuerInfo = { ...iss, cardSerial: maskCardId(n).slice(iss.cardNetwork.length) };
  }
  const reader = json.reader !== undefined;
  let frameShown = false;
  if (typeof json.hex === "string") {
    const hex = json.hex;
    const shown = reader ? null : frameForLog(hex);
    if (shown !== null) {
      numbers.push(...shown.numbers);
      out.hex = maskNumbers(hex, numbers);
      frameShown = true;
    } else if (!reader && numbers.length > 0) {
      // a B4 the capture's dialect decoded, whose number the log's layouts do not place: masked where it is
      out.hex = maskNumbers(hex, numbers);
      frameShown = true;
    } else if (reader)
      // a frame with no DATA holds no card number: its bytes are its header, CRC and ETX
      out.hex = json.data === "" ? hex : headOf(hex, true, READER_HIDDEN);
    else out.hex = headOf(hex, true, HIDDEN);
  }
  if (typeof json.extra === "string")
    out.extra = frameShown ? maskNumbers(json.extra, numbers) : headOf(json.extra, false, HIDDEN);
  // the rest of a body that did not fit its layout (src/rsu/analyse.ts): a B4 cut short inside its card
  // file holds the number where no decoded field names it
  if (typeof json.undecoded === "string" && json.undecoded.length > 0)
    out.undecoded = headOf(json.undecoded, false, HIDDEN);
  if (reader && typeof json.data === "string" && json.data.length > 0)
    out.data = headOf(json.data, false, READER_HIDDEN);
  if (typeof json.discarded === "string" && json.discarded.length > 0) {
    const shown = frameForLog(json.discarded);
    out.discarded = shown ? shown.hex : headOf(json.discarded, true, HIDDEN);
  }
  return numbers.length > 0 ? (maskStrings(out, numbers) as Record<string, unknown>) : out;
}

/** `v` with each number in `numbers` (lower case) masked wherever it stands in a string, whatever its case. */
function maskStrings(v: unknown, numbers: readonly string[]): unknown {
  if (typeof v === "string") {
    let s = v;
    for (const n of numbers) {
      const at = s.toLowerCase().indexOf(n);
      if (at !== -1) s = s.replace(new RegExp(n, "gi"), (m) => maskCardId(m));
    }
    return s;
  }
  if (Array.isArray(v)) return v.map((x) => maskStrings(x, numbers));
  if (v !== null && typeof v === "object")
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, maskStrings(x, numbers)]));
  return v;
}
