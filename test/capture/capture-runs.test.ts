/**
 * A capture of several runs of the lane (firmware-bridge/capture/read-capture.ts): each start of the lane
 * has its own timestamp base (the wall clock read once at its start, years early on a lane booted with its
 * clock behind) and its own port descriptions, so the files are read as runs in the order given, each run
 * deframed as its own files describe its ports, and a replay does not play the jump between two runs'
 * clocks as a wait.
 */
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, relative } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CaptureWriter } from "../../firmware-bridge/capture/capture-writer.js";
import {
  interfaceDescription,
  packet,
  parsePcapng,
  RTAC_EVENT,
  sectionHeader,
} from "../../firmware-bridge/capture/pcapng.js";
import { type Capture, openCapture, readCapture } from "../../firmware-bridge/capture/read-capture.js";
import { DEFAULT_LEGACY_DIALECT, type Dialect } from "../../firmware-bridge/frames/dialect.js";
import { encodeLegacy } from "../../firmware-bridge/framing/legacy.js";
import { encodeNational } from "../../firmware-bridge/framing/national.js";
import { replayScript } from "../../sim/replay/replay.js";
import { capturePortDialect } from "../../src/cli/dialect-options.js";
import { captureTimeline } from "../../src/rsu/analyse-capture.js";
import { decodeCaptureLines, runCli } from "../helpers/cli.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true, maxRetries: 5 });
});

/** What one start of the lane recorded on its `rsu` port: [ms since its start, event, bytes, comment]. */
type Rec = [ms: number, event: number, hex: string, comment?: string];

/**
 * Runs of the lane, one capture writer each, in one directory; the files sorted by name (`lane-*.pcapng`).
 * Each chunk is recorded in an event-loop turn of its own (chunks read in one are stamped with the first's
 * time: firmware-bridge/capture/capture-writer.ts).
 */
async function lane(runs: { wall: string; rsu: string; recs: Rec[] }[]): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), "capture-runs-"));
  dirs.push(dir);
  for (const run of runs) {
    let mono = 0;
    const w = new CaptureWriter({
      dir,
      prefix: "lane",
      now: () => mono,
      wallNow: () => Date.parse(run.wall),
    });
    const rsu = w.addPort("rsu", run.rsu);
    for (const [ms, event, hex, comment] of run.recs) {
      mono = ms;
      w.record(rsu, event, Buffer.from(hex, "hex"), comment);
      await Promise.resolve();
    }
    w.close();
  }
  return readdirSync(dir)
    .sort()
    .map((f) => join(dir, f));
}

const timeline = (cap: Capture) =>
  captureTimeline(cap, (p) => capturePortDialect(p, undefined, {}) as Dialect).map((e) => e.json);

const { dataRx: RX, dataTx: TX, statusChange: STATE } = RTAC_EVENT;
const legacyB2 = encodeLegacy(0x08, Buffer.from("b201020304b0", "hex")).toString("hex");
const nationalB2 = encodeNational(0x02, Buffer.from("b2a1b2c3d40001", "hex")).toString("hex"); // with AntennaID

// Run 1 on a legacy RSU; run 2 (the lane booted with its clock years behind) on a national one.
const runs = [
  {
    wall: "2026-12-02T10:00:00Z",
    rsu: "etc-lane t rsu port x protocol=legacy station-length=40",
    recs: [
      [0, STATE, "", "open"],
      [100, RX, legacyB2],
    ] as Rec[],
  },
  {
    wall: "2020-01-01T00:00:10Z",
    rsu: "etc-lane t rsu port x protocol=national b2-antenna-id=1",
    recs: [
      [0, STATE, "", "open"],
      [132, RX, nationalB2],
    ] as Rec[],
  },
];

describe("a capture of several runs", () => {
  it("reads the runs in the order given, each with its own port description and clock", async () => {
    const files = await lane(runs);
    expect(files.map((f) => basename(f))).toEqual([
      "lane-r000001-20261202T100000.000-001.pcapng",
      "lane-r000002-20200101T000010.000-001.pcapng",
    ]);
    const cap = readCapture(files);
    expect(cap.runs).toEqual([
      {
        name: "lane-r000001-20261202T100000.000",
        files: [files[0]],
        t: 0,
        wallMs: Date.parse(runs[0]!.wall),
      },
      {
        name: "lane-r000002-20200101T000010.000",
        files: [files[1]],
        t: 100,
        wallMs: Date.parse(runs[1]!.wall),
      },
    ]);
    // run 2 follows run 1 (its clock reads seven years earlier), starting where run 1 ended
    expect(cap.records.map((r) => [r.run, r.t, r.state ?? r.bytes.toString("hex")])).toEqual([
      [0, 0, "open"],
      [0, 100, legacyB2],
      [1, 100, "open"],
      [1, 232, nationalB2],
    ]);
    expect(cap.ports).toEqual([
      expect.objectContaining({ run: 0, name: "rsu", protocol: "legacy" }),
      expect.objectContaining({ run: 1, name: "rsu", protocol: "national", dialect: { b2AntennaId: true } }),
    ]);
    // each run's frames decoded with its own port's protocol and dialect, each run named where it starts
    expect(timeline(cap)).toEqual([
      { t: 0, time: "2026-12-02T10:00:00.000Z", run: "lane-r000001-20261202T100000.000", files: [files[0]] },
      { t: 0, time: "2026-12-02T10:00:00.000Z", port: "rsu", state: "open" },
      expect.objectContaining({ t: 100, dir: "rx", type: "B2", obuId: "01020304", hex: legacyB2 }),
      {
        t: 100,
        time: "2020-01-01T00:00:10.000Z",
        run: "lane-r000002-20200101T000010.000",
        files: [files[1]],
      },
      { t: 100, time: "2020-01-01T00:00:10.000Z", port: "rsu", state: "open" },
      expect.objectContaining({ t: 232, dir: "rx", type: "B2", antennaId: 1, hex: nationalB2 }),
    ]);
  });

  it("etc-lane decode --capture prints them run after run, every frame decoded (exit 0)", async () => {
    const files = await lane(runs);
    const lines = await decodeCaptureLines(files);
    expect(lines.map((l) => l.run ?? l.state ?? l.type)).toEqual([
      "lane-r000001-20261202T100000.000",
      "open",
      "B2",
      "lane-r000002-20200101T000010.000",
      "open",
      "B2",
    ]);
  });

  it("etc-sim replay refuses runs whose port speaks another protocol, naming both files", async () => {
    const files = await lane(runs);
    // --wait-ms: a replay that started anyway would end soon after (no lane connects)
    const r = await runCli("etc-sim", ["replay", "--tcp", "127.0.0.1:0", "--wait-ms", "50", ...files], {
      timeoutMs: 10_000,
    });
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      `etc-sim: port "rsu" is "${runs[0]!.rsu}" in ${files[0]} but "${runs[1]!.rsu}" in ${files[1]}: ` +
        "a replay reads the lane with one dialect; replay those runs' files one at a time\n",
    );
    expect(r.code).not.toBe(0);
  }, 20_000);
});

describe("a lane that crashed and came back with its clock three minutes behind", () => {
  const rsu = "etc-lane t rsu port x protocol=legacy inter-byte-ms=500";
  // Run 1 ends (the crash) with half a B2 held; run 2's clock starts three minutes behind run 1's last record.
  const runs = [
    {
      wall: "2026-12-02T10:00:00Z",
      rsu,
      recs: [
        [0, STATE, "", "open"],
        [10, RX, legacyB2],
        [179_000, RX, legacyB2.slice(0, 10)],
      ] as Rec[],
    },
    {
      wall: "2026-12-02T10:00:05Z",
      rsu,
      recs: [
        [0, STATE, "", "open"],
        [10, RX, legacyB2],
      ] as Rec[],
    },
  ];

  it("run 1 is read to its end before run 2, and the half frame it ended with is not joined to run 2's bytes", async () => {
    const files = await lane(runs);
    const lines = timeline(readCapture(files));
    expect(lines.map((l) => [l.t, l.run ?? l.state ?? l.type ?? l.discarded, l.why])).toEqual([
      [0, "lane-r000001-20261202T100000.000", undefined],
      [0, "open", undefined],
      [10, "B2", undefined],
      // held when run 1 ended: dropped at its inter-byte timeout, as at the end of a capture
      [179_500, legacyB2.slice(0, 10), "timeout"],
      [179_000, "lane-r000002-20261202T100005.000", undefined],
      [179_000, "open", undefined],
      [179_010, "B2", undefined],
    ]);
  });
});

describe("replaying a capture of several runs", () => {
  const c6 = encodeLegacy(0x80, Buffer.from("c6000000", "hex")).toString("hex");
  const b5 = encodeLegacy(0x08, Buffer.from("b5000000", "hex")).toString("hex");
  const c0 = encodeLegacy(0x80, Buffer.from("c0000000", "hex")).toString("hex");
  const b0 = encodeLegacy(0x08, Buffer.from("b0000000", "hex")).toString("hex");

  /** Two runs, the second started on a clock years behind the first's; run 1 ends with half a B2. */
  const twoRuns = [
    {
      wall: "2026-12-02T10:00:00Z",
      rsu: "x protocol=legacy",
      recs: [
        [0, TX, c6],
        [20, RX, b5],
        [30, RX, legacyB2.slice(0, 10)],
      ] as Rec[],
    },
    {
      wall: "2020-01-01T00:00:10Z",
      rsu: "x protocol=legacy",
      recs: [
        [0, STATE, "", "open"],
        [50, RX, b0],
        [60, TX, c0],
        [75, RX, legacyB2],
      ] as Rec[],
    },
  ];

  it("plays the runs in the order given, and the first RSU bytes of a run after its own start, not across the clocks", async () => {
    const files = await lane(twoRuns);
    const script = replayScript(readCapture(files), DEFAULT_LEGACY_DIALECT);
    expect(
      script.steps.map((s) => ({
        t: s.t,
        bytes: s.bytes.toString("hex"),
        after: s.after.map((a) => a.type),
        delayMs: s.delayMs,
        newRun: s.newRun,
      })),
    ).toEqual([
      { t: 20, bytes: b5, after: ["C6"], delayMs: 20, newRun: undefined },
      { t: 30, bytes: legacyB2.slice(0, 10), after: [], delayMs: 10, newRun: undefined },
      // run 2 starts at t 30: its B0 came 50 ms after its start
      { t: 80, bytes: b0, after: [], delayMs: 50, newRun: true },
      { t: 105, bytes: legacyB2, after: ["C0"], delayMs: 15, newRun: undefined },
    ]);
    expect(script.trailing).toEqual([]);
  });

  it("the script is the same from the records read one at a time (openCapture: no array of every port's records)", async () => {
    const files = await lane(twoRuns);
    const stream = openCapture(files);
    const records = stream.records();
    const script = replayScript({ ...stream, records }, DEFAULT_LEGACY_DIALECT);
    expect(script).toEqual(replayScript(readCapture(files), DEFAULT_LEGACY_DIALECT));
    expect(script.steps).toHaveLength(4);
    expect(records.next().done).toBe(true); // read to its end, each record once
  });
});

describe("which run a record belongs to, told by the files themselves", () => {
  const run1 = "lane-r000001-20261202T100000.000";
  const run2 = "lane-r000002-20200101T000010.000";

  it("the writer names its run in the section header and in each interface description", async () => {
    const [file] = await lane([runs[0]!]);
    const parsed = parsePcapng(readFileSync(file as string));
    expect(parsed.sections.map((s) => s.comments)).toEqual([
      [expect.stringMatching(/^timestamps: /), `capture run: ${run1}`],
    ]);
    expect(parsed.interfaces.map((i) => [i.name, i.comments])).toEqual([["rsu", [`capture run: ${run1}`]]]);
  });

  it("one file holding two runs one after another (cat r1 r2 > all) is read as the two runs", async () => {
    const files = await lane(runs);
    const all = join(mkdtempSync(join(tmpdir(), "capture-runs-")), "all.pcapng");
    dirs.push(join(all, ".."));
    writeFileSync(all, Buffer.concat(files.map((f) => readFileSync(f))));
    const cap = readCapture([all]);
    expect(cap.runs?.map((r) => [r.name, r.files, r.t])).toEqual([
      [run1, [all], 0],
      [run2, [all], 100],
    ]);
    expect(cap.records.map((r) => [r.run, r.t, r.state ?? r.bytes.toString("hex")])).toEqual([
      [0, 0, "open"],
      [0, 100, legacyB2],
      [1, 100, "open"],
      [1, 232, nationalB2],
    ]);
    expect(cap.ports).toEqual([
      expect.objectContaining({ run: 0, name: "rsu", protocol: "legacy" }),
      expect.objectContaining({ run: 1, name: "rsu", protocol: "national", dialect: { b2AntennaId: true } }),
    ]);
    expect(timeline(cap).map((l) => l.run ?? l.state ?? l.type ?? l.discarded)).toEqual([
      run1,
      "open",
      "B2",
      run2,
      "open",
      "B2",
    ]);
    expect(cap.warnings).toEqual([]);
  });

  it("two runs' interfaces merged into one section (mergecap: one header, naming the first run) are read as the two runs", () => {
    const dir = mkdtempSync(join(tmpdir(), "capture-runs-"));
    dirs.push(dir);
    const file = join(dir, "merged.pcapng");
    const us = (iso: string, ms: number): bigint => BigInt(Date.parse(iso) + ms) * 1000n;
    writeFileSync(
      file,
      Buffer.concat([
        sectionHeader("Mergecap", [`capture run: ${run1}`]),
        interfaceDescription("rsu", runs[0]!.rsu, [`capture run: ${run1}`]),
        interfaceDescription("rsu", runs[1]!.rsu, [`capture run: ${run2}`]),
        // in time order across the two clocks, as a chronological merge puts them
        packet(1, us(runs[1]!.wall, 0), STATE, Buffer.alloc(0), "open"),
        packet(1, us(runs[1]!.wall, 132), RX, Buffer.from(nationalB2, "hex")),
        packet(0, us(runs[0]!.wall, 0), STATE, Buffer.alloc(0), "open"),
        packet(0, us(runs[0]!.wall, 100), RX, Buffer.from(legacyB2, "hex")),
      ]),
    );
    const cap = readCapture([file]);
    // the runs in the order of their interfaces; each with its own port and clock
    expect(cap.runs?.map((r) => r.name)).toEqual([run1, run2]);
    expect(cap.records.map((r) => [r.run, r.t, r.state ?? r.bytes.toString("hex")])).toEqual([
      [0, 0, "open"],
      [0, 100, legacyB2],
      [1, 100, "open"],
      [1, 232, nationalB2],
    ]);
    expect(timeline(cap).filter((l) => l.type !== undefined)).toEqual([
      expect.objectContaining({ type: "B2", obuId: "01020304" }),
      expect.objectContaining({ type: "B2", antennaId: 1 }),
    ]);
  });

  it("a run's rotated files renamed (a.pcapng, b.pcapng) are one run: a frame split across them is read whole", async () => {
    const dir = mkdtempSync(join(tmpdir(), "capture-runs-"));
    dirs.push(dir);
    let mono = 0;
    // past one byte a file is full: each flush after the first starts the next file
    const w = new CaptureWriter({
      dir,
      prefix: "lane",
      maxFileBytes: 1,
      now: () => mono,
      wallNow: () => Date.parse("2026-12-02T10:00:00Z"),
    });
    const rsu = w.addPort("rsu", "etc-lane t rsu port x protocol=legacy inter-byte-ms=50");
    w.record(rsu, STATE, Buffer.alloc(0), "open");
    mono = 10;
    w.record(rsu, RX, Buffer.from(legacyB2.slice(0, 10), "hex"));
    w.flush();
    await Promise.resolve();
    mono = 20;
    w.record(rsu, RX, Buffer.from(legacyB2.slice(10), "hex"));
    w.close();
    const written = readdirSync(dir).sort();
    expect(written).toEqual([`${run1}-001.pcapng`, `${run1}-002.pcapng`]);
    const files = ["a.pcapng", "b.pcapng"].map((f, i) => {
      renameSync(join(dir, written[i] as string), join(dir, f));
      return join(dir, f);
    });
    const cap = readCapture(files);
    expect(cap.runs?.map((r) => [r.name, r.files])).toEqual([[run1, files]]);
    expect(timeline(cap).map((l) => [l.t, l.state ?? l.type ?? l.discarded])).toEqual([
      [0, "open"],
      [20, "B2"],
    ]);
  });

  it("files that do not name their run (written before) go by their names, the directory resolved", () => {
    const dir = mkdtempSync(join(tmpdir(), "capture-runs-"));
    dirs.push(dir);
    const wall = Date.parse("2026-12-02T10:00:00Z");
    const head = Buffer.concat([
      sectionHeader("etc-lane", ["timestamps: wall clock at capture start + monotonic time since"]),
      interfaceDescription("rsu", "x protocol=legacy inter-byte-ms=50"),
    ]);
    const files = [
      [1, 10, legacyB2.slice(0, 10)],
      [2, 20, legacyB2.slice(10)],
    ].map(([n, ms, hex]) => {
      const f = join(dir, `${run1}-00${n}.pcapng`);
      writeFileSync(
        f,
        Buffer.concat([
          head,
          packet(0, BigInt(wall + Number(ms)) * 1000n, RX, Buffer.from(hex as string, "hex")),
        ]),
      );
      return f;
    });
    // the second given relative to the working directory: the same directory
    const given = [files[0] as string, relative(process.cwd(), files[1] as string)];
    const cap = readCapture(given);
    expect(cap.runs?.map((r) => [r.name, r.files])).toEqual([[run1, given]]);
    expect(timeline(cap).map((l) => [l.t, l.type ?? l.discarded])).toEqual([[10, "B2"]]);
    // named otherwise, each file is a run of its own
    const renamed = files.map((f, i) => {
      const to = join(dir, `part${i}.pcapng`);
      renameSync(f, to);
      return to;
    });
    expect(readCapture(renamed).runs?.map((r) => r.name)).toEqual(["part0.pcapng", "part1.pcapng"]);
  });
});

describe("runs given out of order", () => {
  const run = (wall: string): { wall: string; rsu: string; recs: Rec[] } => ({
    wall,
    rsu: "x protocol=legacy",
    recs: [[0, STATE, "", "open"]],
  });
  const advice =
    "the runs are read in the order given; give each lane's files in the order they were written (a directory " +
    "left without the lane's capture files numbers its runs from r000001 again: keep each collection in its own folder)";

  it("a run given after a higher-numbered one of the same lane is warned about, naming both, by decode --capture too", async () => {
    const [first, second] = await lane([run("2026-12-02T10:00:00Z"), run("2026-12-02T11:00:00Z")]);
    const warning =
      `${first}: run lane-r000001-20261202T100000.000 is given after run lane-r000002-20261202T110000.000 ` +
      `(${second}), whose run number is higher: ${advice}`;
    expect(readCapture([first as string, second as string]).warnings).toEqual([]);
    expect(readCapture([second as string, first as string]).warnings).toEqual([warning]);
    const r = await runCli("etc-lane", ["decode", "--capture", second as string, first as string]);
    expect(r.stderr).toBe(`${warning}\n`);
    expect(r.code).toBe(0);
  }, 20_000);

  it("two runs numbered alike (a directory whose numbering started again) are warned about", async () => {
    const [dec] = await lane([run("2026-12-02T10:00:00Z")]);
    const [jan] = await lane([run("2027-01-05T08:00:00Z")]);
    expect(readCapture([dec as string, jan as string]).warnings).toEqual([
      `${jan}: run lane-r000001-20270105T080000.000 is given after run lane-r000001-20261202T100000.000 ` +
        `(${dec}), whose run number is the same: ${advice}`,
    ]);
  });

  it("a file given twice (another path, a link to it) is read once, and said so on stderr", async () => {
    const files = await lane(runs);
    const [first, second] = files as [string, string];
    const link = join(dirs.at(-1) as string, "link.pcapng");
    symlinkSync(first, link);
    const again = `./${relative(process.cwd(), first)}`;
    const cap = readCapture([first, second, again, link]);
    expect(cap.records).toEqual(readCapture([first, second]).records);
    expect(cap.files).toEqual([first, second]);
    const said = [
      `${again}: the same file as ${first} (given twice): read once`,
      `${link}: the same file as ${first} (given twice): read once`,
    ];
    expect(cap.warnings).toEqual(said);
    const r = await runCli("etc-lane", ["decode", "--capture", first, again, second]);
    expect(r.stdout.trim().split("\n")).toHaveLength(6);
    expect(r.stderr).toBe(`${said[0]}\n`);
    expect(r.code).toBe(0);
  }, 20_000);
});
