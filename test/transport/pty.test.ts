import { filter, firstValueFrom } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCodes } from "../../firmware-bridge/errors.js";
import { encodeLegacy, LegacyDeframer } from "../../firmware-bridge/framing/legacy.js";
import { createPtyPair, type PtyPair } from "../../firmware-bridge/transport/pty.js";
import { createSerialTransport } from "../../firmware-bridge/transport/serial.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function pair(): Promise<{ pty: PtyPair; lane: Transport; device: Transport }> {
  const pty = await createPtyPair();
  cleanup.push(() => pty.close());
  const lane = createSerialTransport({ path: pty.lanePath });
  const device = createSerialTransport({ path: pty.devicePath });
  cleanup.push(
    () => lane.close(),
    () => device.close(),
  );
  await Promise.all([lane.open(), device.open()]);
  return { pty, lane, device };
}

/** Deterministic pseudo-random bytes. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x1_0000_0000;
  };
}

describe("pty pair (socat) with the serial transport", () => {
  it("creates two /dev/pts paths", async () => {
    const pty = await createPtyPair();
    cleanup.push(() => pty.close());
    expect(pty.lanePath).toMatch(/^\/dev\/pts\/\d+$/);
    expect(pty.devicePath).toMatch(/^\/dev\/pts\/\d+$/);
    expect(pty.lanePath).not.toBe(pty.devicePath);
  });

  it("fails clearly when socat is missing", async () => {
    await expect(createPtyPair({ socat: "/nonexistent/socat" })).rejects.toThrow(
      "socat not found: install it with apt-get install socat",
    );
  });

  it("carries frames of random sizes, every byte value included, intact in both directions", async () => {
    const { lane, device } = await pair();
    const r = rng(7);
    const frames: Buffer[] = [];
    for (let i = 0; i < 60; i++) {
      const n = Math.floor(r() * 400);
      const data = Buffer.alloc(n);
      for (let j = 0; j < n; j++) data[j] = Math.floor(r() * 256);
      frames.push(encodeLegacy(((i % 8) << 4) | 8, data));
    }
    for (const [from, to] of [
      [device, lane],
      [lane, device],
    ] as const) {
      const deframer = new LegacyDeframer({ maxFrameLength: 2048 });
      const got: Buffer[] = [];
      const done = new Promise<void>((resolve) => {
        const sub = to.data$.subscribe((chunk) => {
          for (const ev of deframer.push(chunk, 0)) if (ev.kind === "frame") got.push(ev.frame.raw);
          if (got.length === frames.length) {
            sub.unsubscribe();
            resolve();
          }
        });
      });
      for (const f of frames) await from.write(f);
      await done;
      expect(got.map((b) => b.toString("hex"))).toEqual(frames.map((b) => b.toString("hex")));
      expect(deframer.counters.discardedBytes).toBe(0);
    }
  });

  it("a second opener of the same pty gets PortLocked naming it", async () => {
    const { pty } = await pair();
    const intruder = createSerialTransport({ path: pty.lanePath });
    await expect(intruder.open()).rejects.toMatchObject({ code: ErrorCodes.PortLocked });
    await expect(intruder.open()).rejects.toThrow(`fuser -v ${pty.lanePath}`);
  });

  it("killing socat (the cable) turns an open port into disconnected with PortDisconnected", async () => {
    const { pty, lane } = await pair();
    const down = firstValueFrom(lane.state$.pipe(filter((s) => s.status !== "open")));
    await pty.close();
    const s = await down;
    expect(s.status).toBe("disconnected");
    expect(s.error?.code).toBe(ErrorCodes.PortDisconnected);
    expect(s.error?.message).toContain(pty.lanePath);
    // The path is gone: reopening reports it as not found.
    await expect(lane.open()).rejects.toMatchObject({ code: ErrorCodes.PortNotFound });
  });
});
