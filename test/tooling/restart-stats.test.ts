/**
 * The restart benchmark's reading of the simulated RSU's frame log (test/bench/restart.ts replyStats): the
 * first start's second left out, the window after each restarted lane's B0, the answers cut off by a kill
 * left out, retransmits not counted as first sends, and an answer the RSU did not take (ignored) no
 * answer, while one it took with a note of its own (a C2 resend) is.
 */
import { expect, it } from "vitest";
import { replyStats } from "../bench/restart.js";

type Dir = "rx" | "tx";
const f = (t: number, dir: Dir, type: string, more: Record<string, unknown> = {}) => {
  const { obuId, controlType, note, handling } = more as {
    obuId?: string;
    controlType?: number;
    note?: string;
    handling?: string;
  };
  return {
    t,
    dir,
    frame: { type, ...(obuId ? { obuId } : {}), ...(controlType !== undefined ? { controlType } : {}) },
    ...(note ? { note } : {}),
    ...(handling ? { handling } : {}),
  };
};

// review (2026-12-07): an accepted answer with a note (C2 stop type 2, "resend current frame") was counted
// as no answer, the RSU giving up
it("takes each first send's answer in its window, leaves out the first start and the kill margin", () => {
  const frames = [
    // the first start: C0, B0, antenna on; its first second is left out
    f(0, "rx", "C0"),
    f(20, "tx", "B0"),
    f(30, "rx", "C4", { controlType: 1 }),
    f(100, "tx", "B2", { obuId: "A0000001" }),
    f(105, "rx", "C1", { obuId: "A0000001" }),
    // elsewhere: 4 ms
    f(2000, "tx", "B2", { obuId: "B0000002" }),
    f(2004, "rx", "C1", { obuId: "B0000002" }),
    // killed at open + 3000 ms = the C4 (30) + 3000: within 600 ms of it, left out
    f(2500, "tx", "B3", { obuId: "B0000002" }),
    f(2510, "rx", "C1", { obuId: "B0000002" }),
    // the restart
    f(3500, "rx", "C0"),
    f(3520, "tx", "B0"),
    f(3530, "rx", "C4", { controlType: 1 }),
    // in the window: ignored, then repeated, then never answered (the RSU went on to others)
    f(3600, "tx", "B2", { obuId: "C0000003" }),
    f(3610, "rx", "C1", { obuId: "C0000003", handling: "ignored: C1 for another OBU" }),
    f(3720, "tx", "B2", { obuId: "C0000003", note: "retransmit" }),
    // in the window: answered by a C2 resend the RSU took (60 ms)
    f(3700, "tx", "B3", { obuId: "E0000005" }),
    f(3760, "rx", "C2", { obuId: "E0000005", handling: "resend current frame" }),
    // in the window: 5 ms
    f(4200, "tx", "B2", { obuId: "D0000004" }),
    f(4205, "rx", "C1", { obuId: "D0000004" }),
    // after the window: 3 ms
    f(5000, "tx", "B3", { obuId: "D0000004" }),
    f(5003, "rx", "C1", { obuId: "D0000004" }),
    // the legacy heartbeat is no vehicle's frame
    f(6000, "tx", "B2", { obuId: "00000000" }),
  ].sort((a, b) => a.t - b.t);
  const lanes = [
    { openAt: 1_000_000, endAt: 1_003_000 },
    { openAt: 2_000_000, endAt: 2_010_000 },
  ];
  const r = replyStats(frames, lanes);
  expect(r.antennaOns).toBe(2);
  expect(r.after).toEqual({ latencies: [60, 5], firstSends: 3, gaveUp: 1 });
  expect(r.elsewhere).toEqual({ latencies: [4, 3], firstSends: 2, gaveUp: 0 });
});
