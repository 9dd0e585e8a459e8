/**
 * Whether the reader that came up can serve this booth, from its INFO (docs/booth.md §9): the PSAM slot
 * the booth debits with (`reader.psamSlot`) must be one the reader has, and the largest frame it takes
 * must hold the booth's frames (MIN_READER_FRAME_LENGTH, firmware-bridge/reader/options.ts: the same
 * floor the lane's own `reader.link.maxFrameLength` has). Otherwise the mistake would show only at the
 * first vehicle ("no PSAM in the slot", or frames dropped as oversize).
 */
import type { ReaderInfo } from "../../firmware-bridge/reader/card-reader.js";
import { MIN_READER_FRAME_LENGTH } from "../../firmware-bridge/reader/options.js";

/** Why this reader cannot serve the booth (naming the setting and what INFO said), or undefined. */
export function readerUnfit(info: ReaderInfo, psamSlot: number): string | undefined {
  const why: string[] = [];
  if (psamSlot > info.psamSlots)
    why.push(
      `reader.psamSlot is ${psamSlot} but the reader's INFO says it has ${info.psamSlots} PSAM slot(s)`,
    );
  if (info.maxFrameLength < MIN_READER_FRAME_LENGTH)
    why.push(
      `the reader's INFO says it takes frames of at most ${info.maxFrameLength} bytes; the booth needs ${MIN_READER_FRAME_LENGTH}`,
    );
  return why.length > 0 ? why.join("; ") : undefined;
}
