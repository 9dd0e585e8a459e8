/**
 * The reader channel's warnings for discarded bytes are capped as the RSU link's are
 * (firmware-bridge/noise-log.ts, docs/reader.md §2.2): a floating reader RX line brings tens of discarded
 * runs a second for months. The first ones of an episode are warned about, then one summary per interval;
 * the counters still count every byte. Fake timers and an injected clock.
 */
import { describe, expect, it, vi } from "vitest";
import { NOISE_SUMMARY_INTERVAL_MS, NOISE_WARN_BURST } from "../../firmware-bridge/noise-log.js";
import { encodeReaderFrame } from "../../firmware-bridge/reader/frame.js";
import { ReaderChannel } from "../../firmware-bridge/reader/reader-channel.js";
import {
  eachTestOnFakeTimers,
  recordedChannel,
  summedSummaries,
  warnsDuring,
} from "../helpers/channel-fakes.js";

const NOISE = Buffer.from("a5a5a5", "hex"); // no STX (02): one discarded run of 3 bytes per read
const BAD_CRC = (() => {
  const f = encodeReaderFrame(9, 0x12, 0, Buffer.from("9000", "hex"));
  f[f.length - 2] = (f[f.length - 2] as number) ^ 0xff;
  return f;
})();

eachTestOnFakeTimers();

function channel() {
  return recordedChannel(
    (transport, logger) => new ReaderChannel({ transport, logger, now: () => Date.now() }),
  );
}

describe("ReaderChannel: discarded-bytes warnings are capped", () => {
  it("a floating line for 3 minutes: the first warnings, then one summary a minute; counters count everything", () => {
    const { t, ch, lines, warns } = channel();
    const reads = 180 * 60;
    for (let i = 0; i < reads; i++) {
      t.deliver(i % 10 === 9 ? BAD_CRC : NOISE);
      vi.advanceTimersByTime(1000 / 60);
    }
    vi.advanceTimersByTime(NOISE_SUMMARY_INTERVAL_MS); // the third minute's summary, then nothing more
    const w = warns();
    expect(w.slice(0, NOISE_WARN_BURST).map((l) => [l.msg, l.obj.reason])).toEqual([
      ...Array(NOISE_WARN_BURST - 1).fill(["bytes discarded", "noise"]),
      ["bytes discarded", "checksum"],
    ]);
    expect(w[NOISE_WARN_BURST]?.msg).toMatch(
      /further discarded runs and checksum errors are logged at debug/,
    );
    const summaries = w.slice(NOISE_WARN_BURST + 1);
    expect(summaries).toHaveLength(3);
    for (const s of summaries) expect(s.msg).toMatch(/^line noise: \d+ discarded run\(s\)/);
    // every run is counted, and either warned about or logged at debug and summarised
    const badFrames = reads / 10;
    expect(ch.counters.checksumErrors).toBe(badFrames);
    expect(ch.counters.noiseBytes).toBe((reads - badFrames) * NOISE.length);
    const summed = summedSummaries(summaries);
    expect(summed.runs + summed.cs + NOISE_WARN_BURST).toBe(reads);
    expect(summed.cs + 1).toBe(badFrames);
    expect(summed.bytes).toBe(summed.runs * NOISE.length);
    expect(lines.filter((l) => l.level === "debug" && l.msg === "bytes discarded")).toHaveLength(
      reads - NOISE_WARN_BURST,
    );
    ch.stop();
  });

  it("after a quiet interval the next noise is warned about again; stop() logs what the window held back", () => {
    const { t, ch, warns } = channel();
    for (let i = 0; i < 2 * NOISE_WARN_BURST; i++) t.deliver(NOISE);
    vi.advanceTimersByTime(2 * NOISE_SUMMARY_INTERVAL_MS); // a summary, then a window with nothing
    expect(warnsDuring(warns, () => t.deliver(NOISE))).toEqual(["bytes discarded"]);
    for (let i = 0; i < 2 * NOISE_WARN_BURST; i++) t.deliver(NOISE);
    const last = warnsDuring(warns, () => ch.stop());
    expect(last).toHaveLength(1);
    expect(last[0]).toMatch(/^line noise: /);
    // no timer left after stop()
    expect(warnsDuring(warns, () => vi.advanceTimersByTime(2 * NOISE_SUMMARY_INTERVAL_MS))).toEqual([]);
  });
});
