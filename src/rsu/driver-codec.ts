/** Pick the codec for a dialect. */
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import type { RsuCodec } from "./driver.js";
import { createLegacyCodec } from "./driver-legacy.js";
import { createNationalCodec } from "./driver-national.js";
import { type ResultCodeTable, resultCodeTable } from "./result-codes.js";

/** `codes`: the B5/B8 ErrorCode classes (default: the variant's table in result-codes.ts). */
export function createRsuCodec(dialect: Dialect, codes?: ResultCodeTable): RsuCodec {
  const table = codes ?? resultCodeTable(dialect.variant);
  return dialect.variant === "legacy"
    ? createLegacyCodec(dialect, table)
    : createNationalCodec(dialect, table);
}
