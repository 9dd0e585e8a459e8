/**
 * The capture file: pcapng with one LINKTYPE_RTAC_SERIAL interface per port, a 12-byte RTAC header
 * on every chunk (time, event: 01 written / 02 read / 00 state), monotonic timestamps, rotation and
 * pruning, a file cut short by a crash read up to its last whole block, and a write that failed after its
 * bytes may have left recorded with why.
 */
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, assert, describe, expect, it } from "vitest";
import { capturingTransport } from "../../firmware-bridge/capture/capture-transport.js";
import { CaptureWriter } from "../../firmware-bridge/capture/capture-writer.js";
import { LINKTYPE_RTAC_SERIAL, parsePcapng, RTAC_EVENT } from "../../firmware-bridge/capture/pcapng.js";
import { readCapture } from "../../firmware-bridge/capture/read-capture.js";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { CARD_APDU } from "../../firmware-bridge/reader/commands.js";
import { encodeReaderFrame, READER_CAPTURE_PROTOCOL } from "../../firmware-bridge/reader/frame.js";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import { ROOT } from "../../sim/harness/procs.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { openWireCapture } from "../../src/capture/wire-capture.js";
import { parseLaneConfig } from "../../src/config/index.js";
import { openLane } from "../../src/lane/runtime.js";
import { captureTimeline } from "../../src/rsu/analyse-capture.js";
import { MINIMAL_LANE_CONFIG } from "../config/helpers.js";
import { type LogLine, recordingLogger } from "../reader/harness.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true, maxRetries: 5 });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "capture-file-"));
  dirs.push(d);
  return d;
}
const files = (dir: string): string[] =>
  readdirSync(dir)
    .sort()
    .map((f) => join(dir, f));

/** A writer on a hand-driven monotonic clock (ms) with a fixed wall-clock start. */
function writer(dir: string, extra: Partial<ConstructorParameters<typeof CaptureWriter>[0]> = {}) {
  let mono = 1000;
  const w = new CaptureWriter({
    dir,
    prefix: "t",
    now: () => mono,
    wallNow: () => Date.UTC(2026, 10, 26, 8, 0, 0),
    ...extra,
  });
  return { w, advance: (ms: number) => (mono += ms) };
}

describe("capture file (pcapng, LINKTYPE_RTAC_SERIAL)", () => {
  it("one interface per port, every chunk with its RTAC header, direction and monotonic time", () => {
    const dir = tmp();
    const { w, advance } = writer(dir);
    const rsu = w.addPort("rsu", "etc-lane rsu port protocol=legacy");
    const reader = w.addPort("reader", "etc-lane reader port");
    w.record(rsu, RTAC_EVENT.dataTx, Buffer.from("c0", "hex"));
    advance(1.5);
    w.record(rsu, RTAC_EVENT.dataRx, Buffer.from("b0", "hex"));
    advance(0.25);
    w.record(reader, RTAC_EVENT.statusChange, Buffer.alloc(0), "disconnected: unplugged");
    w.close();
    const [file] = files(dir);
    expect(file).toMatch(/t-r000001-20261126T080000\.000-001\.pcapng$/);
    const parsed = parsePcapng(readFileSync(file as string));
    expect(parsed.application).toBe("etc-lane");
    expect(parsed.interfaces.map((i) => [i.name, i.linkType])).toEqual([
      ["rsu", LINKTYPE_RTAC_SERIAL],
      ["reader", LINKTYPE_RTAC_SERIAL],
    ]);
    const t0 = BigInt(Date.UTC(2026, 10, 26, 8, 0, 0)) * 1000n;
    expect(parsed.packets.map((p) => [p.iface.name, p.event, p.bytes.toString("hex"), p.us - t0])).toEqual([
      ["rsu", 0x01, "c0", 0n],
      ["rsu", 0x02, "b0", 1500n],
      ["reader", 0x00, "", 1750n],
    ]);
    expect(parsed.packets[2]?.comment).toBe("disconnected: unplugged");
    // The RTAC header inside the packet data carries the same time (seconds, microseconds) and event.
    const raw = readFileSync(file as string);
    const at = raw.indexOf(Buffer.from("b0", "hex"), raw.indexOf(Buffer.from("c0", "hex")) + 1);
    const header = raw.subarray(at - 12, at);
    expect(header.readUInt32BE(0)).toBe(Number((t0 + 1500n) / 1_000_000n));
    expect(header.readUInt32BE(4)).toBe(1500);
    expect(header[8]).toBe(0x02);
  });

  it("rotates past maxFileBytes, keeps the newest maxFiles, and reads a rotated capture as one", () => {
    const dir = tmp();
    const { w, advance } = writer(dir, { maxFileBytes: 300, maxFiles: 2 });
    const rsu = w.addPort("rsu", "protocol=national");
    for (let i = 0; i < 12; i++) {
      w.record(rsu, i % 2 ? RTAC_EVENT.dataRx : RTAC_EVENT.dataTx, Buffer.alloc(40, i));
      w.flush();
      advance(10);
    }
    w.close();
    const kept = files(dir);
    // Every flush past the 300-byte mark started a file: 12 files, the newest two kept.
    expect(kept.map((f) => f.slice(-11))).toEqual(["-011.pcapng", "-012.pcapng"]);
    const cap = readCapture(kept);
    // one run (the files are named alike up to their number), its port described once
    expect(cap.runs?.map((r) => r.files)).toEqual([kept]);
    expect(cap.ports).toEqual([
      { run: 0, name: "rsu", description: "protocol=national", protocol: "national", speaks: "national" },
    ]);
    const firsts = cap.records.map((r) => r.bytes[0]);
    expect(firsts).toEqual([...firsts].sort((a, b) => (a as number) - (b as number)));
    expect(firsts).toEqual([10, 11]);
    expect(cap.records.map((r) => r.dir)).toEqual(firsts.map((b) => ((b as number) % 2 ? "rx" : "tx")));
  });

  it("rotating past file 999 keeps the file being written and prunes by number (-1000 after -999)", () => {
    const dir = tmp();
    // An earlier run of the same lane (named before run numbers) and another prefix's file in the directory.
    writeFileSync(join(dir, "t-20261125T080000.000-1000.pcapng"), "");
    writeFileSync(join(dir, "other-20261125T080000.000-001.pcapng"), "");
    const { w } = writer(dir, { maxFileBytes: 1, maxFiles: 3 });
    const rsu = w.addPort("rsu", "protocol=legacy");
    for (let i = 0; i < 1002; i++) {
      w.record(rsu, RTAC_EVENT.dataRx, Buffer.from([i & 0xff]));
      w.flush();
    }
    expect(w.current).toMatch(/t-r000001-20261126T080000\.000-1002\.pcapng$/);
    w.record(rsu, RTAC_EVENT.dataRx, Buffer.from([0xee]));
    w.close();
    expect(readdirSync(dir).sort()).toEqual([
      "other-20261125T080000.000-001.pcapng",
      "t-r000001-20261126T080000.000-1001.pcapng",
      "t-r000001-20261126T080000.000-1002.pcapng",
      "t-r000001-20261126T080000.000-1003.pcapng",
    ]);
    // Every chunk went to a file of its own (each flush found the file full): none was lost.
    const read = (n: number) =>
      readCapture([join(dir, `t-r000001-20261126T080000.000-${n}.pcapng`)]).records.map((r) =>
        r.bytes.toString("hex"),
      );
    expect([read(1001), read(1002), read(1003)]).toEqual([["e8"], ["e9"], ["ee"]]);
  });

  // review: its parents were made with mkdir's recursive, which on Node 20 never returns under /proc: the
  // lane spun at start. In a child (a spin blocks the thread; the child is killed at the timeout).
  it("a directory whose parent cannot be made (under /proc): the writer logs its error and returns", () => {
    const writer = join(ROOT, "dist/firmware-bridge/capture/capture-writer.js");
    const script = `
      import { CaptureWriter } from ${JSON.stringify(writer)};
      const errors = [];
      const log = { trace() {}, debug() {}, info() {}, warn() {}, error: (o, m) => errors.push([o.err, m]), child: () => log };
      const w = new CaptureWriter({ dir: "/proc/etc-lane-no-such/capture", logger: log });
      w.close();
      console.log(JSON.stringify(errors));
    `;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 30_000,
      killSignal: "SIGKILL",
    });
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({
      status: 0,
      signal: null,
      stderr: "",
    });
    expect(JSON.parse(r.stdout)).toEqual([
      [
        expect.stringMatching(/^ENOENT/),
        "wire capture cannot be written: capturing stops (the lane goes on)",
      ],
    ]);
  });

  it("prunes by run, not by the wall clock: a run started with the clock years behind keeps its own files", () => {
    const dir = tmp();
    /**
     * One start of the lane: a writer whose wall clock reads `wall` at its start, rotating `rotations`
     * times; the files then in the directory as `<start date>-<file number>`.
     */
    const run = (wall: number, rotations: number): string[] => {
      let mono = 0;
      const w = new CaptureWriter({
        dir,
        prefix: "t",
        maxFileBytes: 1,
        maxFiles: 3,
        now: () => mono,
        wallNow: () => wall,
      });
      const rsu = w.addPort("rsu", "protocol=legacy");
      for (let i = 0; i < rotations; i++) {
        w.record(rsu, RTAC_EVENT.dataRx, Buffer.from([i]));
        w.flush();
        mono += 10;
      }
      w.close();
      return readdirSync(dir)
        .sort()
        .map((f) => f.replace(/^t-(?:r\d+-)?(\d{8})T\d{6}\.\d{3}-(\d+)\.pcapng$/, "$1-$2"));
    };
    // A file of a run before run numbers, then a run with the clock right: three files kept.
    writeFileSync(join(dir, "t-20261130T080000.000-001.pcapng"), "");
    expect(run(Date.UTC(2026, 11, 1, 8), 3)).toEqual(["20261201-001", "20261201-002", "20261201-003"]);
    // The lane restarted on a computer whose clock reads 2020: its newest three files are kept, not the
    // earlier run's (by the start stamp, its own came first and only the file being written survived).
    expect(run(Date.UTC(2020, 0, 1), 4)).toEqual(["20200101-002", "20200101-003", "20200101-004"]);
    // The clock right again: the 2020 run is the older one.
    expect(run(Date.UTC(2026, 11, 2, 8), 2)).toEqual(["20200101-004", "20261202-001", "20261202-002"]);
    // each start took the next run number
    expect(readdirSync(dir).sort()).toEqual([
      "t-r000002-20200101T000000.000-004.pcapng",
      "t-r000003-20261202T080000.000-001.pcapng",
      "t-r000003-20261202T080000.000-002.pcapng",
    ]);
  });

  it("a file cut short by a crash reads up to its last whole block and says so", () => {
    const dir = tmp();
    const { w } = writer(dir);
    const rsu = w.addPort("rsu", "protocol=legacy");
    w.record(rsu, RTAC_EVENT.dataRx, Buffer.from("ffff08b2", "hex"));
    w.record(rsu, RTAC_EVENT.dataRx, Buffer.from("0000000080", "hex"));
    w.close();
    const [file] = files(dir);
    const size = readFileSync(file as string).length;
    truncateSync(file as string, size - 10);
    const cap = readCapture([file as string]);
    expect(cap.records.map((r) => r.bytes.toString("hex"))).toEqual(["ffff08b2"]);
    expect(cap.truncated).toEqual([expect.stringContaining("is cut short")]);
  });

  it("names a file that is not pcapng, and reads nothing of it", () => {
    const dir = tmp();
    const f = join(dir, "x.pcapng");
    writeFileSync(f, "not a capture");
    const cap = readCapture([f]);
    expect(cap.unreadable).toEqual([`${f}: not a pcapng capture (no section header block at the start)`]);
    expect(cap.records).toEqual([]);
  });
});

describe("capture files hold card numbers: the lane user's alone", () => {
  const mode = (path: string): number => statSync(path).mode & 0o777;
  /** `fn` under the usual umask 022, which alone leaves a directory 0755 and a file 0644 */
  function underUmask022(fn: () => void): void {
    const before = process.umask(0o022);
    try {
      fn();
    } finally {
      process.umask(before);
    }
  }

  it("a directory the writer creates is 0700 (its missing parent keeps the ordinary mode), each file 0600", () => {
    const base = tmp();
    const dir = join(base, "lane3", "capture");
    underUmask022(() => {
      const { w } = writer(dir, { maxFileBytes: 1 });
      const rsu = w.addPort("rsu", "protocol=legacy");
      for (let i = 0; i < 2; i++) {
        w.record(rsu, RTAC_EVENT.dataRx, Buffer.from([i]));
        w.flush();
      }
      w.close();
    });
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(base, "lane3"))).toBe(0o755);
    const written = files(dir);
    expect(written).toHaveLength(2);
    expect(written.map(mode)).toEqual([0o600, 0o600]);
  });

  it("an existing directory open to others keeps its mode with a warning; the earlier capture files in it are made 0600", () => {
    const dir = join(tmp(), "capture");
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    const earlier = join(dir, "t-20261125T080000.000-001.pcapng");
    const foreign = join(dir, "notes.txt");
    for (const f of [earlier, foreign]) {
      writeFileSync(f, "");
      chmodSync(f, 0o644);
    }
    const log: LogLine[] = [];
    underUmask022(() => {
      const { w } = writer(dir, { logger: recordingLogger(log) });
      w.record(w.addPort("rsu", "protocol=legacy"), RTAC_EVENT.dataRx, Buffer.from([1]));
      w.close();
    });
    expect(log.filter((l) => l.level === "warn")).toEqual([
      {
        level: "warn",
        msg: "wire capture directory is open to other users (capture files hold card numbers): its files are written 0600; chmod 700 the directory",
        obj: { dir, mode: "0755" },
      },
    ]);
    expect(mode(dir)).toBe(0o755);
    expect(mode(earlier)).toBe(0o600);
    expect(mode(foreign)).toBe(0o644); // not a capture file of this writer's: left as it is
    const mine = files(dir).filter((f) => f !== earlier && f !== foreign);
    expect(mine.map(mode)).toEqual([0o600]);
  });

  it("an existing directory of mode 0700 gets no warning", () => {
    const dir = join(tmp(), "capture");
    mkdirSync(dir, { mode: 0o700 });
    const log: LogLine[] = [];
    const { w } = writer(dir, { logger: recordingLogger(log) });
    w.record(w.addPort("rsu", "protocol=legacy"), RTAC_EVENT.dataRx, Buffer.from([1]));
    w.close();
    expect(log.filter((l) => l.level === "warn" || l.level === "error")).toEqual([]);
  });
});

describe("the lane's RSU port in the capture", () => {
  it("records the lane's dialect (the settings that change frame layouts and times) in its description", async () => {
    const base = tmp();
    const rt = await openLane(
      parseLaneConfig(
        {
          lane: { network: "4301", station: "0102", lane: 3, role: "entry" },
          rsu: {
            port: "/dev/ttyUSB0",
            protocol: "legacy",
            dialect: { stationLength: 36, lastStationLength: 39, timeBase: "utc", utcOffsetMinutes: 540 },
          },
          statusList: { publicKey: TEST_PUBLIC_KEY_PATH },
          dataDir: join(base, "data"),
          tariff: "tariff.yaml",
          capture: { enabled: true },
        },
        "lane.yaml",
        base,
      ),
      { transport: createTransportPair().lane, outputs: { emit: () => {} }, uplink: false },
    );
    await rt.close();
    const cap = readCapture(files(join(base, "data", "capture")));
    expect(cap.ports.map((p) => [p.name, p.dialect])).toEqual([
      [
        "rsu",
        {
          stationLength: 36,
          lastStationLength: 39,
          b4Ef04: false,
          b2AntennaId: false,
          timeBase: "utc",
          cardTimeBase: "local-as-utc",
          utcOffsetMinutes: 540,
        },
      ],
    ]);
    expect(cap.ports[0]?.description).toContain(
      "protocol=legacy station-length=36 last-station-length=39 ef04=0 b2-antenna-id=0 time-base=utc card-time-base=local-as-utc utc-offset=540",
    );
  });
});

describe("the lane's capture file names", () => {
  it("name the lane in upper-case hex; its earlier lower-case files are counted, pruned and numbered on", async () => {
    const dir = tmp();
    // a release before laneLabel wrote the config's lower-case hex (station 0a0b)
    const old = [1, 2, 3].map((n) => `lane-4301-0a0b-03-r000007-20261201T000000.000-00${n}.pcapng`);
    for (const f of old) writeFileSync(join(dir, f), "");
    const config = parseLaneConfig(
      {
        ...MINIMAL_LANE_CONFIG,
        lane: { ...MINIMAL_LANE_CONFIG.lane, station: "0a0b" },
        capture: { enabled: true, dir, maxFiles: 3 },
      },
      "lane.yaml",
      dir,
    );
    const cap = openWireCapture(config);
    assert(cap, "capture enabled");
    const pair = createTransportPair();
    const rsu = cap.wrap(pair.lane, "rsu", "legacy");
    await rsu.open();
    await pair.device.open();
    await rsu.write(Buffer.from("c401", "hex"));
    cap.close();
    const now = readdirSync(dir).sort();
    expect(now).toEqual([
      expect.stringMatching(/^lane-4301-0A0B-03-r000008-\d{8}T\d{6}\.\d{3}-001\.pcapng$/),
      old[1],
      old[2],
    ]);
  });
});

describe("a capture directory that cannot be made", () => {
  it("logs one error and captures nothing; the port works and a lane with it opens", async () => {
    const base = tmp();
    writeFileSync(join(base, "a-file"), "x");
    const dir = join(base, "a-file", "capture"); // under a file: mkdir fails (ENOTDIR)
    const log: LogLine[] = [];
    const { w } = writer(dir, { logger: recordingLogger(log) });
    const pair = createTransportPair();
    const lane = capturingTransport(pair.lane, w, "rsu", "protocol=legacy");
    await lane.open();
    await pair.device.open();
    await lane.write(Buffer.from("c401", "hex"));
    w.flush();
    w.close();
    expect(pair.lane.written.map((b) => b.toString("hex"))).toEqual(["c401"]);
    expect(log.filter((l) => l.level === "error").map((l) => l.msg)).toEqual([
      "wire capture cannot be written: capturing stops (the lane goes on)",
    ]);
    // the lane itself, with capture.dir there
    const rt = await openLane(
      parseLaneConfig(
        {
          lane: { network: "4301", station: "0102", lane: 3, role: "entry" },
          rsu: { port: "/dev/ttyUSB0", protocol: "legacy" },
          statusList: { publicKey: TEST_PUBLIC_KEY_PATH },
          dataDir: join(base, "data"),
          tariff: "tariff.yaml",
          capture: { enabled: true, dir },
        },
        "lane.yaml",
        base,
      ),
      { transport: createTransportPair().lane, outputs: { emit: () => {} }, uplink: false },
    );
    await rt.close();
  });
});

describe("a capture file that cannot be opened at rotation", () => {
  it("logs one error, captures nothing more, and closes without touching the old file's descriptor", () => {
    const dir = join(tmp(), "capture");
    const log: LogLine[] = [];
    const { w } = writer(dir, { maxFileBytes: 10, logger: recordingLogger(log) });
    const rsu = w.addPort("rsu", "protocol=legacy");
    w.record(rsu, RTAC_EVENT.dataRx, Buffer.from("ffff08b2", "hex"));
    w.flush(); // the first file, already past maxFileBytes
    rmSync(dir, { recursive: true, force: true }); // the next file cannot be opened
    w.record(rsu, RTAC_EVENT.dataRx, Buffer.from("00", "hex"));
    w.flush();
    expect(() => w.close()).not.toThrow();
    expect(log.filter((l) => l.level === "error").map((l) => l.msg)).toEqual([
      "wire capture cannot be written: capturing stops (the lane goes on)",
    ]);
    expect(log.filter((l) => l.level === "warn")).toEqual([]);
  });
});

describe("the capture as a transport decorator", () => {
  it("records what the port wrote and read, once, and its state changes; the port works as before", async () => {
    const dir = tmp();
    const { w } = writer(dir);
    const pair = createTransportPair();
    const lane = capturingTransport(pair.lane, w, "rsu", "protocol=legacy");
    const got: Buffer[] = [];
    lane.data$.subscribe((b) => got.push(b));
    lane.data$.subscribe(() => {}); // a second subscriber must not record the bytes twice
    await lane.open();
    await pair.device.open();
    await lane.write(Buffer.from("c401", "hex"));
    await pair.device.write(Buffer.from("b0", "hex"));
    await Promise.resolve();
    pair.unplug();
    w.close();
    expect(Buffer.concat(got).toString("hex")).toBe("b0");
    expect(pair.lane.written.map((b) => b.toString("hex"))).toEqual(["c401"]);
    const cap = readCapture(files(dir));
    expect(
      cap.records.map((r) => `${r.dir} ${r.dir === "state" ? r.state : r.bytes.toString("hex")}`),
    ).toEqual([
      "state closed",
      "state open",
      "tx c401",
      "rx b0",
      "state disconnected: pair:lane: device disconnected",
    ]);
  });

  it("a write is stamped when it was handed to the port: the answer read before the write resolved comes after it", async () => {
    const dir = tmp();
    const { w, advance } = writer(dir);
    const pair = createTransportPair();
    let drained!: () => void;
    const drain = new Promise<void>((resolve) => {
      drained = resolve;
    });
    // serial.ts's library path: the write resolves once the port drained, after the bytes were on the line
    const port: Transport = {
      name: pair.lane.name,
      data$: pair.lane.data$,
      state$: pair.lane.state$,
      get status() {
        return pair.lane.status;
      },
      open: () => pair.lane.open(),
      close: () => pair.lane.close(),
      async write(b: Buffer) {
        await pair.lane.write(b);
        await drain;
      },
    };
    const lane = capturingTransport(port, w, "rsu", "protocol=legacy");
    const got: string[] = [];
    lane.data$.subscribe((b) => got.push(b.toString("hex")));
    await lane.open();
    await pair.device.open();
    const writing = lane.write(Buffer.from("c6", "hex"));
    advance(9); // the line time of the frame
    await pair.device.write(Buffer.from("b5", "hex")); // the RSU's answer
    await Promise.resolve();
    expect(got).toEqual(["b5"]); // read before the write resolved
    advance(3); // the drain's round trip
    drained();
    await writing;
    w.close();
    const cap = readCapture(files(dir));
    expect(
      cap.records.filter((r) => r.dir !== "state").map((r) => [r.dir, r.bytes.toString("hex"), r.t]),
    ).toEqual([
      ["tx", "c6", 0],
      ["rx", "b5", 9],
    ]);
  });

  it("a write that failed after passing its bytes on is recorded with why; one refused before any byte is not", async () => {
    const dir = tmp();
    const { w } = writer(dir);
    const pair = createTransportPair();
    let failAfter = false;
    // serial.ts's drain that failed after the write: every byte went to the peer, then a rejection, unmarked
    const port: Transport = {
      name: pair.lane.name,
      data$: pair.lane.data$,
      state$: pair.lane.state$,
      get status() {
        return pair.lane.status;
      },
      open: () => pair.lane.open(),
      close: () => pair.lane.close(),
      async write(b: Buffer) {
        await pair.lane.write(b);
        if (failAfter) throw new EtcError(ErrorCodes.PortClosed, "pair:lane: drain failed: Port is not open");
      },
    };
    const lane = capturingTransport(port, w, "reader", `protocol=${READER_CAPTURE_PROTOCOL}`);
    await lane.open();
    await pair.device.open();
    const debit = encodeReaderFrame(9, CARD_APDU.code, 0, Buffer.from("805401000f", "hex"));
    failAfter = true;
    await expect(lane.write(debit)).rejects.toMatchObject({ code: ErrorCodes.PortClosed });
    expect(pair.lane.written).toEqual([debit]); // the peer has it
    pair.unplug();
    // refused before any byte (the pair is not open): marked nothingWritten, not in the capture
    await expect(lane.write(Buffer.from("c401", "hex"))).rejects.toMatchObject({
      details: { nothingWritten: true },
    });
    w.close();
    const cap = readCapture(files(dir));
    const tx = cap.records.filter((r) => r.dir === "tx");
    expect(tx.map((r) => [r.bytes.toString("hex"), r.note])).toEqual([
      [debit.toString("hex"), "write failed: pair:lane: drain failed: Port is not open"],
    ]);
    // `etc-lane decode --capture` shows the note, then the frame
    const lines = captureTimeline(cap, () => {
      throw new Error("no RSU port here");
    })
      .map((e) => e.json)
      .filter((l) => l.dir === "tx");
    expect(lines).toEqual([
      expect.objectContaining({ note: "write failed: pair:lane: drain failed: Port is not open" }),
      expect.objectContaining({ reader: "CARD_APDU seq 9", hex: debit.toString("hex") }),
    ]);
  });
});
