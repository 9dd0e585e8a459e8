/**
 * Which single dialect setting would make a frame's body fit its declaration exactly. A frame longer than
 * its declaration is delivered with the surplus as `extra` (docs/protocol.md §2); when the surplus is the
 * width of a field one layout setting adds (B2 AntennaID: `b2AntennaId`; the 91-byte B4 EF04 block:
 * `b4Ef04`; the 0019 reserve: `lastStationLength`; the C6 Station's: `stationLength`), the RSU most likely
 * speaks the other setting, and every field after that one was read shifted. The link names the setting
 * in its warning (firmware-bridge/link/frame-channel.ts); the lane's codec refuses the fields such a
 * reading changes (src/rsu/layout-check.ts).
 */
import { decodeData } from "./catalogue.js";
import type { Dialect } from "./dialect.js";

/** The Dialect settings that change where a frame's fields lie, and their values. */
const LAYOUT_SETTINGS = {
  b2AntennaId: [false, true],
  b4Ef04: [false, true],
  lastStationLength: [39, 43],
  stationLength: [36, 40],
} as const;

export type LayoutSetting = keyof typeof LAYOUT_SETTINGS;

export interface DialectFit {
  readonly setting: LayoutSetting;
  /** The value under which the body decodes exactly (no `extra`). */
  readonly value: boolean | number;
  /** The configured dialect with that one setting changed. */
  readonly dialect: Dialect;
}

/**
 * For DATA (type byte first) that decodes under `d` with bytes left over, every single layout setting
 * whose other value makes it decode with none left over. Empty when none does, or when nothing is left.
 */
export function dialectsFitting(data: Buffer, d: Dialect): DialectFit[] {
  const fits: DialectFit[] = [];
  for (const [setting, values] of Object.entries(LAYOUT_SETTINGS) as [
    LayoutSetting,
    readonly (boolean | number)[],
  ][]) {
    for (const value of values) {
      if (value === d[setting]) continue;
      const alt = { ...d, [setting]: value } as Dialect;
      const r = decodeData(data, alt);
      if (r.ok && (r.frame as { extra?: string }).extra === undefined)
        fits.push({ setting, value, dialect: alt });
    }
  }
  return fits;
}

/** "with b2AntennaId: true it decodes exactly: check the dialect setting b2AntennaId (...)", or why not. */
export function fitHint(fits: readonly DialectFit[]): string {
  if (fits.length === 0) return "no single dialect setting explains the length";
  const each = fits.map((f) => `${f.setting}: ${String(f.value)}`).join(" or with ");
  const names = fits.map((f) => f.setting).join(", ");
  return `with ${each} it decodes exactly: check the dialect setting ${names} (the fields after the one it changes were read shifted)`;
}
