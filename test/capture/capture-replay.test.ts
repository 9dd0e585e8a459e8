/**
 * Wire capture and replay: a lane with `capture.enabled` records its RSU port during a simulated run;
 * `etc-lane decode --capture` prints that capture as a timeline; `etc-sim replay`'s engine plays the
 * capture's RSU side into a fresh lane, which makes the same decisions (outcomes, amounts, stop
 * reasons) as the lane that was captured.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { filter, firstValueFrom, timeout } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { capturingTransport } from "../../firmware-bridge/capture/capture-transport.js";
import { CaptureWriter } from "../../firmware-bridge/capture/capture-writer.js";
import { readCapture } from "../../firmware-bridge/capture/read-capture.js";
import { encodeFrame } from "../../firmware-bridge/frames/catalogue.js";
import { defaultDialect } from "../../firmware-bridge/frames/dialect.js";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { createSerialTransport } from "../../firmware-bridge/transport/serial.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import { CaptureReplay, replayScript } from "../../sim/replay/replay.js";
import { DEFAULT_IDENTITY, heartbeatFrame } from "../../sim/rsu/rsu-frames.js";
import { createRsuSimulator } from "../../sim/rsu/rsu-simulator.js";
import type { ScenarioInput } from "../../sim/scenario/schema.js";
import {
  buildBundle,
  TEST_PRIVATE_KEY_PATH,
  TEST_PUBLIC_KEY_PATH,
} from "../../sim/status-list/bundle-builder.js";
import { parseLaneConfig } from "../../src/config/load.js";
import { type LaneRuntime, openLane } from "../../src/lane/runtime.js";
import { decodeCaptureLines } from "../helpers/cli.js";
import { vehicle as v } from "../integration/harness.js";

const ROOT = join(import.meta.dirname, "../..");
const BLACK_CARD = "43010000000000009001";
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true, maxRetries: 5 });
});

const SCENARIO: ScenarioInput = {
  startTime: "2025-07-16T10:00:00+08:00",
  defaults: { zoneMs: 1500 },
  traffic: {
    gapMs: 400,
    vehicles: [
      v("湘A00001"),
      v("湘A00002", { cardType: 23, class: 2 }),
      v("湘A00003", { balance: 1424 }),
      v("湘A00004", { card: { network: "4301", serial: BLACK_CARD.slice(4) } }),
      v("湘A00005", { faults: [{ kind: "duplicate", frame: "B4" }] }),
      v("湘A00006", { faults: ["leave-before-b4"] }),
      v("湘A00007", { class: 11 }),
    ],
  },
};

/** One lane (its own data directory) on `transport`, with the test status list; decisions collected. */
async function lane(protocol: "legacy" | "national", transport: Transport, capture: boolean) {
  const dir = mkdtempSync(join(tmpdir(), "capture-it-"));
  dirs.push(dir);
  const config = parseLaneConfig({
    lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
    rsu: {
      port: "in-process",
      protocol,
      timing: { initTimeoutMs: 1000, initRetryMs: 200 },
      link: { interByteTimeoutMs: 60 },
    },
    statusList: { publicKey: TEST_PUBLIC_KEY_PATH },
    dataDir: join(dir, "data"),
    tariff: join(ROOT, "config/tariff.example.yaml"),
    transaction: { obuTimeoutMs: 1500, b5TimeoutMs: 600, b8TimeoutMs: 600 },
    outputs: { sink: "log" },
    capture: { enabled: capture },
  });
  const rt: LaneRuntime = await openLane(config, { transport, uplink: false });
  await rt.statusList.applyBundle(
    buildBundle({
      kind: "full",
      version: "202507160000",
      privateKeyPem: readFileSync(TEST_PRIVATE_KEY_PATH),
      rows: [{ kind: "card", id: BLACK_CARD, listType: 1, reason: "test" }],
    }),
  );
  const decisions: string[] = [];
  rt.controller.outcomes$.subscribe((o) =>
    decisions.push(`${o.record.plate} ${o.record.kind}:${o.record.outcome} ${o.record.amount}`),
  );
  const open = async (): Promise<void> => {
    await rt.controller.start();
    await firstValueFrom(
      rt.controller.status$.pipe(
        filter((s) => s.status === "open"),
        timeout(10_000),
      ),
    );
  };
  return { rt, decisions, open, captureDir: join(config.dataDir, "capture") };
}

describe.each(["legacy", "national"] as const)("wire capture and replay (%s)", (protocol) => {
  it("the capture of a simulated run, replayed into a fresh lane, gives the same decisions", async () => {
    // 1. The captured run: the lane (capture on) against the simulated RSU.
    const pair = createTransportPair();
    const first = await lane(protocol, pair.lane, true);
    const sim = createRsuSimulator({ transport: pair.device, protocol, scenario: SCENARIO, seed: 21 });
    await sim.start();
    await first.open();
    await sim.done;
    await first.rt.controller.idle();
    await first.rt.close();
    await sim.stop();
    expect(first.decisions).toEqual([
      "湘A00001 transaction:EXIT_DEBIT 1425",
      "湘A00002 transaction:EXIT_DEBIT 2138",
      "湘A00003 stop:INSUFFICIENT_BALANCE 0",
      "湘A00004 stop:CARD_ON_STATUS_LIST 0",
      "湘A00005 transaction:EXIT_DEBIT 1425",
      "湘A00006 stop:CARD_READ_FAILED 0",
      "湘A00007 transaction:EXIT_DEBIT 1625",
    ]);

    // 2. The capture file, read back and printed.
    const files = readdirSync(first.captureDir)
      .filter((f) => f.endsWith(".pcapng"))
      .map((f) => join(first.captureDir, f));
    expect(files).toHaveLength(1);
    const cap = readCapture(files);
    expect(cap.ports).toEqual([
      expect.objectContaining({
        name: "rsu",
        protocol,
        description: expect.stringContaining("etc-lane 4301-0102-03 rsu port"),
        // the limits the lane's link deframed with (rsu.link.interByteTimeoutMs, the link's maxFrameLength)
        interByteMs: 60,
        maxFrameLength: 1024,
      }),
    ]);
    expect(cap.truncated).toEqual([]);

    // 3. The RSU side replayed into a fresh lane at the recorded pace.
    const pair2 = createTransportPair();
    const second = await lane(protocol, pair2.lane, false);
    const dialect = defaultDialect(protocol);
    const replay = new CaptureReplay({
      transport: pair2.device,
      dialect,
      script: replayScript(cap, dialect),
      firstWaitMs: 10_000,
    });
    const echoed: { recorded: string; sent: string }[] = [];
    replay.events$.subscribe((e) => {
      if (e.type === "echoed") echoed.push({ recorded: e.recorded, sent: e.sent });
    });
    await replay.start();
    const done = replay.run();
    await second.open();
    // The recorded lane was closed once every vehicle was decided (its last frame, C4 00, came then).
    await firstValueFrom(second.rt.controller.outcomes$.pipe(filter(() => second.decisions.length === 7)));
    await second.rt.controller.idle();
    await second.rt.close();
    const report = await done;
    await replay.stop();
    expect(second.decisions).toEqual(first.decisions);
    // each paid vehicle's B5 went out with the PurchaseTime the fresh lane sent (seconds after the recorded
    // run's), not the recorded one: the fresh lane would take it for another debit's (B5_MISMATCH)
    expect(echoed).toHaveLength(first.decisions.filter((x) => x.includes("transaction:")).length);
    for (const e of echoed) expect(e.sent > e.recorded).toBe(true);
    expect(report.divergences).toEqual([]);
    expect(report.matched).toBe(report.expected);
  }, 60_000);
});

describe("RSU bytes that arrive together", () => {
  it("are captured at one time however long the lane takes over the first, and replayed as one write", async () => {
    const dir = mkdtempSync(join(tmpdir(), "capture-it-"));
    dirs.push(dir);
    // the capture's monotonic clock, moved by hand: only the lane's handling of a chunk advances it
    let mono = 1000;
    const writer = new CaptureWriter({ dir, prefix: "t", now: () => mono });
    const pair = createTransportPair();
    const port = capturingTransport(pair.lane, writer, "rsu", "etc-lane test rsu port protocol=legacy");
    // a lane that takes 5 ms over every chunk it reads (a busy machine, the process preempted)
    port.data$.subscribe(() => {
      mono += 5;
    });
    await port.open();
    await pair.device.open();
    const dialect = defaultDialect("legacy");
    const frame = encodeFrame(
      heartbeatFrame(dialect, DEFAULT_IDENTITY, { pllChannelId: 0, txPower: 21 }),
      0x08,
      dialect,
    );
    // a frame and its duplicate written in one go (the simulator's duplicate fault: sim/rsu/link.ts), so
    // handed to the lane together; then the same frame once more, in a later event-loop turn
    await Promise.all([pair.device.write(frame), pair.device.write(frame)]);
    await new Promise<void>((resolve) => setImmediate(resolve));
    await pair.device.write(frame);
    writer.close();

    const cap = readCapture(readdirSync(dir).map((f) => join(dir, f)));
    expect(cap.records.filter((r) => r.dir === "rx").map((r) => r.t)).toEqual([0, 0, 10]);
    const script = replayScript(cap, dialect);
    expect(
      script.steps.map((st) => ({ bytes: st.bytes.length / frame.length, delayMs: st.delayMs })),
    ).toEqual([
      { bytes: 2, delayMs: 0 },
      { bytes: 1, delayMs: 10 },
    ]);
  });
});

describe("an RSU repeat in the capture", () => {
  it("is left out when the lane under test already answered the frame (a real RSU would stop repeating it)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "capture-it-"));
    dirs.push(dir);
    const dialect = defaultDialect("legacy");
    const heartbeat = heartbeatFrame(dialect, DEFAULT_IDENTITY, { pllChannelId: 0, txPower: 21 });
    const f = encodeFrame(heartbeat, 0x08, dialect);
    const g = encodeFrame(heartbeat, 0x09, dialect);
    const c4 = encodeFrame({ type: "C4", controlType: 1 }, 0x80, dialect);
    const ack = encodeFrame({ type: "ACK" }, 0x90, dialect);

    // The recording: the RSU sent f, repeated it 120 ms later as the recorded lane had not answered, the
    // lane answered it with C4 10 ms after the repeat; then g, answered with ACK.
    let mono = 1000;
    const writer = new CaptureWriter({ dir, prefix: "t", now: () => mono });
    const pair = createTransportPair();
    const port = capturingTransport(pair.lane, writer, "rsu", "etc-lane test rsu port protocol=legacy");
    await port.open();
    await pair.device.open();
    const turn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));
    await pair.device.write(f);
    await turn();
    mono += 120;
    await pair.device.write(f);
    await turn();
    mono += 10;
    await port.write(c4);
    mono += 10;
    await pair.device.write(g);
    await turn();
    mono += 5;
    await port.write(ack);
    writer.close();
    const script = replayScript(readCapture(readdirSync(dir).map((x) => join(dir, x))), dialect);
    expect(
      script.steps.map((st) => ({ after: st.after.map((a) => a.type), repeat: st.repeat === true })),
    ).toEqual([
      { after: [], repeat: false },
      { after: [], repeat: true },
      { after: ["C4"], repeat: false },
    ]);

    // The lane under test answers f at once (C4), and sends its answer again for every repeat of f, as
    // the lane's link does (firmware-bridge/link/answer-cache.ts); g it answers with ACK.
    const pair2 = createTransportPair();
    await pair2.lane.open();
    pair2.lane.data$.subscribe((b) => {
      void pair2.lane.write(b.equals(g) ? ack : c4);
    });
    const replay = new CaptureReplay({ transport: pair2.device, dialect, script, speed: 1000 });
    const events: string[] = [];
    replay.events$.subscribe((e) => {
      if (e.type === "sent" || e.type === "skipped") events.push(`${e.type} ${e.step}`);
      else if (e.type === "diverged") events.push(`diverged: ${e.message}`);
    });
    await replay.start();
    const report = await replay.run();
    await replay.stop();
    expect(events).toEqual(["sent 0", "skipped 1", "sent 2"]);
    expect(report.divergences).toEqual([]);
    expect(report.matched).toBe(report.expected);
  });
});

/** A one-vehicle legacy run with the capture on; returns the capture file and the lane's decisions. */
async function capturedRun(): Promise<{ file: string; decisions: string[] }> {
  const pair = createTransportPair();
  const run = await lane("legacy", pair.lane, true);
  const sim = createRsuSimulator({
    transport: pair.device,
    protocol: "legacy",
    scenario: { startTime: "2025-07-16T10:00:00+08:00", traffic: { vehicles: [v("湘A00001")] } },
    seed: 3,
  });
  await sim.start();
  await run.open();
  await sim.done;
  await run.rt.controller.idle();
  await run.rt.close();
  await sim.stop();
  return { file: join(run.captureDir, readdirSync(run.captureDir)[0] as string), decisions: run.decisions };
}

describe("etc-lane decode --capture", () => {
  it("prints the capture as a timeline: every frame with its time, port and direction", async () => {
    const { file } = await capturedRun();
    const lines = await decodeCaptureLines([file]);
    const frames = lines.filter((l) => "type" in l);
    expect(frames.map((f) => `${f.dir} ${f.type}`)).toEqual([
      // a freshly powered legacy RSU answers the first C0 with RSCTL 0x98, which the lane cannot tell from
      // a reboot's B0: C0 once more, and the lane opens on its answer (src/lane/rsu-session.ts markedAnswer)
      "tx C0",
      "rx B0",
      "tx ACK",
      "tx C0",
      "rx B0",
      "tx ACK",
      "tx C4",
      "rx B2",
      "tx C1",
      "rx B3",
      "tx C1",
      "rx B4",
      "tx C6",
      "rx B5",
      "tx C1",
      "tx C4", // antenna off as the lane closes
    ]);
    for (const f of frames) {
      expect(f).toMatchObject({ port: "rsu", checksumOk: true });
      expect(Object.keys(f).slice(0, 4)).toEqual(["t", "time", "port", "dir"]);
    }
    const ts = frames.map((f) => f.t as number);
    expect([...ts].sort((a, b) => a - b)).toEqual(ts);
    expect(frames.find((f) => f.type === "B5")).toMatchObject({ errorCode: 0, cardBalance: 20_000 - 1425 });
    expect(lines.filter((l) => "state" in l).map((l) => l.state)).toEqual(["closed", "open", "closed"]);
  }, 30_000);
});

describe("etc-sim replay (the CLI) over a pty", () => {
  it("prints the lane's port, plays the RSU side to a lane on it, and reports no difference", async () => {
    const { file, decisions } = await capturedRun();
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "sim/cli/etc-sim.ts", "replay", "--pty", file],
      {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const lines: string[] = [];
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const firstLine = new Promise<string>((resolve) => {
      rl.on("line", (l) => {
        lines.push(l);
        if (lines.length === 1) resolve(l);
      });
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    const first = await firstLine;
    expect(first).toMatch(/^lane-port: \/dev\/pts\/\d+$/);
    const again = await lane(
      "legacy",
      createSerialTransport({ path: first.slice("lane-port: ".length) }),
      false,
    );
    await again.open();
    await firstValueFrom(again.rt.controller.outcomes$);
    await again.rt.controller.idle();
    await again.rt.close();
    expect(await exited).toBe(0);
    expect(again.decisions).toEqual(decisions);
    expect(lines.some((l) => / sent B5 \(recorded at \d+\.\d{3}s\)$/.test(l))).toBe(true);
    expect(lines.at(-1)).toMatch(
      /^replayed: \d+ RSU write\(s\); the lane sent (\d+) of the \1 frame\(s\) the recorded lane sent; 0 difference\(s\)$/,
    );
  }, 60_000);
});
