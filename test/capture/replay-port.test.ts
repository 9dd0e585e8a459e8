/**
 * `etc-sim replay --capture-port` (sim/cli/commands/replay.ts) plays an RSU port: a port the capture says
 * speaks something else (the booth card reader's etc-reader) is refused naming what it is and the RSU
 * ports the capture has, never read as RSU frames because --protocol was given. A packet cut to a snap
 * length refuses the replay only when it is on the port replayed.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CaptureWriter } from "../../firmware-bridge/capture/capture-writer.js";
import {
  interfaceDescription,
  packet,
  RTAC_EVENT,
  sectionHeader,
} from "../../firmware-bridge/capture/pcapng.js";
import { encodeNational } from "../../firmware-bridge/framing/national.js";
import { encodeReaderFrame } from "../../firmware-bridge/reader/frame.js";
import { runCli } from "../helpers/cli.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "replay-port-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A booth capture: the lane's RSU port and the booth card reader's port, one frame each. */
function boothCapture(): string {
  const w = new CaptureWriter({ dir, prefix: "b", now: () => 0, wallNow: () => Date.UTC(2026, 11, 2) });
  const rsu = w.addPort(
    "rsu",
    "etc-lane t rsu port x protocol=national inter-byte-ms=50 max-frame-length=1024",
  );
  const reader = w.addPort(
    "reader",
    "etc-lane t reader port y protocol=etc-reader inter-byte-ms=50 max-frame-length=1024",
  );
  w.record(rsu, RTAC_EVENT.dataRx, encodeNational(0x02, Buffer.from("b2a1b2c3d400", "hex")));
  w.record(reader, RTAC_EVENT.dataRx, encodeReaderFrame(7, 0x31, 0x00, Buffer.from("9000", "hex")));
  w.close();
  return join(dir, readdirSync(dir)[0] as string);
}

describe("etc-sim replay --capture-port", () => {
  // review: "does not say its protocol: give --protocol", and with --protocol the reader's bytes went out as RSU frames
  it("refuses the booth card reader's port, with or without --protocol, naming the RSU ports", async () => {
    const file = boothCapture();
    for (const extra of [[], ["--protocol", "legacy"]]) {
      const r = await runCli("etc-sim", ["replay", "--pty", "--capture-port", "reader", ...extra, file]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        'etc-sim: --capture-port: port "reader" is the booth card reader\'s (protocol=etc-reader); the replay plays an RSU port (this capture has: rsu)\n',
      );
      expect(r.stdout).toBe("");
    }
  });
});

/**
 * A capture whose RSU port only opened (nothing to send, no lane frame to wait for) and whose `cutOn` port
 * has one read packet cut to a snap length (its EPB's original length 5 bytes above what it holds).
 */
function cutCapture(cutOn: "rsu" | "reader"): { file: string; at: number; kept: number; crossed: number } {
  const head = Buffer.concat([
    sectionHeader("test", []),
    interfaceDescription("rsu", "etc-lane t rsu port x protocol=national"),
    interfaceDescription("reader", "etc-lane t reader port y protocol=etc-reader"),
    packet(0, 1_000_000n, RTAC_EVENT.statusChange, Buffer.alloc(0), "open"),
  ]);
  const frame =
    cutOn === "rsu"
      ? encodeNational(0x02, Buffer.from("b2a1b2c3d400", "hex"))
      : encodeReaderFrame(7, 0x31, 0x00, Buffer.from("9000", "hex"));
  const epb = packet(
    cutOn === "rsu" ? 0 : 1,
    1_001_000n,
    RTAC_EVENT.dataRx,
    frame.subarray(0, frame.length - 5),
  );
  epb.writeUInt32LE(12 + frame.length, 8 + 16); // original length: the RTAC header and every byte of the frame
  const file = join(dir, `cut-${cutOn}.pcapng`);
  writeFileSync(file, Buffer.concat([head, epb]));
  return { file, at: head.length, kept: frame.length - 5, crossed: frame.length };
}

describe("etc-sim replay and a packet cut to a snap length", () => {
  // noticed: a packet cut on the booth card reader's port refused the replay of the RSU port
  it("on another port than the replayed one: the replay is not refused and replays whole", async () => {
    const r = await runCli("etc-sim", ["replay", "--tcp", "127.0.0.1:0", cutCapture("reader").file]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain(
      "replayed: 0 RSU write(s); the lane sent 0 of the 0 frame(s) the recorded lane sent; 0 difference(s)\n",
    );
    expect(r.code).toBe(0);
  });

  it("on the replayed port: refused before it starts, naming the packet and its port", async () => {
    const { file, at, kept, crossed } = cutCapture("rsu");
    const r = await runCli("etc-sim", ["replay", "--tcp", "127.0.0.1:0", file]);
    expect(r.stderr).toBe(
      `etc-sim: 1 captured packet(s) of port "rsu" cut short by a snap length, the first ${file}: packet at byte ${at} on port "rsu" holds ${kept} of the ${crossed} bytes that crossed the port (the capture was cut to a snap length, as editcap -s does): a replay would send bytes that never crossed the wire as they did\n`,
    );
    expect(r.stdout).toBe("");
    expect(r.code).toBe(1);
  });
});
