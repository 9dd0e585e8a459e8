import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { dialectFromConfig, loadLaneConfig, parseLaneConfig } from "../../src/config/index.js";
import { configErrorOf, MINIMAL_LANE_CONFIG } from "../config/helpers.js";

const minimal = MINIMAL_LANE_CONFIG;

const errorOf = configErrorOf;

describe("lane config", () => {
  it("fills documented defaults and resolves paths against the config directory", () => {
    const c = parseLaneConfig(minimal, "lane.yaml", "/etc/etc-lane");
    expect(c.rsu.baudRate).toBe(115200);
    expect(c.rsu.timing).toEqual({
      heartbeatPeriodMs: 10000,
      missedHeartbeats: 3,
      initTimeoutMs: 2000,
      initRetryMs: 3000,
    });
    expect(c.rsu.c0.transClass).toBe(1);
    expect(c.transaction.b5TimeoutMs).toBe(1000);
    expect(c.dataDir).toBe("/etc/etc-lane/data");
    expect(c.tariff).toBe("/etc/etc-lane/tariff.yaml");
    expect(c.statusList.publicKey).toBe("/etc/etc-lane/keys/station.pub");
    expect(c.lane.network).toBe("4301");
  });

  it("names the field and what was expected", () => {
    const m = errorOf({ ...minimal, lane: { ...minimal.lane, network: 4301, role: "middle" } });
    expect(m).toMatch(/lane\.network: expected the road network number as a 4-hex-digit string/);
    expect(m).toMatch(/lane\.role: expected "entry" or "exit"/);
  });

  it("refuses out-of-range timing and unknown fields", () => {
    const m = errorOf({ ...minimal, rsu: { ...minimal.rsu, timing: { heartbeatPeriodMs: 5 }, baud: 9600 } });
    expect(m).toMatch(/rsu\.timing\.heartbeatPeriodMs: expected milliseconds in 1000\.\.120000/);
    expect(m).toMatch(/rsu: unknown field\(s\) "baud"/);
  });

  it("station link options: defaults, and a bad value names the field", () => {
    const c = parseLaneConfig(
      { ...minimal, station: { url: "http://st:8640" } },
      "lane.yaml",
      "/etc/etc-lane",
    );
    expect(c.station).toEqual({
      url: "http://st:8640",
      batchSize: 500,
      requestTimeoutMs: 10000,
      breakerCoolDownMs: 30000,
      statusListPollMs: 150000,
    });
    expect(c.transaction.recoveryListenMs).toBe(800);
    const m = errorOf({ ...minimal, station: { url: "http://st:8640", breakerCoolDownMs: -1 } });
    expect(m).toMatch(/station\.breakerCoolDownMs: expected milliseconds in 1\.\.3600000/);
  });

  // review: a poll interval past the list's ages was taken without a word; the list was then past its
  // hard age before every poll (the lane closed, or traded on it, every day)
  it("refuses station.statusListPollMs at or past statusList.hardMaxAgeMinutes, naming both", () => {
    const m = errorOf({ ...minimal, station: { url: "http://st:8640", statusListPollMs: 86_400_000 } });
    expect(m).toMatch(
      /station\.statusListPollMs: expected less than statusList\.hardMaxAgeMinutes \(1440 min = 86400000 ms\), and less than statusList\.deltaMaxAgeMinutes \(30 min\) .*past its hard age before every poll \(whenPastHardAge: trade\), got 86400000/,
    );
    const h = errorOf({
      ...minimal,
      station: { url: "http://st:8640", statusListPollMs: 7_200_000 },
      statusList: {
        publicKey: "k.pem",
        deltaMaxAgeMinutes: 60,
        hardMaxAgeMinutes: 120,
        whenPastHardAge: "close",
      },
    });
    expect(h).toMatch(
      /station\.statusListPollMs: expected less than statusList\.hardMaxAgeMinutes \(120 min = 7200000 ms\).*\(whenPastHardAge: close\), got 7200000/,
    );
    // just under the hard age: taken (a note: test/config/dialect-notes.test.ts)
    const c = parseLaneConfig(
      {
        ...minimal,
        station: { url: "http://st:8640", statusListPollMs: 7_199_999 },
        statusList: { publicKey: "k.pem", deltaMaxAgeMinutes: 60, hardMaxAgeMinutes: 120 },
      },
      "lane.yaml",
      "/etc/etc-lane",
    );
    expect(c.station?.statusListPollMs).toBe(7_199_999);
  });

  it("status list: staleness limits and the overlay limit, defaults and a bad value named", () => {
    const c = parseLaneConfig(minimal, "lane.yaml", "/etc/etc-lane");
    expect(c.statusList).toEqual({
      publicKey: "/etc/etc-lane/keys/station.pub",
      allowTestKey: false,
      fullMaxAgeMinutes: 2880,
      deltaMaxAgeMinutes: 30,
      hardMaxAgeMinutes: 1440,
      whenMissing: "close",
      whenPastHardAge: "trade",
      alarmRepeatSeconds: 60,
      overlayMaxRows: 1_000_000,
      versionUtcOffsetMinutes: 480,
    });
    const m = errorOf({ ...minimal, statusList: { publicKey: "k.pem", deltaMaxAgeMinutes: 0 } });
    expect(m).toMatch(/statusList\.deltaMaxAgeMinutes: expected minutes in 1\.\.525600/);
    const a = errorOf({ ...minimal, statusList: { publicKey: "k.pem", alarmRepeatSeconds: 0 } });
    expect(a).toMatch(/statusList\.alarmRepeatSeconds: expected seconds in 1\.\.86400/);
    const o = errorOf({ ...minimal, statusList: { publicKey: "k.pem", overlayMaxRows: 10 } });
    expect(o).toMatch(/statusList\.overlayMaxRows: expected a number of entries in 1000\.\.100000000/);
  });

  it("reports a missing section", () => {
    const { rsu: _r, ...rest } = minimal;
    expect(errorOf(rest)).toMatch(/rsu:/);
  });

  // review: an entry lane had to name a tariff file it never reads (any string was taken, never checked)
  it("tariff: required for an exit lane (it charges with it), optional for an entry lane", () => {
    const { tariff: _t, ...noTariff } = minimal;
    expect(errorOf(noTariff)).toMatch(
      /\n {2}tariff: expected the path of the tariff YAML file: an exit lane charges with it/,
    );
    const entry = parseLaneConfig(
      { ...noTariff, lane: { ...minimal.lane, role: "entry" } },
      "lane.yaml",
      "/etc",
    );
    expect(entry.tariff).toBeUndefined();
    expect(entry.lane.role).toBe("entry");
  });

  it("builds the dialect from the protocol defaults plus overrides", () => {
    const c = parseLaneConfig({
      ...minimal,
      rsu: { ...minimal.rsu, protocol: "national", dialect: { b4Ef04: false, timeBase: "local-as-utc" } },
    });
    const d = dialectFromConfig(c);
    expect(d.variant).toBe("national");
    expect(d.b4Ef04).toBe(false);
    expect(d.timeBase).toBe("local-as-utc");
    expect(d.stationLength).toBe(40);
  });

  // review: one time base covered the RSU's frames and the card's 0019, so a national lane read a legacy
  // lane's entry time 8 h ahead (docs/protocol.md §4 "Card time base")
  it("rsu.dialect.cardTimeBase: local-as-utc by default for both protocols, set apart from timeBase, a bad value named", () => {
    const d = (protocol: "legacy" | "national", dialect: object = {}) =>
      dialectFromConfig(parseLaneConfig({ ...minimal, rsu: { ...minimal.rsu, protocol, dialect } }));
    expect([d("legacy").cardTimeBase, d("national").cardTimeBase]).toEqual(["local-as-utc", "local-as-utc"]);
    expect([d("legacy").timeBase, d("national").timeBase]).toEqual(["local-as-utc", "utc"]);
    const set = d("national", { cardTimeBase: "utc", timeBase: "local-as-utc" });
    expect([set.cardTimeBase, set.timeBase]).toEqual(["utc", "local-as-utc"]);
    expect(errorOf({ ...minimal, rsu: { ...minimal.rsu, dialect: { cardTimeBase: "UTC+8" } } })).toMatch(
      /\n {2}rsu\.dialect\.cardTimeBase: expected "local-as-utc" or "utc", got "UTC\+8"/,
    );
  });

  it("C0 PLLChannelID per protocol: legacy 0 or 1 (default 0), national 1 or 2 (01H/02H, default 1)", () => {
    const withC0 = (protocol: "legacy" | "national", c0?: object) => ({
      ...minimal,
      rsu: { ...minimal.rsu, protocol, ...(c0 ? { c0 } : {}) },
    });
    const pll = (protocol: "legacy" | "national", c0?: object) =>
      parseLaneConfig(withC0(protocol, c0)).rsu.c0.pllChannelId;
    expect([pll("legacy"), pll("national")]).toEqual([0, 1]);
    expect([pll("legacy", { pllChannelId: 1 }), pll("national", { pllChannelId: 2 })]).toEqual([1, 2]);
    expect(errorOf(withC0("national", { pllChannelId: 0 }))).toMatch(
      /rsu\.c0\.pllChannelId: expected 1 \(01H, channel 1\) or 2 \(02H, channel 2\) with protocol national, got 0/,
    );
    expect(errorOf(withC0("legacy", { pllChannelId: 2 }))).toMatch(
      /rsu\.c0\.pllChannelId: expected 0 or 1 with protocol legacy, got 2/,
    );
  });

  // review: legacy with StopType 3 was taken; legacy C2 has StopType 1 and 2 only (the simulator took 3 as 1)
  it("rsu.alreadyTradedStopType 3 only with protocol national: refused with legacy, naming field and protocol", () => {
    const withStop = (protocol: "legacy" | "national", alreadyTradedStopType?: number) => ({
      ...minimal,
      rsu: {
        ...minimal.rsu,
        protocol,
        ...(alreadyTradedStopType === undefined ? {} : { alreadyTradedStopType }),
      },
    });
    const stop = (protocol: "legacy" | "national", t?: number) =>
      parseLaneConfig(withStop(protocol, t)).rsu.alreadyTradedStopType;
    expect([stop("legacy"), stop("legacy", 1), stop("national"), stop("national", 3)]).toEqual([1, 1, 1, 3]);
    expect(() => parseLaneConfig(withStop("legacy", 3))).toThrow(
      /rsu\.alreadyTradedStopType: expected 1 with protocol legacy \(legacy C2 has StopType 1 and 2 only; 3 is the national lane dialect's\), got 3/,
    );
  });

  it("loads the shipped example and reports YAML syntax errors with the file name", () => {
    const c = loadLaneConfig(join(import.meta.dirname, "../../config/lane.example.yaml"));
    expect(c.lane.role).toBe("exit");
    const dir = mkdtempSync(join(tmpdir(), "lane-cfg-"));
    const f = join(dir, "bad.yaml");
    writeFileSync(f, "lane: [unclosed\n");
    expect(() => loadLaneConfig(f)).toThrow(/bad\.yaml: not valid YAML/);
  });
});
