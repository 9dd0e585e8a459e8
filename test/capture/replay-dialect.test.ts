/**
 * A replay reads the lane's frames with the lane's dialect: `etc-sim replay` takes the dialect the capture
 * recorded (a vendor's 36-byte C6 Station, docs/protocol.md §4), its options override it, and a lane C6
 * that does not decode with the replay's dialect is said once, its B5 sent as recorded, never with an
 * earlier vehicle's PurchaseTime.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { CaptureWriter } from "../../firmware-bridge/capture/capture-writer.js";
import { RTAC_EVENT } from "../../firmware-bridge/capture/pcapng.js";
import { type Capture, readCapture } from "../../firmware-bridge/capture/read-capture.js";
import { encodeFrame, type Frame } from "../../firmware-bridge/frames/catalogue.js";
import { DEFAULT_LEGACY_DIALECT } from "../../firmware-bridge/frames/dialect.js";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { CaptureReplay, type ReplayEvent, replayScript } from "../../sim/replay/replay.js";
import { PROJECT_ROOT } from "../helpers/cli.js";
import { legacyC6 } from "./c6-frame.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true, maxRetries: 5 });
});

const b5 = (transTime: string, seq = 0x18): Buffer =>
  encodeFrame(
    {
      type: "B5",
      obuId: "01020304",
      errorCode: 0,
      wrFileTime: 0,
      psamNo: "430101000001",
      transTime,
      transType: 9,
      tac: "12ab34cd",
      iccPaySerial: 1,
      psamTransSerial: 2,
      cardBalance: 1000,
    } as unknown as Frame,
    seq,
    DEFAULT_LEGACY_DIALECT,
  );

const RECORDED = "20261202162412";
const LANE = "20261206093000";

describe("the replay engine and a lane C6 it cannot decode", () => {
  it("says so once, and sends the B5 after it as recorded, not with the last readable C6's PurchaseTime", async () => {
    // the recording: two vehicles, each a lane C6 answered by a B5
    const cap: Capture = {
      files: [],
      truncated: [],
      skipped: [],
      ports: [{ name: "rsu", description: "protocol=legacy", protocol: "legacy", speaks: "legacy" }],
      records: [
        { t: 0, wallMs: 0, port: "rsu", dir: "tx", bytes: legacyC6(40, RECORDED) },
        { t: 20, wallMs: 20, port: "rsu", dir: "rx", bytes: b5(RECORDED) },
        { t: 100, wallMs: 100, port: "rsu", dir: "tx", bytes: legacyC6(40, "20261202162500", 0x81) },
        { t: 120, wallMs: 120, port: "rsu", dir: "rx", bytes: b5("20261202162500", 0x19) },
      ],
    };
    const pair = createTransportPair();
    await pair.lane.open();
    const got: Buffer[] = [];
    pair.lane.data$.subscribe((b) => got.push(b));
    const replay = new CaptureReplay({
      transport: pair.device,
      dialect: DEFAULT_LEGACY_DIALECT,
      script: replayScript(cap, DEFAULT_LEGACY_DIALECT),
      speed: 10,
    });
    const events: ReplayEvent[] = [];
    replay.events$.subscribe((e) => events.push(e));
    await replay.start();
    const firstB5 = new Promise<void>((resolve) => {
      const sub = replay.events$.subscribe((e) => {
        if (e.type === "sent") {
          sub.unsubscribe();
          resolve();
        }
      });
    });
    const done = replay.run();
    // the lane under test: a C6 the replay's dialect reads, then, once its B5 came, one it does not (a
    // 36-byte Station)
    await pair.lane.write(legacyC6(40, LANE));
    await firstB5;
    await pair.lane.write(legacyC6(36, "20261206093100", 0x81));
    const report = await done;
    await replay.stop();
    expect(got.map((b) => b.toString("hex"))).toEqual([
      b5(LANE).toString("hex"), // the lane's PurchaseTime
      b5("20261202162500", 0x19).toString("hex"), // as recorded: the lane's time could not be read
    ]);
    expect(
      events.filter((e) => e.type === "echoed" || e.type === "unread").map((e) => ({ ...e, at: 0 })),
    ).toEqual([
      { type: "echoed", at: 0, step: 0, recorded: RECORDED, sent: LANE },
      { type: "unread", at: 0, frame: "C6", why: expect.stringMatching(/\S/) },
    ]);
    expect(report.matched).toBe(report.expected);
  });
});

describe("etc-sim replay and the dialect the capture recorded", () => {
  /** A capture by a lane with a 36-byte C6 Station: its C6, then the RSU's B5 20 ms later. */
  async function capture(description: string): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), "replay-dialect-"));
    dirs.push(dir);
    let mono = 0;
    const w = new CaptureWriter({ dir, prefix: "l", now: () => mono, wallNow: () => Date.UTC(2026, 11, 2) });
    const rsu = w.addPort("rsu", description);
    w.record(rsu, RTAC_EVENT.dataTx, legacyC6(36, RECORDED));
    mono = 20;
    w.record(rsu, RTAC_EVENT.dataRx, b5(RECORDED));
    w.close();
    const file = join(dir, readdirSync(dir)[0] as string);
    expect(readCapture([file]).records).toHaveLength(2);
    return file;
  }

  /** `etc-sim replay --tcp` with a lane that connects and sends its C6 (36-byte Station, its own time). */
  async function replay(
    file: string,
    ...opts: string[]
  ): Promise<{ code: number | null; lines: string[]; got: string; stderr: string }> {
    const child = spawn(
      process.execPath,
      [join(PROJECT_ROOT, "dist/sim/cli/etc-sim.js"), "replay", "--tcp", "127.0.0.1:0", ...opts, file],
      { cwd: PROJECT_ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    const exited = new Promise<number | null>((resolve) => child.once("close", (c) => resolve(c)));
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const lines: string[] = [];
    const firstLine = new Promise<string>((resolve) => {
      createInterface({ input: child.stdout }).on("line", (l) => {
        lines.push(l);
        if (lines.length === 1) resolve(l);
      });
    });
    // a replay that ends before it listens (a refused option) has no first line
    const where = await Promise.race([firstLine, exited.then(() => undefined)]);
    if (where === undefined) return { code: await exited, lines, got: "", stderr };
    const port = Number(where.replace(/^tcp: 127\.0\.0\.1:/, ""));
    const lane = connect(port, "127.0.0.1");
    let got = Buffer.alloc(0);
    lane.on("data", (d: Buffer) => {
      got = Buffer.concat([got, d]);
    });
    lane.on("error", () => {}); // the replay closes the connection when it is done
    lane.once("connect", () => lane.write(legacyC6(36, LANE)));
    const code = await exited;
    lane.destroy();
    return { code, lines, got: got.toString("hex"), stderr };
  }

  it("reads the lane's C6 with the recorded station length and sends the B5 with the lane's PurchaseTime", async () => {
    const file = await capture(
      "etc-lane t rsu port x protocol=legacy station-length=36 last-station-length=43 ef04=0 b2-antenna-id=0 time-base=local-as-utc utc-offset=480",
    );
    const r = await replay(file);
    expect(r.got).toBe(b5(LANE).toString("hex"));
    expect(r.lines).toContainEqual(
      expect.stringMatching(
        new RegExp(`B5 TransTime ${RECORDED} -> ${LANE} \\(the PurchaseTime of the lane's last C6/C3\\)$`),
      ),
    );
    expect(r.code).toBe(0);
  });

  it("--station-length overrides what the capture recorded; a C6 it cannot read is said in one line", async () => {
    const file = await capture("etc-lane t rsu port x protocol=legacy station-length=36");
    const r = await replay(file, "--station-length", "40");
    expect(r.got).toBe(b5(RECORDED).toString("hex"));
    expect(r.lines.filter((l) => l.includes("does not decode"))).toEqual([
      expect.stringMatching(
        /the lane's C6 does not decode with the replay's dialect \(.+\): its PurchaseTime cannot be read, so B5s answering such frames go out with their recorded TransTime \(said once; give the lane's dialect: --station-length, --last-station-length, --\[no-\]ef04, --\[no-\]b2-antenna-id\)$/,
      ),
    ]);
    expect(r.lines.some((l) => l.includes("B5 TransTime"))).toBe(false);
  });

  it("a capture that records no dialect (written before the lane did) is read with the protocol's defaults", async () => {
    const file = await capture("etc-lane t rsu port x protocol=legacy");
    const r = await replay(file);
    expect(r.got).toBe(b5(RECORDED).toString("hex"));
    expect(r.lines.some((l) => l.includes("the lane's C6 does not decode"))).toBe(true);
  });
});
