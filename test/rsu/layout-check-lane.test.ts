/**
 * End to end through the lane: the public sample B2 (with AntennaID) under the wrong `b2AntennaId` is
 * decoded by the lane's codec (createRsuCodec, its layout check: src/rsu/layout-check.ts) and judged by the
 * OBU machine in the controller, which stops the OBU (OBU_DATA_INVALID) rather than looking up a contract
 * serial read one byte off (docs/protocol.md §2). The controller runs on the fakes of the controller tests;
 * its commands stay readable ({ type: "CMD", cmd }), the RSU frames are real national frames.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_NATIONAL_DIALECT, type Dialect } from "../../firmware-bridge/frames/dialect.js";
import { type Rig, rig } from "../lane/controller-fakes.js";
import { NOW } from "../lane/machine-fixtures.js";
import { laneCodec, rsuSends } from "./national-lane.js";

/** The public lane sample B2 (docs/protocol.md §7): with AntennaID (01 after ErrorCode). */
const SAMPLE_B2 = "b2 652bc7a3 00 01 01 c9bdb6ab37010001 01 00 3701012023109155 20201124 20301124 10 20 01";

beforeEach(() => {
  vi.useFakeTimers({ now: NOW });
});
afterEach(() => {
  vi.useRealTimers();
});

async function openLane(d: Dialect): Promise<Rig> {
  const r = rig({ codec: laneCodec(d) });
  await r.open();
  expect(r.ctl.status.status).toBe("open");
  return r;
}

describe("the lane on the sample B2 under the wrong b2AntennaId", () => {
  it("b2AntennaId false (the default): the OBU is stopped OBU_DATA_INVALID, its serial never looked up", async () => {
    const d = DEFAULT_NATIONAL_DIALECT;
    const r = await openLane(d);
    const lookup = vi.spyOn(r.list, "lookup");
    const replies = rsuSends(r, SAMPLE_B2, d);
    await r.settle();
    expect(replies).toEqual([{ kind: "stop", obuId: "652bc7a3", stopType: 1, timeMs: NOW }]);
    expect(r.journal.records.map((x) => `${x.kind}:${x.outcome}`)).toEqual(["stop:OBU_DATA_INVALID"]);
    expect(lookup).not.toHaveBeenCalled();
  });

  it("b2AntennaId true (the right setting): the same B2 is not stopped, its contract serial is looked up", async () => {
    const d = { ...DEFAULT_NATIONAL_DIALECT, b2AntennaId: true };
    const r = await openLane(d);
    const lookup = vi.spyOn(r.list, "lookup");
    const replies = rsuSends(r, SAMPLE_B2, d);
    await r.settle();
    expect(replies.filter((c) => c.kind === "stop")).toEqual([]);
    expect(r.journal.records).toEqual([]);
    expect(lookup).toHaveBeenCalledWith(expect.objectContaining({ obuId: "3701012023109155" }));
  });
});
