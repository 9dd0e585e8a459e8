/**
 * Fees the tariff charges as 0 fen: a fee of 0, or one the ETC discount brings to 0 (1 fen at 51 % or
 * more, any fee at 100 %). Each lets a vehicle pass as a paid exit with a debit of 0, so the tariff
 * refuses them (./tariff.ts) unless it opts in with `allowZeroFee: true` (free passage on a holiday);
 * with the opt-in, `run --check` and the lane's log at start name them (src/config/preflight.ts).
 * The table is finite: every route and class is checked when the tariff is loaded.
 */
import { applyDiscount } from "./discount.js";

export interface ZeroCharge {
  /** index in `routes` */
  route: number;
  /** the route's `from` as written */
  from: string;
  /** the fee key as written ("1", "01") */
  key: string;
  /** the fee before the discount, in fen */
  fee: number;
}

/**
 * Every route x class whose charge is 0 fen. Values the schema refuses (a non-integer fee, a discount out
 * of 0..100) are skipped: the schema names them.
 */
export function zeroCharges(
  routes: readonly { from: string; fees: Readonly<Record<string, unknown>> }[],
  discountPercent: unknown,
): ZeroCharge[] {
  if (
    !Number.isInteger(discountPercent) ||
    (discountPercent as number) < 0 ||
    (discountPercent as number) > 100
  )
    return [];
  const out: ZeroCharge[] = [];
  routes.forEach((r, route) => {
    for (const [key, fee] of Object.entries(r.fees)) {
      if (typeof fee !== "number" || !Number.isSafeInteger(fee) || fee < 0) continue;
      if (applyDiscount(fee, discountPercent as number) === 0) out.push({ route, from: r.from, key, fee });
    }
  });
  return out;
}

/** What a zero charge is, for the refusal and the notes: "a fee of 0 fen" or "fee 1 fen, 0 after the 60 % discount". */
export function zeroChargeText(fee: number, discountPercent: number): string {
  return fee === 0 ? "a fee of 0 fen" : `fee ${fee} fen, 0 fen after the ${discountPercent} % ETC discount`;
}
