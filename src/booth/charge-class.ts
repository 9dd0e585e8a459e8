/**
 * Which vehicle class the booth charges a card at (docs/booth.md §3, "the vehicle class"): the case's (the
 * OBU's, B3, when the DSRC attempt read it), else the one the collector gave (`take --class N`), else the
 * card's (0015 byte 42) on a 2019 national-network card (version 0x40 and above, as record-0019.ts
 * layoutFor tells them; docs/protocol.md, 0019) when it is a JT/T 489 class (src/tariff/vehicle-class.ts):
 * an older card's byte 42, or a value outside JT/T 489, is no class, and the collector is asked. On an
 * exit whose card's 0019 ETC entry states another class than that (src/lane/card-rules.ts, the RSU path's
 * CLASS_MISMATCH), the booth does not choose: the collector's class when given, charged with both kept in
 * the record, else the collector is asked, the prompt naming both.
 */
import { classMismatch, entryClassOf } from "../lane/card-rules.js";
import { isVehicleClass } from "../tariff/vehicle-class.js";
import type { CardRead } from "./card-probe.js";
import type { BoothCase } from "./cases.js";

const ETC_ENTRY = 0x03;
/** 0015 cardVersion of the 2019 national-network cards (src/booth/record-0019.ts layoutFor) */
const NATIONAL_2019 = 0x40;

/** The card's own class: its 0015 byte 42 on a 2019 card, when that is a JT/T 489 class; else none. */
function cardClass(iss: Pick<CardRead["issuance"], "vehicleClass" | "cardVersion">): number | undefined {
  return iss.cardVersion >= NATIONAL_2019 && isVehicleClass(iss.vehicleClass) ? iss.vehicleClass : undefined;
}

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
  const chosen = c.vehicleClass ?? explicit ?? cardClass(card.issuance);
  if (chosen === undefined) return null;
  const entry = entryClassOf(role === "exit" && card.last?.status === ETC_ENTRY ? card.last : null);
  if (entry === null || !classMismatch(entry, chosen)) return chosen;
  return explicit ?? { entry, charged: chosen };
}
