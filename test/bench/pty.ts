/**
 * Pseudo-terminal round trip (issue 14): the lane's serial transport on a pty writes a frame, the
 * device end echoes every byte back, the lane has the whole frame again. Three media in the same run:
 *  - pty.node-pty: one in-process pseudo-terminal (firmware-bridge/transport/pty.ts openPty), the device
 *    on its master end: what `etc-sim rsu --pty`, the tests and the lane benchmarks use;
 *  - pty.relay-in-process: two in-process ptys joined by this process (createPtyPair), socat's topology
 *    without socat;
 *  - pty.socat: socat's two-pty relay (skipped, with a note, when socat is not installed).
 * Frames of 40 and 120 bytes (a B5 and a national B4-sized frame), round trips one after another.
 * Line time on a real 115200 8N1 link is not part of this: a pty has no baud rate.
 */
import { execFileSync } from "node:child_process";
import { encodeLegacy } from "../../firmware-bridge/framing/legacy.js";
import { createPtyPair, openPty } from "../../firmware-bridge/transport/pty.js";
import { createSerialTransport } from "../../firmware-bridge/transport/serial.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import { type Benchmark, type BenchResult, nowUs, percentiles } from "./harness.js";

function socatInstalled(): boolean {
  try {
    execFileSync("socat", ["-V"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Round-trip times in ms: lane write -> the echoed frame complete at the lane. */
async function roundTrips(lane: Transport, device: Transport, size: number, n: number): Promise<number[]> {
  const echo = device.data$.subscribe((chunk) => {
    device.write(chunk).catch(() => {});
  });
  let got = 0;
  let wake: (() => void) | undefined;
  const sub = lane.data$.subscribe((chunk) => {
    got += chunk.length;
    wake?.();
  });
  const frame = encodeLegacy(0x08, Buffer.alloc(size - 5, 0x21));
  const out: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      got = 0;
      const back = new Promise<void>((resolve) => {
        wake = () => {
          if (got >= frame.length) resolve();
        };
      });
      const t0 = nowUs();
      await lane.write(frame);
      await back;
      out.push((nowUs() - t0) / 1000);
    }
  } finally {
    sub.unsubscribe();
    echo.unsubscribe();
  }
  return out;
}

async function measure(
  name: string,
  lanePath: string,
  device: Transport,
  n: number,
  notes: string,
): Promise<BenchResult[]> {
  const lane = createSerialTransport({ path: lanePath });
  await Promise.all([lane.open(), device.open()]);
  const results: BenchResult[] = [];
  try {
    for (const size of [40, 120]) {
      await roundTrips(lane, device, size, Math.min(200, n)); // warm-up
      const p = percentiles(await roundTrips(lane, device, size, n));
      results.push({
        name: `${name}.${size}B`,
        unit: "ms",
        figures: { p50: p.p50, p99: p.p99, max: p.max, n },
        notes,
      });
    }
  } finally {
    await lane.close();
  }
  return results;
}

export const ptyBench: Benchmark = {
  name: "pty-roundtrip",
  title: "pty round trip: in-process pseudo-terminal vs in-process relay vs socat's relay",
  async run(ctx) {
    const n = Math.max(500, Math.round(5000 * ctx.scale));
    const out: BenchResult[] = [];
    const one = await openPty({ backend: "node-pty" });
    try {
      out.push(
        ...(await measure("pty.node-pty", one.lanePath, one.device, n, "one pty, device on its master")),
      );
    } finally {
      await one.close();
    }
    const relay = await createPtyPair({ backend: "node-pty" });
    const relayDevice = createSerialTransport({ path: relay.devicePath });
    try {
      out.push(
        ...(await measure("pty.relay-in-process", relay.lanePath, relayDevice, n, "two ptys, relayed here")),
      );
    } finally {
      await relayDevice.close();
      await relay.close();
    }
    if (!socatInstalled()) {
      const note = "skipped: socat is not installed (apt-get install socat to compare)";
      ctx.log(`  ${note}`);
      out.push({ name: "pty.socat", unit: "ms", figures: {}, notes: note });
      return out;
    }
    const socat = await openPty({ backend: "socat" });
    try {
      out.push(...(await measure("pty.socat", socat.lanePath, socat.device, n, "two ptys, socat relays")));
    } finally {
      await socat.close();
    }
    return out;
  },
};
