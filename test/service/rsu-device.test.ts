/**
 * The snapshot's `rsu.device` (src/service/runtime-snapshot.ts rsuView) is the RSU's last B0 whatever the
 * lane's state (docs/maintenance.md): closed by a B0 whose PSAM is not authorised, closed by an operator,
 * the device and its PSAMs stay on the page and in `etc-lane status`.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { LaneRuntime } from "../../src/lane/runtime.js";
import { rsuView } from "../../src/service/runtime-snapshot.js";
import { type Rig, RSU_OK, rig } from "../lane/controller-fakes.js";
import { NOW } from "../lane/machine-fixtures.js";

beforeEach(() => {
  vi.useFakeTimers({ now: NOW });
});
afterEach(() => {
  vi.useRealTimers();
});

const device = (r: Rig) =>
  rsuView(
    {
      link: { state: { status: "up", since: 0 }, counters: {} },
      controller: r.ctl,
    } as unknown as LaneRuntime,
    null,
    () => NOW,
  ).device;

describe("rsu.device while the lane is closed", () => {
  it("is null before the first B0, then the last B0's, also the one that keeps the lane closed", async () => {
    const r = rig();
    await r.ctl.start();
    r.link.up();
    await r.settle();
    expect(device(r)).toBeNull();
    const unauthorised = [{ terminalId: "010203040506", authorised: false }];
    r.link.frame({ kind: "rsu-status", status: { ...RSU_OK, rsuId: "000009", psams: unauthorised } });
    await r.settle();
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "rsu-fault" });
    expect(device(r)).toEqual({ rsuId: "000009", version: "0100", psams: unauthorised });
  });

  it("stays the device of the B0 that opened the lane after an operator closes it", async () => {
    const r = rig();
    await r.open();
    expect(r.ctl.status.status).toBe("open");
    await r.ctl.closeLane({ name: "wang", uid: 1000 }, "barrier maintenance");
    await r.settle();
    expect(r.ctl.status).toMatchObject({ status: "closed", reason: "operator" });
    expect(device(r)).toEqual({ rsuId: RSU_OK.rsuId, version: RSU_OK.version, psams: RSU_OK.psams });
  });
});
