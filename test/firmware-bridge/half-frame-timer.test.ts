/**
 * The inter-byte timeout as the channels apply it (firmware-bridge/framing/half-frame-timer.ts), on
 * fake timers with a clock the test sets: a timer that fires late (the event loop was busy) gives the
 * reads that were pending a fresh timeout before it drops a half frame, so a good frame whose second half reached
 * JavaScript late is not lost; a timer that fires on time still drops a genuinely truncated frame at
 * the timeout.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  DEFAULT_LEGACY_DIALECT,
  DEFAULT_NATIONAL_DIALECT,
  encodeFrame,
} from "../../firmware-bridge/frames/index.js";
import { MAX_DEFERRALS } from "../../firmware-bridge/framing/half-frame-timer.js";
import { FrameChannel } from "../../firmware-bridge/link/frame-channel.js";
import { encodeReaderFrame } from "../../firmware-bridge/reader/frame.js";
import { ReaderChannel } from "../../firmware-bridge/reader/reader-channel.js";
import { fakeTransport } from "../helpers/channel-fakes.js";

let clock = 0;
const now = (): number => clock;

beforeEach(() => {
  vi.useFakeTimers();
  clock = 0;
});
afterEach(() => {
  vi.useRealTimers();
});

/** The event loop keeps time: `ms` pass and every timer due in them runs when due. */
function idle(ms: number): void {
  for (let i = 0; i < ms; i++) {
    clock++;
    vi.advanceTimersByTime(1);
  }
}

/**
 * The event loop was busy for `ms`: no timer ran meanwhile. Then its timers phase runs the timer that
 * came due (and only it: a timer that one sets is not run in the same phase, as in Node). The fake
 * timers only order the callbacks; the channels read the time from `clock`.
 */
function busy(ms: number): void {
  clock += ms;
  vi.advanceTimersToNextTimer();
}

// DEBIT's reply (TAC, MAC2, 9000), SEQ 9: split after 7 bytes as a USB-serial adapter may split it.
const reply = encodeReaderFrame(9, 0x12, 0, Buffer.from("01020304050607089000", "hex"));

function readerChannel() {
  const t = fakeTransport();
  const ch = new ReaderChannel({ transport: t, now, deframer: { interByteTimeoutMs: 50 } });
  const frames: string[] = [];
  const discards: string[] = [];
  ch.frames$.subscribe((f) => frames.push(f.frame.raw.toString("hex")));
  ch.discards$.subscribe((d) => discards.push(`${d.reason}:${d.bytes.toString("hex")}`));
  ch.start();
  return { t, ch, frames, discards };
}

describe("the reader channel's inter-byte timeout", () => {
  it("a frame whose second half is read after the loop was busy past the timeout is taken whole", () => {
    const { t, ch, frames, discards } = readerChannel();
    t.deliver(reply.subarray(0, 7));
    idle(10);
    // The rest is on the line now, but the loop is busy for 80 ms: the expiry timer (due at 51) runs
    // first when it comes back, before the read that delivers the rest.
    busy(80);
    expect(discards).toEqual([]);
    t.deliver(reply.subarray(7));
    idle(1000);
    expect(frames).toEqual([reply.toString("hex")]);
    expect(discards).toEqual([]);
    expect(ch.counters.truncated).toBe(0);
  });

  it("a half frame followed by silence is still dropped as truncated when the timer runs on time", () => {
    const { t, ch, frames, discards } = readerChannel();
    t.deliver(reply.subarray(0, 7));
    idle(50);
    expect(discards).toEqual([]);
    idle(1);
    expect(discards).toEqual([`truncated:${reply.subarray(0, 7).toString("hex")}`]);
    expect(frames).toEqual([]);
    expect(ch.counters.truncated).toBe(1);
    // The rest arriving afterwards is not taken for a frame.
    t.deliver(reply.subarray(7));
    idle(1000);
    expect(frames).toEqual([]);
  });

  it("a late timer with nothing pending drops the half frame after a fresh timeout of listening", () => {
    const { t, ch, discards } = readerChannel();
    t.deliver(reply.subarray(0, 7));
    busy(80);
    expect(discards).toEqual([]);
    idle(50);
    expect(discards).toEqual([]); // a fresh timeout from when the loop came back
    idle(1);
    expect(discards).toEqual([`truncated:${reply.subarray(0, 7).toString("hex")}`]);
    expect(ch.counters.truncated).toBe(1);
  });

  it("a loop that is late on every turn still drops a half frame after the last deferral", () => {
    const { t, discards } = readerChannel();
    t.deliver(reply.subarray(0, 7));
    busy(80);
    for (let i = 1; i < MAX_DEFERRALS; i++) busy(80);
    expect(discards).toEqual([]);
    busy(80);
    expect(discards).toEqual([`truncated:${reply.subarray(0, 7).toString("hex")}`]);
  });

  it("a half frame read with a whole frame whose handler took 20 ms is dropped at the timeout from its last byte, not a fresh timeout later", () => {
    const { t, ch, frames, discards } = readerChannel();
    // a synchronous subscriber's work runs inside the read: the clock moves, no timer runs
    ch.frames$.subscribe(() => {
      clock += 20;
    });
    t.deliver(Buffer.concat([reply, reply.subarray(0, 7)]));
    expect(frames).toHaveLength(1);
    idle(30); // clock 50
    expect(discards).toEqual([]);
    idle(1); // clock 51: the timer was due then and runs on time, so it drops the half frame
    expect(discards).toEqual([`truncated:${reply.subarray(0, 7).toString("hex")}`]);
  });

  it("a half frame read with a whole frame whose synchronous subscriber took the whole timeout waits a fresh timeout: the rest, already in the OS, completes it", () => {
    const { t, ch, frames, discards } = readerChannel();
    ch.frames$.subscribe(() => {
      clock += 51; // nothing of the half frame's timeout is left when the read returns
    });
    t.deliver(Buffer.concat([reply, reply.subarray(0, 7)]));
    // the loop comes back: its timers phase runs whatever is due now, before the read of the rest
    vi.advanceTimersByTime(0);
    expect(discards).toEqual([]);
    t.deliver(reply.subarray(7));
    idle(1000);
    expect(frames).toEqual([reply.toString("hex"), reply.toString("hex")]);
    expect(discards).toEqual([]);
  });

  it("after such a deferral, silence drops the half frame at the fresh timeout", () => {
    const { t, ch, discards } = readerChannel();
    ch.frames$.subscribe(() => {
      clock += 60;
    });
    t.deliver(Buffer.concat([reply, reply.subarray(0, 7)]));
    vi.advanceTimersByTime(0);
    idle(50);
    expect(discards).toEqual([]);
    idle(1);
    expect(discards).toEqual([`truncated:${reply.subarray(0, 7).toString("hex")}`]);
    expect(ch.counters.truncated).toBe(1);
  });

  it("stop() cancels the timer: nothing is dropped by it afterwards", () => {
    const { t, ch, discards } = readerChannel();
    t.deliver(reply.subarray(0, 7));
    ch.stop(); // reports the half frame it held, as before
    expect(discards).toEqual([`truncated:${reply.subarray(0, 7).toString("hex")}`]);
    idle(1000);
    expect(discards).toHaveLength(1);
  });
});

describe.each([
  ["legacy", DEFAULT_LEGACY_DIALECT, 0x80],
  ["national", DEFAULT_NATIONAL_DIALECT, 0x10],
] as const)("the RSU channel's inter-byte timeout (%s)", (_name, dialect, seq) => {
  const good = encodeFrame({ type: "C4", controlType: 1 }, seq, dialect);
  const half = good.length >> 1;

  function rsuChannel() {
    const t = fakeTransport();
    const ch = new FrameChannel({
      transport: t,
      dialect,
      receives: "lane-to-rsu", // the RSU's end: it receives the C4 below
      now,
      deframer: { interByteTimeoutMs: 50 },
    });
    const frames: string[] = [];
    const problems: string[] = [];
    ch.frames$.subscribe((f) => frames.push(f.wire.raw.toString("hex")));
    ch.problems$.subscribe((p) => problems.push(p.kind === "discarded" ? `${p.reason}` : p.kind));
    ch.start();
    return { t, ch, frames, problems };
  }

  it("a frame whose second half is read after the loop was busy past the timeout is taken whole", () => {
    const { t, ch, frames, problems } = rsuChannel();
    t.deliver(good.subarray(0, half));
    idle(10);
    busy(80);
    expect(problems).toEqual([]);
    t.deliver(good.subarray(half));
    idle(1000);
    expect(frames).toEqual([good.toString("hex")]);
    expect(problems).toEqual([]);
    expect(ch.counters.timeouts).toBe(0);
  });

  it("a half frame read with a whole frame whose handler took 20 ms is dropped at the timeout from its last byte, not a fresh timeout later", () => {
    const { t, ch, frames, problems } = rsuChannel();
    // a synchronous subscriber's work runs inside the read: the clock moves, no timer runs; before, the
    // timer started after it counted a whole timeout and so fired "late", and waited a fresh one
    // (docs/link.md deframer.interByteTimeoutMs)
    ch.frames$.subscribe(() => {
      clock += 20;
    });
    t.deliver(Buffer.concat([good, good.subarray(0, half)]));
    expect(frames).toEqual([good.toString("hex")]);
    idle(30); // clock 50
    expect(problems).toEqual([]);
    idle(1); // clock 51
    expect(problems).toEqual(["timeout"]);
    expect(ch.counters.timeouts).toBe(1);
  });

  it("a half frame read with a whole frame whose synchronous subscriber took the whole timeout waits a fresh timeout: the rest, already in the OS, completes it", () => {
    const { t, ch, frames, problems } = rsuChannel();
    ch.frames$.subscribe(() => {
      clock += 51; // nothing of the half frame's timeout is left when the read returns
    });
    t.deliver(Buffer.concat([good, good.subarray(0, half)]));
    // the loop comes back: its timers phase runs whatever is due now, before the read of the rest
    vi.advanceTimersByTime(0);
    expect(problems).toEqual([]);
    t.deliver(good.subarray(half));
    idle(1000);
    expect(frames).toEqual([good.toString("hex"), good.toString("hex")]);
    expect(problems).toEqual([]);
    expect(ch.counters.timeouts).toBe(0);
  });

  it("a half frame followed by silence is still dropped at the timeout when the timer runs on time", () => {
    const { t, ch, frames, problems } = rsuChannel();
    t.deliver(good.subarray(0, half));
    idle(50);
    expect(problems).toEqual([]);
    idle(1);
    expect(problems).toEqual(["timeout"]);
    expect(ch.counters.timeouts).toBe(1);
    t.deliver(good.subarray(half));
    idle(1000);
    expect(frames).toEqual([]);
  });
});
