import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { filter, firstValueFrom, scan, timeout } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCodes } from "../../firmware-bridge/errors.js";
import { encodeLegacy, LegacyDeframer } from "../../firmware-bridge/framing/legacy.js";
import { createPtyPair, openPty, type PtyDevice } from "../../firmware-bridge/transport/pty.js";
import { createSerialTransport } from "../../firmware-bridge/transport/serial.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const hasSocat = ((): boolean => {
  try {
    execFileSync("socat", ["-V"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

/** An executable that runs ./socat-stand-in.ts with this Node (and tsx), for a machine without socat. */
function socatStandIn(): string {
  const dir = mkdtempSync(join(tmpdir(), "socat-stand-in-"));
  cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
  const exe = join(dir, "socat");
  const script = fileURLToPath(new URL("./socat-stand-in.ts", import.meta.url));
  writeFileSync(exe, `#!/bin/sh\nexec "${process.execPath}" --import tsx "${script}" "$@"\n`, {
    mode: 0o755,
  });
  return exe;
}

async function pty(): Promise<{ pty: PtyDevice; lane: Transport; device: Transport }> {
  const p = await openPty({ backend: "node-pty" });
  cleanup.push(() => p.close());
  const lane = createSerialTransport({ path: p.lanePath });
  cleanup.push(() => lane.close());
  await Promise.all([lane.open(), p.device.open()]);
  return { pty: p, lane, device: p.device };
}

/** The bytes `t` reads from now on, once there are at least `n` of them; subscribes at once. */
function bytesFrom(t: Transport, n: number): Promise<Buffer> {
  return firstValueFrom(
    t.data$.pipe(
      scan((all, chunk) => Buffer.concat([all, chunk]), Buffer.alloc(0)),
      filter((all) => all.length >= n),
      timeout(10_000),
    ),
  );
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

/** 60 legacy frames of random sizes with every byte value, sent from one end, all read at the other. */
async function carries(from: Transport, to: Transport, seed: number): Promise<void> {
  const r = rng(seed);
  const frames: Buffer[] = [];
  for (let i = 0; i < 60; i++) {
    const n = Math.floor(r() * 400);
    const data = Buffer.alloc(n);
    for (let j = 0; j < n; j++) data[j] = Math.floor(r() * 256);
    frames.push(encodeLegacy(((i % 8) << 4) | 8, data));
  }
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

describe("in-process pseudo-terminal (node-pty) with the serial transport", () => {
  it("gives a /dev/pts path for the lane and a transport for the device", async () => {
    const { pty: p, device } = await pty();
    expect(p.backend).toBe("node-pty");
    expect(p.lanePath).toMatch(/^\/dev\/pts\/\d+$/);
    expect(device.status).toBe("open");
  });

  it("carries frames of random sizes, every byte value included, intact in both directions", async () => {
    const { lane, device } = await pty();
    await carries(device, lane, 7);
    await carries(lane, device, 8);
  });

  it("is raw before the lane opens it: no echo, CR/LF and ^C/^S/^Q pass untouched", async () => {
    const p = await openPty({ backend: "node-pty" });
    cleanup.push(() => p.close());
    await p.device.open();
    const echoed: Buffer[] = [];
    p.device.data$.subscribe((b) => echoed.push(b));
    const control = Buffer.from([0x0d, 0x0a, 0x03, 0x11, 0x13, 0x1a, 0x7f, 0xff]);
    await p.device.write(control);
    // A lane reading without setting termios of its own gets the bytes exactly.
    const lane = createSerialTransport({ path: p.lanePath });
    cleanup.push(() => lane.close());
    const got = bytesFrom(lane, control.length);
    await lane.open();
    await p.device.write(control);
    expect((await got).equals(control)).toBe(true);
    expect(echoed).toEqual([]);
  });

  it("a second opener of the lane's end gets PortLocked naming it", async () => {
    const { pty: p } = await pty();
    const intruder = createSerialTransport({ path: p.lanePath });
    await expect(intruder.open()).rejects.toMatchObject({ code: ErrorCodes.PortLocked });
    await expect(intruder.open()).rejects.toThrow(`fuser -v ${p.lanePath}`);
  });

  it("survives the lane closing and reopening its end (a restarted lane finds the same path)", async () => {
    const { pty: p, lane, device } = await pty();
    await lane.close();
    const again = createSerialTransport({ path: p.lanePath });
    cleanup.push(() => again.close());
    await again.open();
    await carries(device, again, 9);
  });

  it("closing the pseudo-terminal (the cable) turns the lane's open port into disconnected", async () => {
    const { pty: p, lane } = await pty();
    const down = firstValueFrom(lane.state$.pipe(filter((s) => s.status !== "open")));
    await p.close();
    const s = await down;
    expect(s.status).toBe("disconnected");
    expect(s.error?.code).toBe(ErrorCodes.PortDisconnected);
    expect(s.error?.message).toContain(p.lanePath);
    expect(existsSync(p.lanePath)).toBe(false);
    await expect(lane.open()).rejects.toMatchObject({ code: ErrorCodes.PortNotFound });
  });

  it("the device side closed is a pulled cable: writes fail, what the lane sends meanwhile is dropped", async () => {
    const { lane, device } = await pty();
    await device.close();
    await expect(device.write(Buffer.from([1]))).rejects.toMatchObject({
      code: ErrorCodes.PortClosed,
      details: { nothingWritten: true },
    });
    await lane.write(Buffer.from("lost while unplugged"));
    await device.open();
    const marker = encodeLegacy(0x08, Buffer.from([0xb2, 1, 2, 3, 4, 0]));
    const got = bytesFrom(device, marker.length);
    await lane.write(marker);
    expect((await got).equals(marker)).toBe(true); // nothing of what was sent while unplugged
  });

  it("createPtyPair joins two in-process pseudo-terminals, both opened by path", async () => {
    const pair = await createPtyPair({ backend: "node-pty" });
    cleanup.push(() => pair.close());
    expect(pair.pid).toBeUndefined();
    const lane = createSerialTransport({ path: pair.lanePath });
    const device = createSerialTransport({ path: pair.devicePath });
    cleanup.push(
      () => lane.close(),
      () => device.close(),
    );
    await Promise.all([lane.open(), device.open()]);
    await carries(device, lane, 10);
    await carries(lane, device, 11);
  });
});

describe("socat, the optional fallback", () => {
  it("fails clearly when socat is missing", async () => {
    await expect(openPty({ backend: "socat", socat: "/nonexistent/socat" })).rejects.toThrow(
      "socat not found: install it with apt-get install socat",
    );
  });

  // socat when installed; else a stand-in that announces its pair as socat does (./socat-stand-in.ts),
  // given longer to start: it is a Node process loading tsx and node-pty
  const socat = () =>
    hasSocat
      ? { backend: "socat" as const, socat: "socat" }
      : { backend: "socat" as const, socat: socatStandIn(), startTimeoutMs: 20_000 };
  it(`the socat backend's pair carries frames both ways, and close() ends the process (${hasSocat ? "socat" : "socat stand-in"})`, async () => {
    const p = await openPty(socat());
    cleanup.push(() => p.close());
    expect(p.backend).toBe("socat");
    const lane = createSerialTransport({ path: p.lanePath });
    cleanup.push(() => lane.close());
    await Promise.all([lane.open(), p.device.open()]);
    await carries(p.device, lane, 12);
    await carries(lane, p.device, 13);
    const pair = await createPtyPair(socat());
    cleanup.push(() => pair.close());
    expect(pair).toMatchObject({ backend: "socat", pid: expect.any(Number) });
    expect(existsSync(pair.lanePath) && existsSync(pair.devicePath)).toBe(true);
    await pair.close();
    expect(() => process.kill(pair.pid as number, 0)).toThrow(expect.objectContaining({ code: "ESRCH" }));
  });
});
