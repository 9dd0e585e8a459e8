/**
 * Line-noise warnings are capped (firmware-bridge/noise-log.ts, docs/link.md "Receiving,
 * acknowledging, deduplicating"): a floating RX line brings tens of discarded runs a second for months.
 * The first ones of an episode are warned about, then one summary per interval; the counters still count
 * every event. Fake timers and an injected clock.
 */
import { describe, expect, it, vi } from "vitest";
import { DEFAULT_NATIONAL_DIALECT } from "../../firmware-bridge/frames/index.js";
import { encodeNational } from "../../firmware-bridge/framing/national.js";
import { FrameChannel } from "../../firmware-bridge/link/frame-channel.js";
import { NOISE_SUMMARY_INTERVAL_MS, NOISE_WARN_BURST } from "../../firmware-bridge/noise-log.js";
import {
  eachTestOnFakeTimers,
  recordedChannel,
  summedSummaries,
  warnsDuring,
} from "../helpers/channel-fakes.js";

const NOISE = Buffer.from("123456", "hex"); // no FF: one discarded run of 3 bytes per read
const BAD_CRC = (() => {
  const f = Buffer.from(encodeNational(0x01, Buffer.from([0xb2, 1, 2, 3, 4, 0])));
  f[f.length - 1] = (f[f.length - 1] as number) ^ 0xff;
  return f;
})();

eachTestOnFakeTimers();

function channel() {
  return recordedChannel(
    (transport, logger) =>
      new FrameChannel({
        transport,
        dialect: DEFAULT_NATIONAL_DIALECT,
        receives: "rsu-to-lane",
        logger,
        now: () => Date.now(),
      }),
  );
}

/** `seconds` of a floating line: 60 noise reads a second, every 10th a frame with a bad CRC. */
function floating(t: { deliver(b: Buffer): void }, seconds: number): void {
  for (let i = 0; i < seconds * 60; i++) {
    t.deliver(i % 10 === 9 ? BAD_CRC : NOISE);
    vi.advanceTimersByTime(1000 / 60);
  }
}

describe("FrameChannel: line-noise warnings are capped", () => {
  it("a floating line for 3 minutes: the first warnings, then one summary a minute; counters count everything", () => {
    const { t, ch, lines, warns } = channel();
    floating(t, 180);
    vi.advanceTimersByTime(NOISE_SUMMARY_INTERVAL_MS); // the third minute's summary, then nothing more
    const w = warns();
    // the burst (9 noise reads, then the bad frame's checksum error; its bytes, discarded, already
    // fall after it), the notice that the rest goes to debug, and one summary per minute of noise
    expect(w.slice(0, NOISE_WARN_BURST).map((l) => l.msg)).toEqual([
      ...Array(NOISE_WARN_BURST - 1).fill("bytes discarded"),
      "checksum error",
    ]);
    expect(w[NOISE_WARN_BURST]?.msg).toMatch(
      /further discarded runs and checksum errors are logged at debug/,
    );
    const summaries = w.slice(NOISE_WARN_BURST + 1);
    expect(summaries).toHaveLength(3);
    for (const s of summaries) expect(s.msg).toMatch(/^line noise: \d+ discarded run\(s\)/);
    // every event is in the counters, and either warned about or logged at debug and summarised
    const events = 180 * 60;
    const badFrames = events / 10;
    expect(ch.counters.checksumErrors).toBe(badFrames);
    const runs = lines.filter((l) => l.msg === "bytes discarded").length;
    const checksum = lines.filter((l) => l.msg === "checksum error").length;
    expect(checksum).toBe(badFrames);
    const summed = summedSummaries(summaries);
    const warnedRuns = w.filter((l) => l.msg === "bytes discarded").length;
    const warnedCs = w.filter((l) => l.msg === "checksum error").length;
    expect(summed.runs + warnedRuns).toBe(runs);
    expect(summed.cs + warnedCs).toBe(checksum);
    expect(summed.runs).toBe(lines.filter((l) => l.level === "debug" && l.msg === "bytes discarded").length);
    ch.stop();
  });

  it("after a quiet interval the next noise is warned about again; stop() logs what the window held back", () => {
    const { t, ch, warns } = channel();
    floating(t, 10);
    vi.advanceTimersByTime(2 * NOISE_SUMMARY_INTERVAL_MS); // a summary, then a window with nothing
    expect(warnsDuring(warns, () => t.deliver(NOISE))).toEqual(["bytes discarded"]);
    floating(t, 5);
    const last = warnsDuring(warns, () => ch.stop());
    expect(last).toHaveLength(1);
    expect(last[0]).toMatch(/^line noise: /);
    // no timer left after stop()
    expect(warnsDuring(warns, () => vi.advanceTimersByTime(2 * NOISE_SUMMARY_INTERVAL_MS))).toEqual([]);
  });

  it("an occasional checksum error is warned about every time", () => {
    const { t, ch, warns } = channel();
    for (let i = 0; i < 3 * NOISE_WARN_BURST; i++) {
      t.deliver(BAD_CRC);
      vi.advanceTimersByTime(NOISE_SUMMARY_INTERVAL_MS + 1);
    }
    // each bad frame: its checksum error and its bytes, discarded with reason checksum
    expect(warns().map((l) => l.msg)).toEqual(
      Array(3 * NOISE_WARN_BURST)
        .fill(["checksum error", "bytes discarded"])
        .flat(),
    );
    ch.stop();
  });
});
