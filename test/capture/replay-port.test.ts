/**
 * `etc-sim replay --capture-port` (sim/cli/commands/replay.ts) plays an RSU port: a port the capture says
 * speaks something else (the booth card reader's etc-reader) is refused naming what it is and the RSU
 * ports the capture has, never read as RSU frames because --protocol was given.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CaptureWriter } from "../../firmware-bridge/capture/capture-writer.js";
import { RTAC_EVENT } from "../../firmware-bridge/capture/pcapng.js";
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
