/**
 * Notes on settings taken but doing nothing. A dialect key of the other protocol changes nothing on the wire (b4Ef04, b2AntennaId are
 * read by national frames only, stationLength, lastStationLength by legacy ones): `run --check` and `run`
 * note it (src/config/preflight.ts configNotes), naming the field; so is a log sink whose lines log.level drops,
 * and a status-list poll no more often than the list's delta age (the list stale for part of every poll).
 */
import { describe, expect, it } from "vitest";
import { parseLaneConfig } from "../../src/config/index.js";
import { configNotes } from "../../src/config/preflight.js";
import { MINIMAL_LANE_CONFIG } from "./helpers.js";

const lane = (protocol: string, dialect: Record<string, unknown>) =>
  parseLaneConfig(
    { ...MINIMAL_LANE_CONFIG, rsu: { port: "/dev/ttyUSB0", protocol, dialect } },
    "lane.yaml",
    "/etc/etc-lane",
  );

describe("dialect keys of the other protocol", () => {
  it("a legacy lane with b2AntennaId and b4Ef04: a note each, naming the field", () => {
    expect(configNotes(lane("legacy", { b2AntennaId: true, b4Ef04: false, stationLength: 36 }))).toEqual([
      {
        path: "rsu.dialect.b4Ef04",
        message: expect.stringMatching(/^national only: a legacy RSU's B4 has no EF04 block; .*does nothing/),
      },
      {
        path: "rsu.dialect.b2AntennaId",
        message: expect.stringMatching(/^national only: a legacy RSU's B2 has no AntennaID; .*does nothing/),
      },
    ]);
  });

  it("a national lane with stationLength and lastStationLength: a note each; its own keys none", () => {
    expect(
      configNotes(
        lane("national", {
          stationLength: 36,
          lastStationLength: 39,
          b4Ef04: true,
          b2AntennaId: true,
          cardTimeBase: "local-as-utc",
        }),
      ).map((n) => n.path),
    ).toEqual(["rsu.dialect.stationLength", "rsu.dialect.lastStationLength"]);
  });
});

// review: the cardTimeBase note fired for a national lane only, and said it used utc before; but before
// 32972df6 the 0019 time was in the lane's effective timeBase, configurable for both protocols: a national
// lane with timeBase local-as-utc was told to set utc (moving its 0019 base 8 h), and a legacy lane with
// timeBase utc, whose base did change, was told nothing
describe("rsu.dialect.cardTimeBase unset: noted where the effective timeBase, its base before, is not local-as-utc", () => {
  const cardNotes = (protocol: string, dialect: Record<string, unknown>) =>
    configNotes(lane(protocol, dialect)).filter((n) => n.path === "rsu.dialect.cardTimeBase");
  const advising = (base: string) => [
    {
      path: "rsu.dialect.cardTimeBase",
      message: expect.stringMatching(
        new RegExp(
          `^not set: this version reads and writes the card's 0019 entry/exit time as local-as-utc \\(the default\\) where earlier versions used this lane's timeBase \\(${base}\\), .*set cardTimeBase: ${base} until they all are`,
        ),
      ),
    },
  ];

  it("a national lane with the default timeBase (utc): a note advising utc", () => {
    expect(cardNotes("national", {})).toEqual(advising("utc"));
  });

  it("a legacy lane with timeBase utc: a note advising utc", () => {
    expect(cardNotes("legacy", { timeBase: "utc" })).toEqual(advising("utc"));
  });

  it("a national lane with timeBase local-as-utc: none (its 0019 base does not change)", () => {
    expect(cardNotes("national", { timeBase: "local-as-utc" })).toEqual([]);
  });

  it("a legacy lane with the default timeBase (local-as-utc), or either lane with cardTimeBase set: none", () => {
    expect(cardNotes("legacy", {})).toEqual([]);
    for (const cardTimeBase of ["local-as-utc", "utc"]) {
      expect(cardNotes("legacy", { timeBase: "utc", cardTimeBase }), cardTimeBase).toEqual([]);
      expect(cardNotes("national", { cardTimeBase }), cardTimeBase).toEqual([]);
    }
  });
});

describe("outputs.sink log with a log level that drops its lines", () => {
  const withLog = (sink: string, level: string) =>
    parseLaneConfig(
      { ...MINIMAL_LANE_CONFIG, outputs: { sink }, log: { level } },
      "lane.yaml",
      "/etc/etc-lane",
    );

  it("log.level warn or error: a note on outputs.sink naming the level; info, or the console sink: none", () => {
    for (const level of ["warn", "error"])
      expect(configNotes(withLog("log", level))).toEqual([
        {
          path: "outputs.sink",
          message: expect.stringContaining(`at level info, which log.level ${level} drops`),
        },
      ]);
    expect(configNotes(withLog("log", "info"))).toEqual([]);
    expect(configNotes(withLog("console", "error"))).toEqual([]);
  });
});

// review: an hourly poll with the default 30 min delta age passed run --check without a word, and the list
// was then stale (STATUS_LIST_STALE on every vehicle) for half of every hour
describe("station.statusListPollMs against statusList.deltaMaxAgeMinutes", () => {
  const polled = (statusListPollMs: number | undefined) =>
    parseLaneConfig(
      {
        ...MINIMAL_LANE_CONFIG,
        station: { url: "http://st:8640", ...(statusListPollMs === undefined ? {} : { statusListPollMs }) },
      },
      "lane.yaml",
      "/etc/etc-lane",
    );

  it("a poll at or past the delta age: a note naming both fields", () => {
    for (const ms of [1_800_000, 3_600_000])
      expect(configNotes(polled(ms)), String(ms)).toEqual([
        {
          path: "station.statusListPollMs",
          message: expect.stringMatching(
            new RegExp(
              `^${ms} ms is at least statusList\\.deltaMaxAgeMinutes \\(30 min = 1800000 ms\\): .*stale for part of every poll, with the STATUS_LIST_STALE alarm .*statusList\\.alarmRepeatSeconds, 60 s`,
            ),
          ),
        },
      ]);
  });

  it("a shorter poll, the default, or no station: no note", () => {
    expect(configNotes(polled(1_799_999))).toEqual([]);
    expect(configNotes(polled(undefined))).toEqual([]);
    expect(configNotes(parseLaneConfig(MINIMAL_LANE_CONFIG, "lane.yaml", "/etc/etc-lane"))).toEqual([]);
  });
});
