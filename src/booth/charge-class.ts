/**
 * Which vehicle class the booth charges a card at (docs/booth.md §3, "the vehicle class"): the case's (the
 * OBU's, B3, when the DSRC attempt read it), else the one the collector gave (`take --class N`), else the
 * card's (0015 byte 42). On an exit whose card's 0019 ETC entry states another class than that
 * (src/lane/card-rules.ts, the RSU path's CLASS_MISMATCH), the booth does not choose: the collector's class
 * when given, charged with both kept in the record, else the collector is asked, the prompt naming both.
 */
import { classMismatch, entryClassOf } from "../lane/card-rules.js";
import type { CardRead } from "./card-probe.js";
import type { BoothCase } from "./cases.js";

const ETC_ENTRY = 0x03;

/**
 * The class to charge; null when there is none (the collector gives one); `{ entry, charged }` when the
 * card's entry class differs from the class the booth would charge and the collector gave none.
 */
export function classToCharge(
  c: Pick<BoothCase, "vehicleClass">,
  card: Pick<CardRead, "issuance" | "last">,
  explicit: number | undefined,
  role: "entry" | "exit",
): number | null | { entry: number; charged: number } {
  const chosen =
    c.vehicleClass ?? explicit ?? (card.issuance.vehicleClass > 0 ? card.issuance.vehicleClass : undefined);
  if (chosen === undefined) return null;
  const entry = entryClassOf(role === "exit" && card.last?.status === ETC_ENTRY ? card.last : null);
  if (entry === null || !classMismatch(entry, chosen)) return chosen;
  return explicit ?? { entry, charged: chosen };
}
