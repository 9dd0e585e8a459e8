/** Card numbers inside raw RSU frames, masked for the CLI's JSON (src/rsu/mask-frames.ts). */
import { describe, expect, it } from "vitest";
import { cardNumbersInFrame, maskFrameCards } from "../../src/rsu/mask-frames.js";
import { CARD, legacyB4, MASKED, NATIONAL_B4, NATIONAL_CARD } from "./b4-frame.js";

describe("card numbers in raw frames", () => {
  it("a legacy B4 carries the card number as 20 hex digits: found by decoding, masked in place", () => {
    const raw = legacyB4();
    expect(raw).toContain("bafe00c4"); // the escape before the number
    expect(raw).toContain(CARD);
    expect(cardNumbersInFrame(raw, "legacy")).toEqual([CARD]);
    for (const [cardId, decode] of [
      [CARD, true], // the record's own number
      [null, true], // a stop before the lane took the card: decoded
      [CARD, false],
    ] as const) {
      const m = maskFrameCards(raw, "legacy", cardId, decode);
      expect(m).not.toContain(CARD);
      expect(m).toBe(raw.replace(CARD, MASKED));
    }
    // the B4 of a FRAME_INCOMPLETE stop (no last station): the number is still there, and masked
    const short = legacyB4({ lastStation: false });
    expect(maskFrameCards(short, "legacy", null, true)).toBe(short.replace(CARD, MASKED));
    // upper-case hex (how some records store it) too
    expect(maskFrameCards(raw.toUpperCase(), null, null, true)).toBe(raw.toUpperCase().replace(CARD, MASKED));
  });

  it("a national B4, with or without its EF04 block, also when the record names no protocol", () => {
    expect(cardNumbersInFrame(NATIONAL_B4, "national")).toEqual([NATIONAL_CARD]);
    expect(cardNumbersInFrame(NATIONAL_B4, null)).toEqual([NATIONAL_CARD]);
    const m = maskFrameCards(NATIONAL_B4, null, null, true);
    expect(m).toBe(NATIONAL_B4.replace(NATIONAL_CARD, "3701************5128"));
  });

  it("masks only on a byte boundary, and leaves a frame with no card as it is", () => {
    expect(maskFrameCards(`0${CARD}0`, null, CARD, false)).toBe(`0${CARD}0`);
    expect(maskFrameCards(`00${CARD}`, null, CARD, false)).toBe(`00${MASKED}`);
    expect(maskFrameCards("ffff38b5", "legacy", CARD, true)).toBe("ffff38b5");
    expect(maskFrameCards(null, "legacy", CARD, true)).toBeNull();
    expect(cardNumbersInFrame("not hex", null)).toEqual([]);
  });
});
