import { describe, expect, it } from "vitest";
import { duration } from "../../src/service/format.js";

describe("duration (etc-lane status and the page: queue age, list ages, uptime)", () => {
  it("never shows a smaller unit rounded up to a whole larger one", () => {
    expect(duration(119_600)).toBe("2 min 0 s");
    expect(duration(3_599_600)).toBe("1 h 0 min");
    expect(duration(7_170_000)).toBe("2 h 0 min");
    expect(duration(86_399_000)).toBe("1 d 0 h");
    expect(duration(172_000_000)).toBe("2 d 0 h");
    expect(duration(59_600)).toBe("1 min 0 s");
    expect(duration(999.6)).toBe("1 s");
    expect(duration(-119_600)).toBe("-2 min 0 s");
  });

  it("shows each form as before away from the boundaries", () => {
    expect(duration(null)).toBe("-");
    expect(duration(850)).toBe("850 ms");
    expect(duration(45_200)).toBe("45 s");
    expect(duration(61_400)).toBe("1 min 1 s");
    expect(duration(3 * 3_600_000 + 12 * 60_000)).toBe("3 h 12 min");
    expect(duration(2 * 86_400_000 + 5 * 3_600_000)).toBe("2 d 5 h");
  });
});
