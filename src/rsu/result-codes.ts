/**
 * What a B5/B8 ErrorCode says about the card (docs/protocol.md §6): ErrorCode 00 is success; every other
 * code is "failed" (the RSU reports the card untouched: no money moved) or "uncertain" (the debit may or
 * may not have happened: C8/B8, else a suspect record). The classes are a table per wire variant, with
 * defaults from the public error-code lists docs/protocol.md §6 names, and per-lane overrides in
 * the config (`rsu.dialect.resultCodes`). A code the table does not name is uncertain: a code we do not
 * know can never let the lane believe that nothing happened.
 */
import type { Variant } from "../../firmware-bridge/framing/types.js";
import type { ResultClass } from "./driver.js";

export type ResultCodeClass = "failed" | "uncertain";

export interface ResultCodeTable {
  readonly b5: ReadonlyMap<number, ResultCodeClass>;
  readonly b8: ReadonlyMap<number, ResultCodeClass>;
}

/** Config form: "0xNN" -> class, per frame. */
export interface ResultCodeOverrides {
  b5?: Record<string, ResultCodeClass> | undefined;
  b8?: Record<string, ResultCodeClass> | undefined;
}

type Defaults = Record<"b5" | "b8", Record<number, ResultCodeClass>>;

const F = "failed" as const;
const U = "uncertain" as const;

/** B8 (both variants): no code says the card was untouched; 05 brings a TAC but an EF04 failure. */
const B8_DEFAULTS: Record<number, ResultCodeClass> = { 1: U, 2: U, 3: U, 4: U, 5: U };

/**
 * Defaults per variant (docs/protocol.md §6 gives the sources and the reasoning per code).
 * National: the gantry interface v3.x B5 list. Legacy: 01 from the legacy protocol, 06 (PSAM MAC1) as in
 * the national list, and one lane-RSU firmware's B5 codes (10/11 purchase init, 13 MAC1: before the debit;
 * 16/17 purchase, 19 MAC2: at or after it).
 */
export const DEFAULT_RESULT_CODES: Readonly<Record<Variant, Defaults>> = {
  national: {
    b5: {
      1: U, // no DSRC response during the purchase
      2: F, // decode error (the RSU did not run the purchase)
      6: F, // PSAM MAC1 failed: before the DEBIT
      7: U, // MAC2 verify failed: the card has already debited
      8: U, // TAC failed: after the DEBIT
      9: F, // OBU external authentication failed: before the purchase
      // a single-chip OBU's transaction-record file update != 9000: the reference does not place it
      // relative to the purchase, and the lane takes single-chip OBUs, so it cannot say "nothing happened"
      10: U,
      11: F, // 0B-0F: CPC writes (no money)
      12: F,
      13: F,
      14: F,
      15: F,
      16: F, // EF04-only update failed (no purchase asked)
      17: F, // purchase-only failed
      18: F, // EF04 written, purchase failed
      19: F, // both failed
      20: U, // EF04 failed but the purchase went through: the TAC must be fetched
      255: F, // test frame
    },
    b8: B8_DEFAULTS,
  },
  legacy: {
    b5: {
      1: U, // no DSRC response during the purchase
      6: F, // PSAM MAC1 failed: before the DEBIT
      16: F, // purchase initialisation failed
      17: F,
      19: F, // MAC1 != 9000
      22: U, // purchase failed: the card may have debited before the error
      23: U,
      25: U, // MAC2 failed: after the DEBIT
    },
    b8: B8_DEFAULTS,
  },
};

/** "0x0A" -> 10; throws on anything else (the config schema checks the form first). */
export function parseCode(key: string): number {
  const m = /^0x([0-9a-fA-F]{2})$/.exec(key);
  if (!m) throw new Error(`result code "${key}": expected "0xNN"`);
  return Number.parseInt(m[1] as string, 16);
}

/** The variant's defaults with the configured overrides (a configured code replaces its default). */
export function resultCodeTable(variant: Variant, overrides: ResultCodeOverrides = {}): ResultCodeTable {
  const d = DEFAULT_RESULT_CODES[variant];
  const build = (base: Record<number, ResultCodeClass>, o: Record<string, ResultCodeClass> | undefined) => {
    const m = new Map<number, ResultCodeClass>(Object.entries(base).map(([k, v]) => [Number(k), v]));
    for (const [k, v] of Object.entries(o ?? {})) {
      const code = parseCode(k);
      if (code === 0) throw new Error("result code 0x00 is success and cannot be reclassed");
      m.set(code, v);
    }
    return m;
  };
  return { b5: build(d.b5, overrides.b5), b8: build(d.b8, overrides.b8) };
}

/** 00 success; a code the table names: its class; any other code: uncertain. */
export function classify(code: number, table: ReadonlyMap<number, ResultCodeClass>): ResultClass {
  if (code === 0) return "ok";
  return table.get(code) ?? "uncertain";
}
