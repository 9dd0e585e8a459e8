/** The per-type answer table agrees with the frame declarations it sits next to. */
import { describe, expect, it } from "vitest";
import { ANSWER_RULES, answerRule } from "../../firmware-bridge/frames/answer-policy.js";
import { catalogueFor } from "../../firmware-bridge/frames/catalogue.js";

describe("answer policy table", () => {
  for (const variant of ["legacy", "national"] as const) {
    const cat = catalogueFor(variant);
    const rsuFrames = [...cat.byType.values()].filter((d) => d.direction === "rsu-to-lane");

    it(`${variant}: every RSU frame has a rule, and every rule names an RSU frame of the catalogue`, () => {
      expect(Object.keys(ANSWER_RULES[variant]).sort()).toEqual(rsuFrames.map((d) => d.type).sort());
    });

    it(`${variant}: the link answers by itself only with a reply the frame's declaration lists`, () => {
      for (const d of rsuFrames) {
        const rule = answerRule(d.type, variant);
        const own = rule === "ack-when-late" ? "ACK" : rule === "heartbeat-cf" ? "CF" : undefined;
        expect({ type: d.type, ok: own === undefined || d.replies.includes(own) }).toEqual({
          type: d.type,
          ok: true,
        });
        // A frame the RSU retransmits until answered has a deadline rule; a heartbeat answer is not one.
        expect({ type: d.type, rule: rule === "heartbeat-cf" && d.informational === true }).toEqual({
          type: d.type,
          rule: false,
        });
      }
    });
  }

  it("B2..B8 are answered by a command only; B0 may get an empty ACK; a type the table does not name gets none", () => {
    for (const variant of ["legacy", "national"] as const) {
      for (const t of ["B2", "B3", "B4", "B5", "B8"]) expect(answerRule(t, variant)).toBe("command");
      expect(answerRule("B0", variant)).toBe("ack-when-late");
      expect(answerRule("B9", variant)).toBe("command");
      expect(answerRule("constructor", variant)).toBe("command");
    }
    expect(answerRule("B1", "national")).toBe("heartbeat-cf");
  });
});
