/** Pick the codec for a dialect. */
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import type { RsuCodec } from "./driver.js";
import { createLegacyCodec } from "./driver-legacy.js";
import { createNationalCodec } from "./driver-national.js";

export function createRsuCodec(dialect: Dialect): RsuCodec {
  return dialect.variant === "legacy" ? createLegacyCodec(dialect) : createNationalCodec(dialect);
}
