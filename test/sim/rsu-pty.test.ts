import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { filter, firstValueFrom } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { RSU_REBOOT_RSCTL } from "../../firmware-bridge/framing/legacy.js";
import { openPty, type PtyDevice } from "../../firmware-bridge/transport/pty.js";
import { createSerialTransport } from "../../firmware-bridge/transport/serial.js";
import { createTcpClientTransport } from "../../firmware-bridge/transport/tcp.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import { loadCardKeys } from "../../sim/card/crypto/keys.js";
import { verifyTac } from "../../sim/card/crypto/tac-verify.js";
import { memoryFrameLog } from "../../sim/framelog/frame-log.js";
import { createRsuSimulator, type RsuSimulator } from "../../sim/rsu/rsu-simulator.js";
import { autoExitLane, type Got, LaneDriver } from "./lane-driver.js";

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe.each(["legacy", "national"] as const)("%s RSU over a real pty", (protocol) => {
  it("C0 gets B0, an unanswered B2 goes out 4 times (same bytes) before the RSU gives up, then C1/C1/C6 trade with a valid TAC", async () => {
    const pty: PtyDevice = await openPty();
    cleanup.push(() => pty.close());
    const frameLog = memoryFrameLog();
    const sim: RsuSimulator = createRsuSimulator({
      transport: pty.device,
      protocol,
      seed: 11,
      frameLog,
      timing: { heartbeatMs: 60_000 },
      scenario: {
        traffic: {
          vehicles: [
            { id: "silent", plate: "湘A11111", zoneMs: 1500 },
            { id: "paid", at: 1600, plate: "湘A22222", balance: 3000, zoneMs: 3000 },
          ],
        },
      },
    });
    cleanup.push(() => sim.stop());
    const gaveUp = firstValueFrom(sim.events$.pipe(filter((e) => e.type === "gaveUp")));
    await sim.start();
    const lane = new LaneDriver(createSerialTransport({ path: pty.lanePath, lock: false }), protocol);
    await lane.open();
    cleanup.push(async () => {
      lane.close();
      await lane.transport.close();
    });
    const b0 = await lane.init();
    expect(b0.frame.rsuStatus).toBe(0);
    // Nobody answers: the first B2 and its three repeats arrive (event-driven), then the RSU gives up.
    const copies = [await lane.expectFrame("B2")];
    for (let i = 0; i < 3; i++) copies.push(await lane.expectFrame("B2"));
    for (const r of copies) {
      expect(r.wire.seq).toBe(copies[0]?.wire.seq);
      expect(r.wire.raw.equals(copies[0]?.wire.raw as Buffer)).toBe(true);
    }
    expect(await gaveUp).toMatchObject({ type: "gaveUp", frame: "B2", vehicleId: "silent" });
    // What the RSU sent for that OBU, from its own frame log: the B2 and exactly three repeats.
    const silentObu = copies[0]?.frame.obuId;
    const sent = frameLog.records.filter(
      (r) => r.dir === "tx" && r.frame?.type === "B2" && r.frame.obuId === silentObu,
    );
    expect(sent.map((r) => r.note)).toEqual([undefined, "retransmit", "retransmit", "retransmit"]);
    const stop = autoExitLane(lane, 1500);
    cleanup.push(stop);
    await sim.done;
    const [entry] = sim.ledger();
    expect(entry).toMatchObject({ vehicleId: "paid", amount: 1500, balanceAfter: 1500 });
    expect(verifyTac({ ...entry!, algId: undefined }, loadCardKeys()).ok).toBe(true);
    expect(sim.vehicles().map((v) => v.outcome)).toEqual(["gave-up", "traded"]);
  });
});

describe("etc-sim rsu --pty (the CLI)", () => {
  it("prints lane-port first, trades basic.yaml with a lane on that pty, writes ledger and frame log", async () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-sim-rsu-"));
    const ledger = join(dir, "ledger.jsonl");
    const frameLog = join(dir, "frames.jsonl");
    const child: ChildProcess = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "sim/cli/etc-sim.ts",
        "rsu",
        "--pty",
        "--scenario",
        "config/scenarios/basic.yaml",
        "--time-scale",
        "2",
        "--ledger",
        ledger,
        "--frame-log",
        frameLog,
        "--exit-when-done",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    cleanup.push(() => {
      if (child.exitCode === null) child.kill("SIGTERM");
    });
    const lines: string[] = [];
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const firstLine = new Promise<string>((resolve, reject) => {
      rl.on("line", (l) => {
        lines.push(l);
        if (lines.length === 1) resolve(l);
      });
      child.once("exit", (code) => reject(new Error(`etc-sim exited early (${code})`)));
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    const first = await firstLine;
    expect(first).toMatch(/^lane-port: \/dev\/pts\/\d+$/);
    const lane = new LaneDriver(
      createSerialTransport({ path: first.slice("lane-port: ".length), lock: false }),
      "legacy",
    );
    await lane.open();
    cleanup.push(async () => {
      lane.close();
      await lane.transport.close();
    });
    const stop = autoExitLane(lane, 800);
    await lane.init();
    expect(await exited).toBe(0);
    stop();
    const entries = readFileSync(ledger, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(entries).toHaveLength(4);
    const keys = loadCardKeys();
    for (const e of entries) expect(verifyTac(e, keys).ok).toBe(true);
    const frames = readFileSync(frameLog, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(frames[0]).toMatchObject({ dir: "rx", frame: { type: "C0" } });
    // one B5 a vehicle; a repeat of one the lane answered after retransmitMs (a loaded machine) is noted
    // "retransmit" (sim/framelog/frame-log.ts) and is no new B5
    expect(
      frames.filter((f) => f.dir === "tx" && f.frame?.type === "B5" && f.note !== "retransmit"),
    ).toHaveLength(4);
    expect(lines.at(-1)).toMatch(/^stopped: 4 purchase\(s\), 3200 fen$/);
  }, 40_000);
});

/**
 * `etc-sim rsu ARGS` from source; resolves with its first stdout line (where the lane connects). `later`, when
 * given, gets each stdout line after it (one per vehicle event, give-up or notice).
 */
async function rsuCli(args: string[], later?: (line: string) => void): Promise<string> {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", "sim/cli/etc-sim.ts", "rsu", "--protocol", "legacy", ...args],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  cleanup.push(() => {
    if (child.exitCode === null) child.kill("SIGTERM");
  });
  const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  return new Promise<string>((resolve, reject) => {
    rl.once("line", (first) => {
      resolve(first);
      if (later) rl.on("line", later);
    });
    child.once("exit", (code) => reject(new Error(`etc-sim exited early (${code})`)));
  });
}

async function laneOn(transport: Transport): Promise<LaneDriver> {
  const lane = new LaneDriver(transport, "legacy");
  await lane.open();
  cleanup.push(async () => {
    lane.close();
    await lane.transport.close();
  });
  return lane;
}

/**
 * The B0 answering the lane's C0 after the power-on B0 `announced`, and how many copies of `announced`
 * came before it: the power-on B0 is repeated until answered (docs/simulator.md "Reboot"), so copies the
 * RSU sent before the C0 reached it (the simulator is another process, on real time) may come first.
 */
async function b0AfterAnnouncement(lane: LaneDriver, announced: Got<"B0">) {
  let copies = 0;
  let b0 = await lane.expectFrame("B0", 5000);
  while (b0.wire.raw.equals(announced.wire.raw)) {
    copies++;
    b0 = await lane.expectFrame("B0", 5000);
  }
  return { copies, b0 };
}

describe("etc-sim rsu --heartbeat-code (docs/protocol.md §4 heartbeatCode)", () => {
  it("08: the legacy heartbeat B2 carries ErrorCode 08", async () => {
    const first = await rsuCli(["--tcp", "127.0.0.1:0", "--heartbeat-code", "08", "--heartbeat-s", "4"]);
    const [host, port] = first.slice("tcp: ".length).split(":");
    const lane = await laneOn(createTcpClientTransport({ host: host as string, port: Number(port) }));
    await lane.init();
    const hb = await lane.expectFrame("HB", 10_000);
    expect(hb.frame).toMatchObject({ type: "B2", obuId: "00000000", errorCode: 0x08 });
  }, 20_000);
});

describe("etc-sim rsu --announce: the power-on B0 (RSCTL 0x98) reaches the lane", () => {
  it("--tcp: the lane that connects gets it unasked, then its C0's B0 is 0x08", async () => {
    const first = await rsuCli(["--tcp", "127.0.0.1:0", "--announce"]);
    const [host, port] = first.slice("tcp: ".length).split(":");
    const lane = await laneOn(createTcpClientTransport({ host: host as string, port: Number(port) }));
    const b0 = await lane.expectFrame("B0", 5000);
    expect([b0.wire.seq, b0.frame.rsuStatus]).toEqual([RSU_REBOOT_RSCTL, 0]);
    await lane.send(lane.c0());
    const answer = await b0AfterAnnouncement(lane, b0);
    expect(answer.copies).toBeLessThanOrEqual(3);
    expect(answer.b0.wire.seq).toBe(0x08);
  }, 20_000);

  it("--pty, a lane whose first frame is C0: the B0 answering it is the first the lane sees and carries 0x98; unanswered, only its repeats follow until the RSU gives up on it", async () => {
    let onGaveUp: (line: string) => void = () => {};
    const gaveUp = new Promise<string>((resolve) => {
      onGaveUp = resolve;
    });
    // no heartbeat among the frames this test counts: its first falls due 59 s after the C0
    const first = await rsuCli(["--pty", "--announce", "--heartbeat-s", "59"], (line) => {
      if (line.includes("gave up on B0")) onGaveUp(line);
    });
    const lane = await laneOn(
      createSerialTransport({ path: first.slice("lane-port: ".length), lock: false }),
    );
    await lane.send(lane.c0());
    const b0 = await lane.expectFrame("B0", 5000);
    expect(b0.wire.seq).toBe(RSU_REBOOT_RSCTL);
    // the first frame the lane got
    expect(lane.received[0]).toBe(b0);
    // unanswered, it is repeated three times, same bytes, each copy awaited as it comes: a second, different
    // B0 after it (an 0x08 answer to the same C0) would be the next B0 and fail here
    const hex = b0.wire.raw.toString("hex");
    for (let i = 0; i < 3; i++)
      expect((await lane.expectFrame("B0", 5000)).wire.raw.toString("hex")).toBe(hex);
    // then the RSU gives up on it; until then the lane got the four copies and nothing else
    expect(await gaveUp).toMatch(/gave up on B0: no answer/);
    expect(lane.received.map((r) => r.wire.raw.toString("hex"))).toEqual([hex, hex, hex, hex]);
  }, 20_000);

  it("--pty, a lane whose first frame is not C0: the power-on B0 goes out unasked once it is handled", async () => {
    const first = await rsuCli(["--pty", "--announce"]);
    const lane = await laneOn(
      createSerialTransport({ path: first.slice("lane-port: ".length), lock: false }),
    );
    await lane.send(lane.c4(true));
    const b0 = await lane.expectFrame("B0", 5000);
    expect(b0.wire.seq).toBe(RSU_REBOOT_RSCTL);
    await lane.send(lane.c0());
    const answer = await b0AfterAnnouncement(lane, b0);
    expect(answer.copies).toBeLessThanOrEqual(3);
    expect(answer.b0.wire.seq).toBe(0x08);
  }, 20_000);
});
