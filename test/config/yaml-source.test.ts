/**
 * The lane config as written in YAML (src/config/load.ts readLaneConfig): what the text says is what the
 * schema checks, nothing slipped past it by how the YAML was written.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isEtcError } from "../../firmware-bridge/errors.js";
import { readLaneConfig } from "../../src/config/load.js";
import { configErrorOf, MINIMAL_LANE_CONFIG } from "./helpers.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-cfg-yaml-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LANE = 'lane: { network: "4301", station: "0102", lane: 3, role: entry }\n';
const REST =
  "rsu: { port: /dev/ttyUSB0, protocol: legacy }\nstatusList: { publicKey: k.pem }\ndataDir: data1\n";

let n = 0;
/** The config in YAML `text`, read from a file as `run` reads it. */
function read(text: string): ReturnType<typeof readLaneConfig>["config"] {
  const file = join(dir, `lane-${++n}.yaml`);
  writeFileSync(file, text);
  return readLaneConfig(file).config;
}

/** The E401 message of a config refused; throws when it is taken. */
function refusal(text: string): string {
  try {
    read(text);
  } catch (e) {
    if (isEtcError(e, "E401_CONFIG_INVALID")) return e.message;
    throw e;
  }
  throw new Error("expected the config to be refused");
}

describe("a __proto__ key", () => {
  it("is an unknown field, not the prototype of its section: a whole config under it is refused", () => {
    const nested = `__proto__:\n${(LANE + REST)
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => `  ${l}\n`)
      .join("")}`;
    const m = refusal(nested);
    expect(m).toMatch(/\n {2}\(top level\): unknown field\(s\) "__proto__"/);
    expect(m).toMatch(/\n {2}lane: missing/);
  });

  it("in rsu.dialect.resultCodes.b5/b8 is refused by name, not skipped", () => {
    const m = refusal(
      `${LANE}rsu:\n  port: /dev/ttyUSB0\n  protocol: legacy\n  dialect:\n    resultCodes:\n` +
        '      b5: { "0x22": uncertain, __proto__: failed }\n      b8: { __proto__: { "0x23": failed } }\n' +
        "statusList: { publicKey: k.pem }\ndataDir: data1\n",
    );
    expect(m).toContain('\n  rsu.dialect.resultCodes.b5: unknown field(s) "__proto__"');
    expect(m).toContain('\n  rsu.dialect.resultCodes.b8: unknown field(s) "__proto__"');
  });

  it("inside a section is refused by name, its fields not read as the section's", () => {
    const m = refusal(`${LANE}${REST}transaction: { __proto__: { b5TimeoutMs: 5 } }\n`);
    expect(m).toMatch(/\n {2}transaction: unknown field\(s\) "__proto__"/);
    expect(m).not.toMatch(/b5TimeoutMs/);
  });
});

describe("YAML forms the tariff refuses too", () => {
  it("an alias used as a key (repeating a field: the last would win silently) is refused, naming it", () => {
    const m = refusal(`${LANE}${REST.replace("dataDir: data1", "&k dataDir: data1")}*k : data9\n`);
    expect(m).toMatch(
      /\n {2}\*k: an alias as a key \(\*k, for dataDir\) is not taken in the lane config; expected the key written out/,
    );
  });

  it("a merge key is refused under %YAML 1.1, naming it", () => {
    const m = refusal(
      `%YAML 1.1\n---\nbase: &b { b5TimeoutMs: 1000 }\n${LANE}${REST}transaction: { <<: *b }\n`,
    );
    expect(m).toMatch(/\n {2}transaction\.<<: merge keys \(<<\) are not taken in the lane config/);
  });

  it("a number YAML reads as another (octal under %YAML 1.1) is refused, naming the field, with every other problem", () => {
    const m = refusal(
      `%YAML 1.1\n---\n${LANE.replace("lane: 3", "lane: 010")}${REST.replace("legacy", "nope")}journal: { retentionDays: 0100 }\n`,
    );
    expect(m).toContain(
      "\n  lane.lane: expected a number as written; got 010, which this YAML reads as 8 (an octal form under %YAML 1.1: write it without leading zeros)",
    );
    expect(m).toContain(
      "\n  journal.retentionDays: expected a number as written; got 0100, which this YAML reads as 64",
    );
    expect(m).toMatch(/\n {2}rsu\.protocol: /);
    // the same numbers written plainly are taken, in a file marked %YAML 1.1 too
    const c = read(
      `%YAML 1.1\n---\n${LANE.replace("lane: 3", "lane: 10")}${REST}journal: { retentionDays: 100 }\n`,
    );
    expect([c.lane.lane, c.journal.retentionDays]).toEqual([10, 100]);
  });

  it("a number read as base 60 under %YAML 1.1 is refused; a misread number's range is not named too", () => {
    const m = refusal(`%YAML 1.1\n---\n${LANE.replace("lane: 3", "lane: 1:20")}${REST}`);
    expect(m).toContain(
      "\n  lane.lane: expected a number as written; got 1:20, which this YAML reads as 80 (a base-60 form under %YAML 1.1)",
    );
    expect(m).not.toMatch(/lane\.lane: expected a lane number/);
  });

  it("a misread number is not named in another field's cross-field message (backoff, reader timeouts)", () => {
    const m = refusal(
      `%YAML 1.1\n---\n${LANE}rsu: { port: /dev/ttyUSB0, protocol: legacy, link: { backoffInitialMs: 017000 } }\n` +
        "reader: { port: /dev/ttyUSB1, timeouts: { maxCommandMs: 0200 } }\n" +
        "statusList: { publicKey: k.pem }\ndataDir: data1\n",
    );
    expect(m.split("\n").slice(1)).toEqual([
      "  rsu.link.backoffInitialMs: expected a number as written; got 017000, which this YAML reads as 7680 (an octal form under %YAML 1.1: write it without leading zeros)",
      "  reader.timeouts.maxCommandMs: expected a number as written; got 0200, which this YAML reads as 128 (an octal form under %YAML 1.1: write it without leading zeros)",
    ]);
    // written plainly, the same values are compared (7680 > the default backoffMaxMs 5000)
    const plain = refusal(
      `${LANE}rsu: { port: /dev/ttyUSB0, protocol: legacy, link: { backoffInitialMs: 7680 } }\n` +
        "statusList: { publicKey: k.pem }\ndataDir: data1\n",
    );
    expect(plain).toContain(
      "\n  rsu.link.backoffMaxMs: expected milliseconds in 7680..600000 (at least backoffInitialMs), got 5000 (the default)",
    );
  });

  it("a misread number only stated in a cross-field message leaves the issue standing, without its value", () => {
    // statusListPollMs is refused against hardMaxAgeMinutes alone; deltaMaxAgeMinutes is only stated
    const text = (delta: string) =>
      `${LANE}rsu: { port: /dev/ttyUSB0, protocol: legacy }\nstation: { url: "http://st:8640", statusListPollMs: 3600000 }\n` +
      `statusList: { publicKey: k.pem, hardMaxAgeMinutes: 60, deltaMaxAgeMinutes: ${delta} }\ndataDir: data1\n`;
    const poll = (deltaValue: string) =>
      "  station.statusListPollMs: expected less than statusList.hardMaxAgeMinutes (60 min = 3600000 ms), and less than " +
      `statusList.deltaMaxAgeMinutes${deltaValue} for a list that is never stale: a lane that asks for status-list ` +
      "updates no more often than that finds its list past its hard age before every poll (whenPastHardAge: trade), got 3600000";
    expect(
      refusal(`%YAML 1.1\n---\n${text("030")}`)
        .split("\n")
        .slice(1),
    ).toEqual([
      poll(""),
      "  statusList.deltaMaxAgeMinutes: expected a number as written; got 030, which this YAML reads as 24 (an octal form under %YAML 1.1: write it without leading zeros)",
    ]);
    // written plainly, its value is stated
    expect(refusal(text("30")).split("\n").slice(1)).toEqual([poll(" (30 min)")]);
  });

  it("a tag YAML does not resolve is refused, naming the field and its line, not taken as a path", () => {
    const m = refusal(`${LANE}${REST.replace("dataDir: data1", "dataDir: !env LANE_DIR")}`);
    expect(m).toContain(
      "\n  dataDir: the tag !env (line 4) is not resolved in the lane config: expected a plain value",
    );
  });

  it("an unknown yaml.org tag (!!foo) and one YAML cannot resolve for its value (!!int abc) are refused where written", () => {
    const m = refusal(
      `${LANE.replace("role: entry", "role: !!int entry")}${REST.replace("dataDir: data1", "dataDir: !!foo data/lane")}`,
    );
    expect(m).toContain(
      "\n  dataDir: the tag !!foo (line 4) is not resolved in the lane config: expected a plain value",
    );
    expect(m).toContain(
      "\n  lane.role: the tag !!int (line 1) is not resolved in the lane config: expected a plain value",
    );
  });

  it("the non-specific tag ! (YAML's way to force a string) and the plain yaml.org tags are taken", () => {
    const c = read(
      `${LANE.replace("lane: 3", "lane: !!int 3")}${REST.replace("dataDir: data1", "dataDir: ! data/lane")}log: !!map { file: !!str 010 }\n`,
    );
    expect([c.lane.lane, c.dataDir.endsWith("/data/lane"), c.log.file?.endsWith("/010")]).toEqual([
      3,
      true,
      true,
    ]);
  });

  it("an unknown % directive is refused", () => {
    const m = refusal(`%FOO bar\n---\n${LANE}${REST}`);
    expect(m).toMatch(/\n {2}\(top level\): not taken in the lane config: Unknown directive %FOO/);
  });
});

describe("rsu.dialect.resultCodes keys", () => {
  it("are named as written (an unquoted 0x22 is not named as the 34 YAML reads), with a duplicate listed too", () => {
    const m = refusal(
      `${LANE}rsu:\n  port: /dev/ttyUSB0\n  protocol: legacy\n  dialect:\n    resultCodes:\n` +
        `      b5: { 0x22: failed, "0x2a": failed, "0x2A": uncertain }\n` +
        "statusList: { publicKey: k.pem }\ndataDir: data1\n",
    );
    expect(m).toContain(
      '\n  rsu.dialect.resultCodes.b5.0x22: expected a B5/B8 ErrorCode as a quoted hex string "0x01".."0xFF"',
    );
    expect(m).not.toMatch(/b5\.34/);
    expect(m).toContain(
      '\n  rsu.dialect.resultCodes.b5.0x2A: code 0x2A listed twice (as "0x2a" and "0x2A"); expected one class per code',
    );
  });
});

describe("a section YAML makes no plain mapping of (!!omap, !!set, a %YAML 1.1 date)", () => {
  const RSU = "rsu:\n  port: /dev/ttyUSB0\n  protocol: legacy\n  dialect:\n    resultCodes:\n";
  const TAIL = "statusList: { publicKey: k.pem }\ndataDir: data1\n";

  it("an override of a B5 code given as !!omap is refused where written, not dropped (the default class kept)", () => {
    const m = refusal(`${LANE}${RSU}      b5: !!omap [ { "0x22": uncertain } ]\n${TAIL}`);
    expect(m).toContain(
      "\n  rsu.dialect.resultCodes.b5: the tag !!omap (line 7) makes an ordered map (a Map), which the lane config " +
        "does not take: expected a mapping written plainly",
    );
  });

  it("b8 as !!set is refused where written", () => {
    const m = refusal(`${LANE}${RSU}      b8: !!set { "0x22" }\n${TAIL}`);
    expect(m).toContain("\n  rsu.dialect.resultCodes.b8: the tag !!set (line 7) makes a set");
  });

  it("transaction as !!omap is refused, its fields not replaced by the defaults", () => {
    const m = refusal(`${LANE}${REST}transaction: !!omap [ { b5TimeoutMs: 5 } ]\n`);
    expect(m).toContain("\n  transaction: the tag !!omap (line 5) makes an ordered map (a Map)");
  });

  it("a section %YAML 1.1 reads as a date is refused, naming it", () => {
    const m = refusal(`%YAML 1.1\n---\n${LANE}${REST}transaction: 2001-12-14\n`);
    expect(m).toContain(
      "\n  transaction: expected a plain value; got 2001-12-14 (line 7), which this YAML reads as a date (a timestamp under %YAML 1.1)",
    );
  });

  it("a Map, a Set or a Date given to the schema as a section is refused, not read as an empty section", () => {
    const refused = configErrorOf;
    expect(refused({ ...MINIMAL_LANE_CONFIG, transaction: new Map([["b5TimeoutMs", 5]]) })).toContain(
      "\n  transaction: expected a mapping (key: value), got a Map",
    );
    const codes = { b5: new Map([["0x22", "uncertain"]]), b8: new Set(["0x22"]) };
    const m = refused({
      ...MINIMAL_LANE_CONFIG,
      rsu: { ...MINIMAL_LANE_CONFIG.rsu, dialect: { resultCodes: codes } },
      journal: new Date(0),
    });
    expect(m.split("\n").slice(1)).toEqual([
      "  rsu.dialect.resultCodes.b5: expected a mapping (key: value), got a Map",
      "  rsu.dialect.resultCodes.b8: expected a mapping (key: value), got a Set",
      "  journal: expected a mapping (key: value), got a date",
    ]);
  });
});
