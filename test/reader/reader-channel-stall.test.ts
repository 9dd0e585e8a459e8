/**
 * A reader reply split across two reads while the lane's event loop is busy for longer than the
 * inter-byte timeout (a synchronous journal commit, a garbage collection), on a real pseudo-terminal:
 * the second half is in the OS while the loop is busy, and the expiry timer comes due before the read
 * that delivers it. The frame must come out whole (firmware-bridge/framing/half-frame-timer.ts), not as
 * a truncated half and noise.
 */
import { firstValueFrom, map, merge } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { encodeReaderFrame } from "../../firmware-bridge/reader/frame.js";
import { ReaderChannel } from "../../firmware-bridge/reader/reader-channel.js";
import { openPty } from "../../firmware-bridge/transport/pty.js";
import { createSerialTransport } from "../../firmware-bridge/transport/serial.js";

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** Keeps the event loop busy (no timer, no I/O callback runs) for `ms`. */
function blockLoop(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy
  }
}

describe("the reader channel on a pty when the event loop stalls mid-frame", () => {
  it("takes a frame whose second half arrived while the loop was busy past the inter-byte timeout", async () => {
    const pty = await openPty({ backend: "node-pty" });
    cleanup.push(() => pty.close());
    const lane = createSerialTransport({ path: pty.lanePath, lock: false });
    cleanup.push(() => lane.close());
    // 300 ms, not the 50 of a real reader: the fresh timeout a late timer waits is the margin the read of
    // the second half has to come in; on this loaded 2-core machine 50 ms was once not enough (a fresh-clone
    // CI run of 2026-12-06 saw the half frame truncated). The overdue timer still runs before that read
    // whatever the timeout's length (timers before I/O in the loop's turn), so the test still fails
    // without the fix
    const ch = new ReaderChannel({ transport: lane, deframer: { interByteTimeoutMs: 300 } });
    ch.start();
    cleanup.push(async () => ch.stop());
    await Promise.all([lane.open(), pty.device.open()]);

    // DEBIT's reply (TAC, MAC2, 9000), SEQ 9.
    const reply = encodeReaderFrame(9, 0x12, 0, Buffer.from("01020304050607089000", "hex"));
    const firstRead = firstValueFrom(lane.data$);
    const outcome = firstValueFrom(
      merge(
        ch.frames$.pipe(map((f) => `frame:${f.frame.raw.toString("hex")}`)),
        ch.discards$.pipe(map((d) => `${d.reason}:${d.bytes.toString("hex")}`)),
      ),
    );
    await pty.device.write(reply.subarray(0, 7));
    expect((await firstRead).equals(reply.subarray(0, 7))).toBe(true); // the channel holds a half frame
    await pty.device.write(reply.subarray(7)); // the rest is in the OS now...
    blockLoop(400); // ...while the loop is busy: the 300 ms expiry timer is overdue when it comes back
    expect(await outcome).toBe(`frame:${reply.toString("hex")}`);
    expect(ch.counters).toMatchObject({ frames: 1, truncated: 0, discardedBytes: 0 });
  });
});
