/**
 * The pty's device end when the pty's buffer is full (nobody reads the lane's end): its queued write is
 * retried on a timer that backs off from 1 ms to 10 ms, not on every turn of the event loop, and the queue
 * is bounded (firmware-bridge/transport/pty-master.ts). The pty is real; write(2) on its master is made to
 * answer EAGAIN while `full` is set, so every retry is counted and the run is deterministic on fake timers.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ErrorCodes, isEtcError, wroteNothing } from "../../firmware-bridge/errors.js";
import { openPty, type PtyDevice } from "../../firmware-bridge/transport/pty.js";
import { PTY_RETRY_MAX_MS } from "../../firmware-bridge/transport/pty-master.js";

const pty = vi.hoisted(() => ({ full: false, refused: 0 }));

vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>();
  const writeSync = ((...args: Parameters<typeof fs.writeSync>) => {
    if (pty.full) {
      pty.refused++;
      throw Object.assign(new Error("EAGAIN: resource temporarily unavailable, write"), { code: "EAGAIN" });
    }
    return (fs.writeSync as (...a: unknown[]) => number)(...args);
  }) as typeof fs.writeSync;
  return { ...fs, default: { ...fs, writeSync }, writeSync };
});

let p: PtyDevice | undefined;

beforeEach(() => {
  pty.full = false;
  pty.refused = 0;
});

afterEach(async () => {
  vi.useRealTimers();
  pty.full = false;
  await p?.close();
  p = undefined;
});

async function device(maxQueuedBytes?: number): Promise<PtyDevice["device"]> {
  p = await openPty(
    maxQueuedBytes === undefined ? { backend: "node-pty" } : { backend: "node-pty", maxQueuedBytes },
  );
  await p.device.open();
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setImmediate", "clearImmediate"] });
  return p.device;
}

describe("the pty's device end when the pty is full", () => {
  it("retries a refused write on a timer backing off from 1 ms to 10 ms, not on every turn of the loop", async () => {
    const d = await device();
    pty.full = true;
    let done = false;
    const written = d.write(Buffer.from("hello")).then(() => {
      done = true;
    });
    expect(pty.refused).toBe(1); // the write itself
    vi.advanceTimersByTime(0); // a turn of the loop: no retry
    expect(pty.refused).toBe(1);
    const retriedAt: number[] = [];
    for (let ms = 1; ms <= 60; ms++) {
      const before = pty.refused;
      vi.advanceTimersByTime(1);
      if (pty.refused > before) retriedAt.push(ms);
    }
    // 1, 2, 4, 8 ms apart, then every PTY_RETRY_MAX_MS
    expect(retriedAt).toEqual([1, 3, 7, 15, 25, 35, 45, 55]);
    expect(PTY_RETRY_MAX_MS).toBe(10);
    expect(done).toBe(false);

    // Room again: the next retry writes the bytes and the write resolves.
    pty.full = false;
    vi.advanceTimersByTime(PTY_RETRY_MAX_MS);
    await written;
    expect(done).toBe(true);

    // After progress the pause starts again at 1 ms.
    pty.full = true;
    pty.refused = 0;
    const again = d.write(Buffer.from("again"));
    vi.advanceTimersByTime(1);
    expect(pty.refused).toBe(2);
    pty.full = false;
    vi.advanceTimersByTime(2);
    await again;
  });

  it("refuses a write that would take the bytes waiting past maxQueuedBytes, marked as nothing written", async () => {
    const d = await device(1000);
    pty.full = true;
    const first = d.write(Buffer.alloc(600, 0x41));
    const second = await d.write(Buffer.alloc(600, 0x42)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isEtcError(second, ErrorCodes.PortClosed)).toBe(true);
    expect(wroteNothing(second)).toBe(true);
    expect((second as Error).message).toMatch(/600 bytes already wait for room .*limit 1000/);
    // What fits under the limit is still taken, and the first write completes once there is room.
    const third = d.write(Buffer.alloc(400, 0x43));
    pty.full = false;
    vi.advanceTimersByTime(PTY_RETRY_MAX_MS);
    await Promise.all([first, third]);
    // The queue is empty again: the full limit is available.
    pty.full = true;
    const fourth = d.write(Buffer.alloc(1000, 0x44));
    pty.full = false;
    vi.advanceTimersByTime(PTY_RETRY_MAX_MS);
    await fourth;
  });
});
