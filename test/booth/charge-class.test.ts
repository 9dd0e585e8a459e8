/**
 * The class the booth charges (src/booth/charge-class.ts): the case's, the collector's, the card's 0015
 * (byte 42, on a 2019 card only, and only a JT/T 489 class); on an exit whose card's 0019 ETC entry states
 * another class, the collector decides (CLASS_MISMATCH's rule, src/lane/card-rules.ts), and the record
 * keeps both classes (src/booth/booth-records.ts).
 */
import { describe, expect, it } from "vitest";
import type { CardRead } from "../../src/booth/card-probe.js";
import { classToCharge } from "../../src/booth/charge-class.js";

const entered = (vehicleClass: number, status = 0x03): CardRead["last"] => ({
  network: "4301",
  station: "0101",
  lane: 1,
  timeMs: 0,
  vehicleClass,
  status,
  plate: "湘A12345",
});
/** A card of version `cardVersion` (default 0x40: a 2019 national-network card) whose 0015 byte 42 is `cardClass`. */
const cardWith = (
  last: CardRead["last"],
  cardClass = 0,
  cardVersion = 0x40,
): Pick<CardRead, "issuance" | "last"> => ({
  issuance: { vehicleClass: cardClass, cardVersion } as CardRead["issuance"],
  last,
});

describe("the booth's class: the card's 0019 entry class against the class it would charge", () => {
  it("a case stopped before B3, no class given, card 0015 class 0, 0019 class 12: not charged at any class, the collector is asked naming 12", () => {
    expect(classToCharge({ vehicleClass: null }, cardWith(entered(12)), undefined, "exit")).toBeNull();
  });

  it("the class the booth would charge differs from the 0019 entry class and the collector gave none: asked, naming both", () => {
    // the case's (B3) class 1, the entry's 12
    expect(classToCharge({ vehicleClass: 1 }, cardWith(entered(12)), undefined, "exit")).toEqual({
      entry: 12,
      charged: 1,
    });
    // the card's 0015 class 1, the entry's 12
    expect(classToCharge({ vehicleClass: null }, cardWith(entered(12), 1), undefined, "exit")).toEqual({
      entry: 12,
      charged: 1,
    });
  });

  it("with the collector's class (take --class N) the booth charges it, even against the case's", () => {
    expect(classToCharge({ vehicleClass: 1 }, cardWith(entered(12)), 12, "exit")).toBe(12);
    expect(classToCharge({ vehicleClass: null }, cardWith(entered(12)), 1, "exit")).toBe(1);
  });

  it("no mismatch: an entry class equal to the class charged, a class of 0, no ETC entry, an entry lane", () => {
    expect(classToCharge({ vehicleClass: 12 }, cardWith(entered(12)), undefined, "exit")).toBe(12);
    expect(classToCharge({ vehicleClass: 1 }, cardWith(entered(0)), undefined, "exit")).toBe(1);
    expect(classToCharge({ vehicleClass: 1 }, cardWith(entered(12, 0x04)), undefined, "exit")).toBe(1);
    expect(classToCharge({ vehicleClass: 1 }, cardWith(null), undefined, "exit")).toBe(1);
    expect(classToCharge({ vehicleClass: 1 }, cardWith(entered(12)), undefined, "entry")).toBe(1);
  });
});

describe("the card's own class (0015 byte 42): a 2019 card's, a JT/T 489 class, else none (the collector is asked)", () => {
  it("a 2019 card (version 0x40 and above) with a JT/T 489 class: that class", () => {
    expect(classToCharge({ vehicleClass: null }, cardWith(null, 1, 0x40), undefined, "exit")).toBe(1);
    expect(classToCharge({ vehicleClass: null }, cardWith(null, 26, 0x41), undefined, "exit")).toBe(26);
  });

  it("a card older than 2019 (version below 0x40): its byte 42 is not a class, whatever it holds", () => {
    expect(classToCharge({ vehicleClass: null }, cardWith(null, 0xff, 0x10), undefined, "exit")).toBeNull();
    expect(classToCharge({ vehicleClass: null }, cardWith(null, 1, 0x3f), undefined, "exit")).toBeNull();
  });

  it("a 2019 card whose byte 42 is outside JT/T 489 (0, 5, 0xff): none", () => {
    for (const b of [0, 5, 10, 27, 0xff])
      expect(classToCharge({ vehicleClass: null }, cardWith(null, b, 0x40), undefined, "exit")).toBeNull();
  });

  it("the case's or the collector's class comes first, whatever the card's byte 42", () => {
    expect(classToCharge({ vehicleClass: 12 }, cardWith(null, 0xff, 0x10), undefined, "exit")).toBe(12);
    expect(classToCharge({ vehicleClass: null }, cardWith(null, 0xff, 0x10), 2, "exit")).toBe(2);
  });
});
