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

  it("the declared replies of B5 and B8 are every frame the lane answers them with (docs/protocol.md §5)", () => {
    // B5: C1 paid, C2 failed or a suspect, C8 uncertain with a serial, an empty ACK to a late one
    // (src/lane/obu-machine.ts, src/lane/late-answers.ts); B8: C1 proved, C2 failed or a suspect, ACK late
    for (const variant of ["legacy", "national"] as const) {
      const cat = catalogueFor(variant);
      expect({ variant, B5: cat.byType.get("B5")?.replies, B8: cat.byType.get("B8")?.replies }).toEqual({
        variant,
        B5: ["C1", "C2", "C8", "ACK"],
        B8: ["C1", "C2", "ACK"],
      });
    }
  });

  it("every reply an RSU frame declares is a lane frame of its catalogue or the empty ACK", () => {
    for (const variant of ["legacy", "national"] as const) {
      const cat = catalogueFor(variant);
      for (const d of cat.byType.values()) {
        if (d.direction !== "rsu-to-lane") continue;
        for (const r of d.replies)
          expect({
            variant,
            frame: d.type,
            reply: r,
            lane: r === "ACK" || cat.byType.get(r)?.direction === "lane-to-rsu",
          }).toEqual({
            variant,
            frame: d.type,
            reply: r,
            lane: true,
          });
      }
    }
  });

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
