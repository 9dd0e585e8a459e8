/**
 * Schema messages a new user meets (src/config/schema.ts): rsu.port in the form `run` connects to,
 * station.url http(s) only with one message, and a station example that is a station number.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { loadLaneConfig, parseLaneConfig, rsuTcpPort } from "../../src/config/index.js";
import { FETCH_BLOCKED_PORTS } from "../../src/config/station-url.js";
import { configErrorOf, MINIMAL_LANE_CONFIG } from "./helpers.js";

const minimal = MINIMAL_LANE_CONFIG;

const errorOf = configErrorOf;

/** The lines of a refused config's message after its first (`lane.yaml: invalid configuration`), trimmed. */
const issueLinesOf = (raw: unknown) =>
  errorOf(raw)
    .split("\n")
    .slice(1)
    .map((l) => l.trim());

const withPort = (port: unknown) => ({ ...minimal, rsu: { ...minimal.rsu, port } });
const withUrl = (url: unknown) => ({ ...minimal, station: { url } });

describe("config field messages", () => {
  it("rsu.port: tcp://host:port with a port in 1..65535, or a serial path; no other scheme", () => {
    for (const port of [
      "tcp://10.0.0.5",
      "tcp://:99999",
      "tcp://10.0.0.5:0",
      "tcp://10.0.0.5:65536",
      "tcp:10.0.0.5:1",
      // session 35 review: a host no connect can reach was taken, and the RSU shown down with no config error
      "tcp://a b@c:21003",
      "tcp://a..b:21003",
      "tcp://.rsu:21003",
      "tcp://[::1]:21003",
    ])
      expect(errorOf(withPort(port)), port).toMatch(
        /rsu\.port: expected tcp:\/\/host:port with a host name or IPv4 address and a port in 1\.\.65535, e\.g\. "tcp:\/\/10\.0\.0\.5:21003", got /,
      );
    expect(errorOf(withPort("udp://10.0.0.5:21003"))).toMatch(
      /rsu\.port: expected a serial device path or tcp:\/\/host:port \(tcp is the only network scheme\)/,
    );
    for (const port of [
      "/dev/ttyUSB0",
      "/dev/serial/by-id/usb-x-if00",
      "tcp://10.0.0.5:21003",
      "tcp://rsu.local:1/",
      "tcp://rsu-2.lane3.example:21003",
      "tcp://localhost:21003",
      // a hosts-file alias may carry an underscore, and the system resolver takes it (second review)
      "tcp://rsu_1:21003",
    ])
      expect(parseLaneConfig(withPort(port)).rsu.port).toBe(port);
    expect(rsuTcpPort("tcp://10.0.0.5:21003")).toEqual({ host: "10.0.0.5", port: 21003 });
    expect(rsuTcpPort("/dev/ttyUSB0")).toBeNull();
  });

  it("station.url: http or https with a host, one message naming the field", () => {
    for (const url of ["ftp://127.0.0.1:8640", "not a url", "127.0.0.1:8640", "file:///tmp/x"]) {
      const m = errorOf(withUrl(url));
      expect(m, url).toMatch(
        /station\.url: expected an http:\/\/ or https:\/\/ URL, e\.g\. http:\/\/station\.local:8080, got /,
      );
      expect(m.match(/station\.url/g), url).toHaveLength(1);
    }
    expect(parseLaneConfig(withUrl("https://station.example:8443/api")).station?.url).toBe(
      "https://station.example:8443/api",
    );
  });

  // review (session 38): a station.url on a port fetch never connects to (6000, 10080, ...) was taken, and
  // every request failed with "bad port" for as long as the lane ran
  it("station.url: a port fetch refuses (a Fetch Standard bad port) is refused naming the field and the port", () => {
    for (const [url, port] of [
      ["http://127.0.0.1:6000", 6000],
      ["https://station.example:10080/api", 10080],
      ["http://station.local:22", 22],
    ] as const) {
      const m = errorOf(withUrl(url));
      expect(m, url).toContain(
        `station.url: expected a port the lane's HTTP client (fetch) connects to: port ${port} is a "bad port" ` +
          `of the Fetch Standard, which it never connects to, got "${url}"`,
      );
      expect(m.match(/station\.url/g), url).toHaveLength(1);
    }
    for (const url of [
      "http://station.local",
      "https://station.local",
      "http://127.0.0.1:8640",
      "http://st:6001",
    ])
      expect(parseLaneConfig(withUrl(url)).station?.url).toBe(url);
  });

  it("the bad ports of src/config/station-url.ts are the ports this Node's fetch refuses (each, and the ports beside them)", async () => {
    const refuses = async (port: number): Promise<boolean> => {
      try {
        await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) });
      } catch (e) {
        return (e as { cause?: { message?: string } }).cause?.message === "bad port";
      }
      return false;
    };
    const near = [...FETCH_BLOCKED_PORTS].flatMap((p) => [p - 1, p, p + 1]).filter((p) => p > 0);
    const refused = new Set<number>();
    await Promise.all(
      [...new Set(near)].map(async (p) => {
        if (await refuses(p)) refused.add(p);
      }),
    );
    expect([...refused].sort((a, b) => a - b)).toEqual([...FETCH_BLOCKED_PORTS].sort((a, b) => a - b));
  });

  // review: `log.file: ""` was taken and meant stderr, silently
  it("log.file: a path, never an empty one (left out, the log goes to stderr)", () => {
    expect(errorOf({ ...minimal, log: { file: "" } })).toMatch(
      /log\.file: expected the path of the log file/,
    );
    expect(parseLaneConfig({ ...minimal, log: {} }).log.file).toBeUndefined();
  });

  it("lane.station's example is a station number, lane.network's a network number", () => {
    expect(errorOf({ ...minimal, lane: { ...minimal.lane, station: "01XZ" } })).toMatch(
      /lane\.station: expected the station number as 4 hex digits as on the wire, e\.g\. "0102"/,
    );
    expect(errorOf({ ...minimal, lane: { ...minimal.lane, station: 102 } })).toMatch(
      /lane\.station: expected the station number as a 4-hex-digit string in quotes, e\.g\. "0102"/,
    );
    expect(errorOf({ ...minimal, lane: { ...minimal.lane, network: "43" } })).toMatch(
      /lane\.network: expected the road network number as 4 hex digits as on the wire, e\.g\. "4301"/,
    );
  });

  // walk-through (session 32): station, lane and role named what was expected but not the value given
  it("a bad lane field repeats the value given, as rsu.baudRate does; a missing one just says what was expected", () => {
    const m = errorOf({
      ...minimal,
      lane: { network: "4301", station: "12", lane: "x", role: "both" },
      rsu: { ...minimal.rsu, baudRate: 1234 },
    });
    expect(m).toContain(
      'lane.station: expected the station number as 4 hex digits as on the wire, e.g. "0102", got "12"',
    );
    expect(m).toContain('lane.lane: expected a lane number in 0..99, got "x"');
    expect(m).toContain('lane.role: expected "entry" or "exit", got "both"');
    expect(m).toContain(
      "rsu.baudRate: expected a baud rate: one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, got 1234",
    );
    expect(errorOf({ ...minimal, lane: { ...minimal.lane, lane: 100 } })).toContain(
      "lane.lane: expected a lane number in 0..99, got 100",
    );
    expect(errorOf({ ...minimal, lane: { ...minimal.lane, network: ["43", "01"] } })).toContain(
      'lane.network: expected the road network number as a 4-hex-digit string in quotes, e.g. "4301", got ["43","01"]',
    );
    const { role: _left, ...withoutRole } = minimal.lane;
    expect(errorOf({ ...minimal, lane: withoutRole })).toMatch(/lane\.role: expected "entry" or "exit"$/m);
  });

  // black-box review (session 41): log.level was the one enum refused with zod's own words, without the value
  it("a bad log.level names what was expected and the value given, as the other enums do", () => {
    expect(errorOf({ ...minimal, log: { level: "verbose" } })).toContain(
      'log.level: expected one of trace, debug, info, warn, error, got "verbose"',
    );
    expect(errorOf({ ...minimal, log: { level: 3 } })).toContain(
      "log.level: expected one of trace, debug, info, warn, error, got 3",
    );
  });

  it("transaction.repeatedB5WindowMs: its own window, at least a minute, whatever recentTradeWindowMs is", () => {
    const withTx = (transaction: unknown) => ({ ...minimal, transaction });
    const c = parseLaneConfig(withTx({ recentTradeWindowMs: 0 }));
    expect(c.transaction).toMatchObject({ recentTradeWindowMs: 0, repeatedB5WindowMs: 300_000 });
    for (const ms of [0, 1000, 59_999])
      expect(errorOf(withTx({ repeatedB5WindowMs: ms })), String(ms)).toMatch(
        /transaction\.repeatedB5WindowMs: expected milliseconds in 60000\.\.86400000/,
      );
  });

  it("station.url: no credentials, query or fragment (the client appends its paths), the password not repeated", () => {
    for (const url of [
      "http://user:s3cret@127.0.0.1:18641/",
      "http://user@127.0.0.1:18641",
      "http://127.0.0.1:18641/lane?site=1",
      "http://127.0.0.1:18641/?",
      "http://127.0.0.1:18641/#x",
    ]) {
      const m = errorOf(withUrl(url));
      expect(m, url).toMatch(
        /station\.url: expected the station's base URL without user:password@ \(the token goes in station\.tokenFile\), \?query or #fragment/,
      );
      expect(m, url).not.toContain("s3cret");
    }
  });

  it("rsu.port host:port without tcp:// gets a hint; reader.port is a serial path, not rsu.port's", () => {
    expect(errorOf(withPort("10.0.0.5:21003"))).toMatch(
      /rsu\.port: expected a serial device path or tcp:\/\/host:port, got "10\.0\.0\.5:21003": did you mean "tcp:\/\/10\.0\.0\.5:21003"\?/,
    );
    expect(errorOf(withPort("rsu.local:21003"))).toMatch(/did you mean "tcp:\/\/rsu\.local:21003"\?/);
    const withReader = (port: string) => ({ ...minimal, reader: { port } });
    for (const port of ["tcp://10.0.0.5:21004", "10.0.0.5:21004", "rfc2217://10.0.0.5:4001"])
      expect(errorOf(withReader(port)), port).toMatch(
        /reader\.port: expected a serial device path \(the booth reader is on a serial port, no network\), got /,
      );
    // minimal's rsu.port is /dev/ttyUSB0
    for (const port of ["/dev/ttyUSB0", "/dev/./ttyUSB0"])
      expect(errorOf(withReader(port)), port).toMatch(
        /reader\.port: expected another device than rsu\.port \(\/dev\/ttyUSB0\): the RSU and the booth reader each need their own serial port/,
      );
    expect(parseLaneConfig(withReader("/dev/ttyS1")).reader?.port).toBe("/dev/ttyS1");
  });

  it("baud rates are the standard ones, utcOffsetMinutes a whole quarter hour", () => {
    expect(errorOf({ ...minimal, rsu: { ...minimal.rsu, baudRate: 115_201 } })).toMatch(
      /rsu\.baudRate: expected a baud rate: one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, got 115201/,
    );
    expect(errorOf({ ...minimal, reader: { port: "/dev/ttyS1", baudRate: 100_000 } })).toMatch(
      /reader\.baudRate: expected a baud rate: one of .*, got 100000/,
    );
    expect(parseLaneConfig({ ...minimal, rsu: { ...minimal.rsu, baudRate: 9600 } }).rsu.baudRate).toBe(9600);
    expect(errorOf({ ...minimal, rsu: { ...minimal.rsu, dialect: { utcOffsetMinutes: 481 } } })).toMatch(
      /rsu\.dialect\.utcOffsetMinutes: expected a multiple of 15 minutes \(time zones are whole quarter hours\), got 481/,
    );
    expect(
      parseLaneConfig({ ...minimal, rsu: { ...minimal.rsu, dialect: { utcOffsetMinutes: 345 } } }).rsu.dialect
        .utcOffsetMinutes,
    ).toBe(345);
  });

  it("a key left empty in the YAML (its children commented out) is as if not given", () => {
    // `link:` with nothing under it parses as null: the section's defaults, as without the key
    const empty = parseLaneConfig({ ...minimal, rsu: { ...minimal.rsu, link: null }, station: null });
    const absent = parseLaneConfig(minimal);
    expect(empty.rsu.link).toEqual(absent.rsu.link);
    expect(empty.station).toBeUndefined();
    // a required setting left empty is refused naming it
    expect(errorOf({ ...minimal, dataDir: null })).toMatch(/\n {2}dataDir: expected a directory path$/);
  });

  // session 35 review: every key left empty was dropped, a setting's too: `"0x22":` with no class was taken
  // and did nothing, `log.file:` meant stderr and `station.tokenFile:` no token, without a word
  it("a setting left empty in the YAML is refused naming it; a section or list left empty is as if not given", () => {
    const raw = parseYaml(
      [
        "rsu:",
        "  dialect:",
        "    resultCodes:",
        "      b5:",
        '        "0x22":',
        "      b8:",
        "log:",
        "  file:",
        "station:",
        "  url: http://127.0.0.1:8640",
        "  tokenFile:",
        "booth:",
        "  offerFor:",
      ].join("\n"),
    ) as { rsu: object; log: object; station: object; booth: object };
    const m = errorOf({ ...minimal, ...raw, rsu: { ...minimal.rsu, ...raw.rsu } });
    expect(m.split("\n").slice(1)).toEqual([
      '  rsu.dialect.resultCodes.b5.0x22: expected "failed" (card untouched) or "uncertain" (the debit may have happened), got null',
      "  station.tokenFile: expected the path of a token file",
      "  log.file: expected the path of the log file",
    ]);
    // the same sections and list, their settings given: b8 and offerFor left empty take their defaults
    const c = parseLaneConfig({
      ...minimal,
      rsu: { ...minimal.rsu, dialect: { resultCodes: { b5: { "0x22": "failed" }, b8: null } } },
      booth: { offerFor: null },
    });
    expect(c.rsu.dialect.resultCodes).toEqual({ b5: { "0x22": "failed" } });
    expect(c.booth.offerFor).toEqual(parseLaneConfig(minimal).booth.offerFor);
    // a key the schema does not have, left empty, is refused by name as any unknown key
    expect(errorOf({ ...minimal, rsu: { ...minimal.rsu, dialekt: null } })).toMatch(
      /\n {2}rsu: unknown field\(s\) "dialekt"$/,
    );
  });

  // session 35 review: YAML's .inf was shown as JSON's null
  it("a number JSON cannot write (.inf, .nan) is shown as itself", () => {
    const withTiming = (heartbeatPeriodMs: number) => ({
      ...minimal,
      rsu: { ...minimal.rsu, timing: { heartbeatPeriodMs } },
    });
    const heartbeat = (yaml: string) => withTiming((parseYaml(`v: ${yaml}`) as { v: number }).v);
    expect(errorOf(heartbeat(".inf"))).toContain(
      "rsu.timing.heartbeatPeriodMs: expected milliseconds in 1000..120000, got Infinity",
    );
    expect(errorOf(heartbeat("-.inf"))).toContain("got -Infinity");
    expect(errorOf(heartbeat(".nan"))).toContain("got NaN");
  });
  // review: "0x2a" and "0x2A" are two YAML keys for one ErrorCode, and the table kept the last one silently
  it("rsu.dialect.resultCodes: a code named twice, in any case spelling, is refused naming both keys", () => {
    const raw = parseYaml(
      ["rsu:", "  dialect:", "    resultCodes:", '      b5: { "0x2a": uncertain, "0x2A": failed }'].join(
        "\n",
      ),
    ) as { rsu: object };
    const m = errorOf({ ...minimal, rsu: { ...minimal.rsu, ...raw.rsu } });
    expect(m).toMatch(
      /rsu\.dialect\.resultCodes\.b5\.0x2A: code 0x2A listed twice \(as "0x2a" and "0x2A"\); expected one class per code/,
    );
    expect(
      errorOf({
        ...minimal,
        rsu: { ...minimal.rsu, dialect: { resultCodes: { b8: { "0x0b": "failed", "0x0B": "failed" } } } },
      }),
    ).toMatch(/rsu\.dialect\.resultCodes\.b8\.0x0B: code 0x0B listed twice \(as "0x0b" and "0x0B"\)/);
    const one = {
      ...minimal,
      rsu: { ...minimal.rsu, dialect: { resultCodes: { b5: { "0x2a": "uncertain", "0x2b": "failed" } } } },
    };
    expect(parseLaneConfig(one).rsu.dialect.resultCodes?.b5).toEqual({
      "0x2a": "uncertain",
      "0x2b": "failed",
    });
  });
  // review: rsu.dialect.heartbeatCode was taken and changed nothing (only the simulator sends a heartbeat);
  // second review: refusing it stopped every lane whose config came from the earlier example, which set it
  it("rsu.dialect.heartbeatCode: taken as before (0x80 or 0x08) and ignored; another value named as a simulator option", () => {
    for (const heartbeatCode of [0x80, 0x08])
      expect(
        parseLaneConfig({ ...minimal, rsu: { ...minimal.rsu, dialect: { heartbeatCode } } }).rsu.dialect
          .heartbeatCode,
      ).toBe(heartbeatCode);
    expect(errorOf({ ...minimal, rsu: { ...minimal.rsu, dialect: { heartbeatCode: 0x81 } } })).toMatch(
      /\n {2}rsu\.dialect\.heartbeatCode: expected 128 \(0x80\) or 8; a simulator option the lane ignores: remove it$/,
    );
  });

  // session 40 review: the cross-field checks ran on fields that had failed their own range, and named
  // defaults the user never wrote with a range no value could meet
  it("reader.timeouts: a maxCommandMs out of its own range is the one line; a timeout out of range is named once", () => {
    const reader = (timeouts: object) => ({ ...minimal, reader: { port: "/dev/ttyS1", timeouts } });
    expect(issueLinesOf(reader({ maxCommandMs: 50 }))).toEqual([
      "reader.timeouts.maxCommandMs: expected milliseconds in 100..600000, got 50",
    ]);
    const lines = issueLinesOf(reader({ maxCommandMs: 200, cardApduMs: 70_000 }));
    expect(lines.filter((l) => l.startsWith("reader.timeouts.cardApduMs:"))).toEqual([
      "reader.timeouts.cardApduMs: expected milliseconds in 10..60000, got 70000",
    ]);
    // each of the others once, as the default it is
    expect(lines).toContain(
      "reader.timeouts.psamResetMs: expected milliseconds in 10..200 (at most timeouts.maxCommandMs), got 1500 (the default)",
    );
    expect(lines.map((l) => l.split(":")[0])).toEqual([
      "reader.timeouts.cardApduMs",
      "reader.timeouts.infoMs",
      "reader.timeouts.signalMs",
      "reader.timeouts.activateMs",
      "reader.timeouts.psamResetMs",
      "reader.timeouts.psamApduMs",
    ]);
  });

  it("reader.timeouts: a timeout over maxCommandMs says whether it was written or the default", () => {
    const reader = (timeouts: object) => ({ ...minimal, reader: { port: "/dev/ttyS1", timeouts } });
    expect(issueLinesOf(reader({ maxCommandMs: 1000 }))).toEqual([
      "reader.timeouts.psamResetMs: expected milliseconds in 10..1000 (at most timeouts.maxCommandMs), got 1500 (the default)",
    ]);
    // written equal to the default, it is what the user wrote
    expect(issueLinesOf(reader({ maxCommandMs: 1000, psamResetMs: 1500 }))).toEqual([
      "reader.timeouts.psamResetMs: expected milliseconds in 10..1000 (at most timeouts.maxCommandMs), got 1500",
    ]);
    // the defaults still apply to a config taken
    const c = parseLaneConfig({ ...reader({ maxCommandMs: 2000 }) }, "lane.yaml", "/etc/etc-lane");
    expect(c.reader?.timeouts).toMatchObject({ infoMs: 500, psamResetMs: 1500, maxCommandMs: 2000 });
  });

  it("rsu.link and reader.link backoffMaxMs: one line each, its own range first; a default named as one", () => {
    const rsu = (link: object) => ({ ...minimal, rsu: { ...minimal.rsu, link } });
    const reader = (link: object) => ({ ...minimal, reader: { port: "/dev/ttyS1", link } });
    expect(issueLinesOf(rsu({ backoffMaxMs: 5 }))).toEqual([
      "rsu.link.backoffMaxMs: expected milliseconds in 10..600000, got 5",
    ]);
    expect(issueLinesOf(reader({ backoffMaxMs: 5 }))).toEqual([
      "reader.link.backoffMaxMs: expected milliseconds in 10..600000, got 5",
    ]);
    // a backoffInitialMs out of its own range bounds nothing
    expect(issueLinesOf(rsu({ backoffInitialMs: 70_000 }))).toEqual([
      "rsu.link.backoffInitialMs: expected milliseconds in 10..60000, got 70000",
    ]);
    expect(issueLinesOf(rsu({ backoffInitialMs: 9000 }))).toEqual([
      "rsu.link.backoffMaxMs: expected milliseconds in 9000..600000 (at least backoffInitialMs), got 5000 (the default)",
    ]);
    expect(issueLinesOf(reader({ backoffInitialMs: 9000, backoffMaxMs: 8000 }))).toEqual([
      "reader.link.backoffMaxMs: expected milliseconds in 9000..600000 (at least backoffInitialMs), got 8000",
    ]);
    const c = parseLaneConfig(rsu({ backoffInitialMs: 300 }), "lane.yaml", "/etc/etc-lane");
    expect(c.rsu.link).toMatchObject({ backoffInitialMs: 300, backoffMaxMs: 5000 });
  });
});

describe("config cross-field checks on refused fields", () => {
  // session 43 review: the status-list age checks and the reader/RSU port check ran on values their own
  // fields had refused, and named a correct field (or the default) as wrong
  const withList = (statusList: object) => ({
    ...minimal,
    station: { url: "http://127.0.0.1:8640" },
    statusList: { ...minimal.statusList, ...statusList },
  });

  it("statusList.deltaMaxAgeMinutes out of its range is the one line (hardMaxAgeMinutes left out is not named)", () => {
    expect(issueLinesOf(withList({ deltaMaxAgeMinutes: 600_000 }))).toEqual([
      "statusList.deltaMaxAgeMinutes: expected minutes in 1..525600, got 600000",
    ]);
  });

  it("statusList.hardMaxAgeMinutes out of its range is the one line (neither delta nor the poll interval named)", () => {
    expect(issueLinesOf(withList({ hardMaxAgeMinutes: 0 }))).toEqual([
      "statusList.hardMaxAgeMinutes: expected minutes in 1..525600, got 0",
    ]);
  });

  it("station.statusListPollMs out of its range is named once, by that range", () => {
    expect(
      issueLinesOf({
        ...withList({ hardMaxAgeMinutes: 60 }),
        station: { url: "http://127.0.0.1:8640", statusListPollMs: 90_000_000 },
      }),
    ).toEqual(["station.statusListPollMs: expected milliseconds in 1000..86400000, got 90000000"]);
    // a delta age out of its range leaves the poll's issue standing, without the delta's value
    expect(
      issueLinesOf({
        ...withList({ deltaMaxAgeMinutes: 600_000, hardMaxAgeMinutes: 1 }),
        station: { url: "http://127.0.0.1:8640" },
      }),
    ).toEqual([
      "statusList.deltaMaxAgeMinutes: expected minutes in 1..525600, got 600000",
      expect.stringMatching(
        /^station\.statusListPollMs: expected less than statusList\.hardMaxAgeMinutes \(1 min = 60000 ms\), and less than statusList\.deltaMaxAgeMinutes for a list .*, got 150000$/,
      ),
    ]);
    // another status-list field refused: the poll interval is still checked against the default hard age
    expect(
      issueLinesOf({
        ...withList({ fullMaxAgeMinutes: 0 }),
        station: { url: "http://127.0.0.1:8640", statusListPollMs: 86_400_000 },
      }),
    ).toEqual([
      "statusList.fullMaxAgeMinutes: expected minutes in 1..525600, got 0",
      expect.stringMatching(
        /^station\.statusListPollMs: expected less than statusList\.hardMaxAgeMinutes \(1440 min = 86400000 ms\), and less than statusList\.deltaMaxAgeMinutes \(30 min\) .*, got 86400000$/,
      ),
    ]);
  });

  it("hardMaxAgeMinutes not above deltaMaxAgeMinutes says whether it was written or the default", () => {
    expect(issueLinesOf(withList({ deltaMaxAgeMinutes: 2000 }))).toEqual([
      "statusList.hardMaxAgeMinutes: expected more minutes than deltaMaxAgeMinutes (2000): a list is stale before it is past its hard age, got 1440 (the default)",
    ]);
    expect(issueLinesOf(withList({ deltaMaxAgeMinutes: 2000, hardMaxAgeMinutes: 1440 }))).toEqual([
      "statusList.hardMaxAgeMinutes: expected more minutes than deltaMaxAgeMinutes (2000): a list is stale before it is past its hard age, got 1440",
    ]);
    // the defaults still apply to a config taken
    expect(parseLaneConfig(withList({ deltaMaxAgeMinutes: 20 })).statusList).toMatchObject({
      deltaMaxAgeMinutes: 20,
      hardMaxAgeMinutes: 1440,
    });
  });

  it("reader.port refused on its own is not also named as rsu.port's device", () => {
    // both wrong: each named once, by its own check
    expect(
      issueLinesOf({ ...minimal, rsu: { ...minimal.rsu, port: "tcp:/x" }, reader: { port: "tcp:/x" } }),
    ).toEqual([
      'rsu.port: expected tcp://host:port with a host name or IPv4 address and a port in 1..65535, e.g. "tcp://10.0.0.5:21003", got "tcp:/x"',
      'reader.port: expected a serial device path (the booth reader is on a serial port, no network), got "tcp:/x"',
    ]);
    const rsu = "tcp://10.0.0.5:21003";
    expect(issueLinesOf({ ...minimal, rsu: { ...minimal.rsu, port: rsu }, reader: { port: rsu } })).toEqual([
      `reader.port: expected a serial device path (the booth reader is on a serial port, no network), got "${rsu}"`,
    ]);
  });
});

describe("config messages where zod's own would say its type names", () => {
  // session 43 review: these got zod's stock "Invalid input: expected ..., received ..." instead of what the
  // field wants
  const withBooth = (offerFor: unknown) => ({ ...minimal, booth: { offerFor } });
  const withB5 = (b5: unknown) => ({
    ...minimal,
    rsu: { ...minimal.rsu, dialect: { resultCodes: { b5 } } },
  });

  it("booth.offerFor: an item that is no string is named as a stop reason code wanted", () => {
    expect(issueLinesOf(withBooth([1]))).toEqual([
      'booth.offerFor.0: expected a stop reason code (docs/lane.md "Stop reasons"), got 1',
    ]);
  });

  it("booth.offerFor: a single value where a list is wanted", () => {
    expect(issueLinesOf(withBooth("TRADE_FAILED"))).toEqual([
      'booth.offerFor: expected a list of stop reason codes (docs/lane.md "Stop reasons"), e.g. [OBU_NO_CARD, TRADE_FAILED], got "TRADE_FAILED"',
    ]);
  });

  it("rsu.dialect.resultCodes.b5: a single value where a mapping of codes to classes is wanted", () => {
    expect(issueLinesOf(withB5("failed"))).toEqual([
      'rsu.dialect.resultCodes.b5: expected a mapping of B5/B8 ErrorCodes to their class, e.g. { "0x22": failed, "0x23": uncertain }, got "failed"',
    ]);
  });

  it("an empty config file says it is empty and what it must hold", () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-config-empty-"));
    try {
      const file = join(dir, "lane.yaml");
      writeFileSync(file, "# lane 3\n");
      expect(() => loadLaneConfig(file)).toThrow(
        `${file}: invalid configuration\n` +
          "  (top level): the file holds no config (it is empty, or only comments): expected the lane config, " +
          "a mapping (key: value) with at least lane, rsu, statusList, dataDir (and tariff on an exit lane): " +
          "see config/lane.example.yaml",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a section written as a single value: a mapping of its keys is wanted", () => {
    expect(issueLinesOf({ ...minimal, lane: 5 })).toEqual([
      "lane: expected a mapping (key: value) with keys among network, station, lane, role, got 5",
    ]);
    // left out: missing, with what it takes
    const { lane: _lane, ...noLane } = minimal;
    expect(issueLinesOf(noLane)).toEqual([
      "lane: missing; expected a mapping (key: value) with keys among network, station, lane, role",
    ]);
  });
});
