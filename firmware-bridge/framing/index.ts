export * from "./bytes.js";
export * from "./crc.js";
export * from "./deframer.js";
export * from "./legacy.js";
export * from "./national.js";
export * from "./types.js";

import { LegacyDeframer } from "./legacy.js";
import { NationalDeframer } from "./national.js";
import type { Deframer, DeframerOptions, Variant } from "./types.js";

export function createDeframer(variant: Variant, opts: DeframerOptions = {}): Deframer {
  return variant === "legacy" ? new LegacyDeframer(opts) : new NationalDeframer(opts);
}
