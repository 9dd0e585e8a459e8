/**
 * A national B2 with OBUID 00000000 and ErrorCode 0x80 (or 0x08) is an OBU's frame, not a heartbeat: the
 * national heartbeat is B1 (docs/protocol.md §5). The link delivers such a B2 as any
 * (test/link/answer-cache.test.ts); here the lane's national codec decodes it as an OBU's B2 and the lane
 * answers it as it answers any B2 with a non-zero ErrorCode: C2, the OBU stopped OBU_READ_FAILED
 * (docs/lane.md "Per-OBU state machine", idle / B2). The legacy codec still takes its B2 heartbeat as one.
 * The controller runs on the fakes of the controller tests, with the real codecs on real frames.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_LEGACY_DIALECT, DEFAULT_NATIONAL_DIALECT } from "../../firmware-bridge/frames/dialect.js";
import type { WireFrame } from "../../firmware-bridge/framing/types.js";
import { createRsuCodec } from "../../src/rsu/driver-codec.js";
import { rig } from "../lane/controller-fakes.js";
import { NOW } from "../lane/machine-fixtures.js";
import { laneCodec, national, rsuSends } from "./national-lane.js";

beforeEach(() => {
  vi.useFakeTimers({ now: NOW });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("the lane's codecs on a B2 with OBUID 0 and ErrorCode 0x80/0x08", () => {
  it("national: an OBU's B2 (kind obu, its OBUID and ErrorCode), never a heartbeat", () => {
    const codec = createRsuCodec(DEFAULT_NATIONAL_DIALECT);
    for (const code of [0x80, 0x08]) {
      const { frame, wire } = national(
        `b2 00000000 ${code.toString(16).padStart(2, "0")}`,
        DEFAULT_NATIONAL_DIALECT,
      );
      expect(codec.decode(frame, wire)).toMatchObject({
        kind: "obu",
        info: { obuId: "00000000", errorCode: code },
      });
    }
  });

  it("legacy: the B2 heartbeat it always was", () => {
    const codec = createRsuCodec(DEFAULT_LEGACY_DIALECT);
    for (const code of [0x80, 0x08]) {
      const frame = { type: "B2", obuId: "00000000", errorCode: code } as never;
      expect(codec.decode(frame, {} as WireFrame)).toEqual({ kind: "heartbeat" });
    }
  });
});

describe("a national RSU sends B2 00000000 80 on an open lane", () => {
  it("the lane answers it: C2, the OBU stopped OBU_READ_FAILED, as any B2 with a non-zero ErrorCode", async () => {
    const r = rig({ codec: laneCodec(DEFAULT_NATIONAL_DIALECT) });
    await r.open();
    expect(r.ctl.status.status).toBe("open");
    const replies = rsuSends(r, "b2 00000000 80", DEFAULT_NATIONAL_DIALECT);
    await r.settle();
    expect(replies).toEqual([{ kind: "stop", obuId: "00000000", stopType: 1, timeMs: NOW }]);
    expect(r.journal.records.map((x) => `${x.kind}:${x.outcome}`)).toEqual(["stop:OBU_READ_FAILED"]);
  });
});
