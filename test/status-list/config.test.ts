/** The status list's lane config fields (src/config/schema.ts StatusListSection) and how the lane uses them. */
import { describe, expect, it } from "vitest";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/index.js";
import { loadLaneConfig, parseLaneConfig } from "../../src/config/load.js";
import { openLane } from "../../src/lane/runtime.js";
import { tempDir } from "./helpers.js";

const base = (statusList: Record<string, unknown>, dataDir = "/tmp/x") => ({
  lane: { network: "4301", station: "0102", lane: 3, role: "entry" },
  rsu: { port: "in-process", protocol: "legacy" },
  statusList: { publicKey: TEST_PUBLIC_KEY_PATH, ...statusList },
  dataDir,
  tariff: "config/tariff.example.yaml",
  outputs: { sink: "log" },
});

describe("statusList config", () => {
  it("defaults: close with no list, 24 h hard age, trade past it", () => {
    expect(parseLaneConfig(base({}), "test").statusList).toMatchObject({
      fullMaxAgeMinutes: 2880,
      deltaMaxAgeMinutes: 30,
      hardMaxAgeMinutes: 1440,
      whenMissing: "close",
      whenPastHardAge: "trade",
    });
  });

  it("names the field and what was expected", () => {
    expect(() => parseLaneConfig(base({ whenMissing: "open", whenPastHardAge: 1 }), "lane.yaml")).toThrow(
      /lane\.yaml: invalid configuration\n {2}statusList\.whenMissing: expected "close" or "trade", got "open"\n {2}statusList\.whenPastHardAge: expected "close" or "trade", got 1$/,
    );
    expect(() => parseLaneConfig(base({ hardMaxAgeMinutes: 0 }), "lane.yaml")).toThrow(
      /statusList\.hardMaxAgeMinutes: expected minutes in 1\.\.525600/,
    );
    expect(() => parseLaneConfig(base({ hardMaxAgeMinutes: 30 }), "lane.yaml")).toThrow(
      /statusList\.hardMaxAgeMinutes: expected more minutes than deltaMaxAgeMinutes \(30\): a list is stale before it is past its hard age, got 30/,
    );
  });

  it("the example config documents the fields with their defaults", () => {
    expect(loadLaneConfig("config/lane.example.yaml").statusList).toMatchObject({
      // the production example names a station key to install and does not accept the simulator's
      publicKey: "/etc/etc-lane/station.pub.pem",
      allowTestKey: false,
      hardMaxAgeMinutes: 1440,
      whenMissing: "close",
      whenPastHardAge: "trade",
    });
  });

  it("the lane's list gets the configured limits", async () => {
    const tmp = tempDir();
    const config = parseLaneConfig(
      base({ fullMaxAgeMinutes: 600, deltaMaxAgeMinutes: 20, hardMaxAgeMinutes: 90 }, tmp.dir),
      "test",
    );
    const lane = await openLane(config, { transport: createTransportPair().lane, uplink: false });
    try {
      expect(lane.statusList.limits).toEqual({
        fullMaxAgeMs: 600 * 60_000,
        deltaMaxAgeMs: 20 * 60_000,
        hardMaxAgeMs: 90 * 60_000,
      });
      expect(lane.statusList.health()).toMatchObject({
        state: "missing",
        limits: { hardMaxAgeMs: 90 * 60_000 },
      });
    } finally {
      await lane.close();
      tmp.cleanup();
    }
  });
});
