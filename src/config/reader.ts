/**
 * The lane config's `reader` section as the reader driver's options (firmware-bridge/reader/options.ts).
 */
import type { ReaderOptionsInput } from "../../firmware-bridge/reader/options.js";
import type { ReaderConfig } from "./schema.js";

export function readerOptionsFromConfig(r: ReaderConfig): ReaderOptionsInput {
  const t = r.timeouts;
  return {
    timeouts: {
      infoMs: t.infoMs,
      signalMs: t.signalMs,
      activateMs: t.activateMs,
      cardApduMs: t.cardApduMs,
      psamResetMs: t.psamResetMs,
      psamApduMs: t.psamApduMs,
    },
    stillWorkingMs: t.stillWorkingMs,
    maxCommandMs: t.maxCommandMs,
    interByteTimeoutMs: t.interByteMs,
    openTimeoutMs: t.openMs,
    maxFrameLength: r.link.maxFrameLength,
    pingIntervalMs: r.link.pingIntervalMs,
    silentLimit: r.link.silentLimit,
    nakRetries: r.link.nakRetries,
    reconnect: { initialDelayMs: r.link.backoffInitialMs, maxDelayMs: r.link.backoffMaxMs },
  };
}
