/** The status list's lane config fields (src/config/schema.ts StatusListSection) and how the lane uses them. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import {
  buildBundle,
  TEST_PRIVATE_KEY_PATH,
  TEST_PUBLIC_KEY_PATH,
  versionAt,
} from "../../sim/status-list/index.js";
import { loadLaneConfig, parseLaneConfig } from "../../src/config/load.js";
import { openLane } from "../../src/lane/runtime.js";
import { tempDir } from "./helpers.js";

const base = (statusList: Record<string, unknown>, dataDir = "/tmp/x", rsuOffsetMinutes?: number) => ({
  lane: { network: "4301", station: "0102", lane: 3, role: "entry" },
  rsu: {
    port: "in-process",
    protocol: "legacy",
    ...(rsuOffsetMinutes === undefined ? {} : { dialect: { utcOffsetMinutes: rsuOffsetMinutes } }),
  },
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
      versionUtcOffsetMinutes: 480,
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
    expect(() => parseLaneConfig(base({ versionUtcOffsetMinutes: 900 }), "lane.yaml")).toThrow(
      /statusList\.versionUtcOffsetMinutes: expected minutes in -720\.\.840, got 900/,
    );
    expect(() => parseLaneConfig(base({ versionUtcOffsetMinutes: 470 }), "lane.yaml")).toThrow(
      /statusList\.versionUtcOffsetMinutes: expected a multiple of 15 minutes .*, got 470/,
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
      versionUtcOffsetMinutes: 480,
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

  // review (session 38): the station's versions were read at rsu.dialect.utcOffsetMinutes, the RSU's wire
  // offset: a lane whose RSU speaks UTC refused every station list as versioned 8 h ahead (E509) and had none
  it("the lane reads the station's versions at statusList.versionUtcOffsetMinutes (default +08:00), whatever the RSU's offset", async () => {
    const key = readFileSync(TEST_PRIVATE_KEY_PATH);
    const now = Date.now();
    // the station's lists of now, versioned as the station issues them (UTC+8)
    const fullList = buildBundle({
      kind: "full",
      version: versionAt(now),
      privateKeyPem: key,
      rows: [],
      createdAt: now,
    });
    const tmp = tempDir();
    try {
      // an RSU whose times are UTC, the version offset left at its default
      const lane = await openLane(parseLaneConfig(base({}, `${tmp.dir}/a`, 0), "test"), {
        transport: createTransportPair().lane,
        uplink: false,
      });
      try {
        await lane.applyStatusList(fullList, "test");
        expect(lane.statusList.versions()).toEqual({ full: versionAt(now), delta: null });
        expect(lane.statusList.health().state).toBe("ok");
      } finally {
        await lane.close();
      }
      // a station said to write its versions in UTC: the same list reads as 8 h ahead, refused
      const utc = await openLane(
        parseLaneConfig(base({ versionUtcOffsetMinutes: 0 }, `${tmp.dir}/b`), "test"),
        { transport: createTransportPair().lane, uplink: false },
      );
      try {
        await expect(utc.applyStatusList(fullList, "test")).rejects.toMatchObject({
          code: "E509_BUNDLE_AHEAD_OF_CLOCK",
          message: expect.stringMatching(/read at \+00:00 .*8\.0 h after it was made/),
        });
        expect(utc.statusList.versions()).toEqual({ full: null, delta: null });
      } finally {
        await utc.close();
      }
    } finally {
      tmp.cleanup();
    }
  });
});
