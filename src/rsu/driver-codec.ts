/** Pick the codec for a dialect. */
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import type { RsuCodec } from "./driver.js";
import { createLegacyCodec } from "./driver-legacy.js";
import { createNationalCodec } from "./driver-national.js";
import { withLayoutCheck } from "./layout-check.js";
import { type ResultCodeTable, resultCodeTable } from "./result-codes.js";

/**
 * `codes`: the B5/B8 ErrorCode classes (default: the variant's table in result-codes.ts). A frame that
 * another value of one layout setting reads with less surplus (none or some), or complete where it was
 * short, gives no value that reading would change (./layout-check.ts).
 */
export function createRsuCodec(dialect: Dialect, codes?: ResultCodeTable): RsuCodec {
  const table = codes ?? resultCodeTable(dialect.variant);
  const plain = (d: Dialect): RsuCodec =>
    d.variant === "legacy" ? createLegacyCodec(d, table) : createNationalCodec(d, table);
  return withLayoutCheck(plain(dialect), plain);
}
