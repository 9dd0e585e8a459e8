/**
 * The vehicle classes of JT/T 489: passenger 1-4, goods 11-16, special-purpose 21-26. The lane stops an
 * OBU that gives another (VEHICLE_CLASS_INVALID, src/lane/obu-machine.ts) and the booth refuses a
 * collector's `--class` outside them (src/booth/case-desk.ts).
 */
export const VEHICLE_CLASSES: ReadonlySet<number> = new Set([
  1, 2, 3, 4, 11, 12, 13, 14, 15, 16, 21, 22, 23, 24, 25, 26,
]);

/** "1-4, 11-16, 21-26", for messages. */
export const VEHICLE_CLASSES_TEXT = "1-4, 11-16, 21-26";

export const isVehicleClass = (n: number): boolean => VEHICLE_CLASSES.has(n);
