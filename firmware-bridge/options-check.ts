/**
 * The range check behind the link's and the reader's option resolvers (link/options.ts,
 * reader/options.ts): a bad value is an EtcError ConfigInvalid naming the option and what was expected.
 */
import { ErrorCodes, EtcError } from "./errors.js";

/** `v` as a number in min..max (an integer when `integer`); else throws naming `${owner} options.${field}`. */
export function checkedNumber(
  owner: string,
  field: string,
  v: unknown,
  min: number,
  max: number,
  integer: boolean,
): number {
  if (typeof v !== "number" || Number.isNaN(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `${owner} options.${field} must be ${integer ? "an integer" : "a number"} in ${min}..${max}, got ${String(v)}`,
      { field, value: v },
    );
  }
  return v;
}
