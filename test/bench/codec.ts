/**
 * Codec figures (issue 2): frames/s for decode and encode of B4 and C6 (target >= 200,000 each on
 * one core) and deframer throughput in MB/s, for both wire variants, also for a 256 KiB run of 0xFF read
 * at once.
 */
import {
  DEFAULT_LEGACY_DIALECT,
  DEFAULT_NATIONAL_DIALECT,
  type Dialect,
  decodeData,
  encodeData,
  encodeFrame,
  type Frame,
} from "../../firmware-bridge/frames/index.js";
import { createDeframer } from "../../firmware-bridge/framing/index.js";
import type { Benchmark, BenchResult } from "./harness.js";

function sample(type: "B4" | "C6", d: Dialect): Frame {
  // Decode a zero-filled body and give it realistic values: every field present, FF/FE sprinkled in.
  const code = type === "B4" ? 0xb4 : 0xc6;
  const r = decodeData(Buffer.concat([Buffer.from([code]), Buffer.alloc(400, 0x21)]), d);
  if (!r.ok) throw r.error;
  const f = r.frame as Frame & Record<string, unknown>;
  delete f.extra;
  f.obuId = "fe01ff02";
  return f;
}

function rate(n: number, fn: () => void): number {
  for (let i = 0; i < Math.min(20_000, n); i++) fn(); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return n / s;
}

export const codecBench: Benchmark = {
  name: "codec",
  title: "frame encode/decode rate (B4, C6) and deframer throughput, both variants",
  async run(ctx) {
    const out: BenchResult[] = [];
    const n = Math.max(20_000, Math.round(300_000 * ctx.scale));
    for (const d of [DEFAULT_LEGACY_DIALECT, DEFAULT_NATIONAL_DIALECT]) {
      for (const type of ["B4", "C6"] as const) {
        const f = sample(type, d);
        const data = encodeData(f, d);
        const enc = rate(n, () => encodeFrame(f, 0x18, d));
        const dec = rate(n, () => decodeData(data, d));
        out.push({
          name: `codec.${d.variant}.${type}.encode`,
          unit: "frames/s",
          figures: { perSecond: Math.round(enc), bytes: data.length },
        });
        out.push({
          name: `codec.${d.variant}.${type}.decode`,
          unit: "frames/s",
          figures: { perSecond: Math.round(dec), bytes: data.length },
        });
      }
      // Deframer: a 4 MB stream of mixed frames with 5% garbage, fed in 64-byte chunks.
      const frames = [sample("B4", d), sample("C6", d), { type: "C4", controlType: 1 } as Frame];
      const parts: Buffer[] = [];
      let total = 0;
      let k = 0;
      while (total < 4 * 1024 * 1024) {
        const raw = encodeFrame(frames[k % frames.length] as Frame, 0x08 + ((k % 7) << 4), d);
        parts.push(raw);
        total += raw.length;
        if (k % 20 === 0) {
          parts.push(Buffer.from([0x12, 0xff, 0x34, 0x56]));
          total += 4;
        }
        k++;
      }
      const stream = Buffer.concat(parts);
      const chunks: Buffer[] = [];
      for (let i = 0; i < stream.length; i += 64) chunks.push(stream.subarray(i, i + 64));
      const runs = Math.max(2, Math.round(5 * ctx.scale));
      let frameCount = 0;
      const t0 = process.hrtime.bigint();
      for (let r = 0; r < runs; r++) {
        const df = createDeframer(d.variant);
        for (const c of chunks) for (const ev of df.push(c, 0)) if (ev.kind === "frame") frameCount++;
      }
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      out.push({
        name: `deframer.${d.variant}`,
        unit: "MB/s",
        figures: {
          mbPerSecond: Number(((stream.length * runs) / s / 1e6).toFixed(1)),
          framesPerSecond: Math.round(frameCount / s),
        },
        notes: "64-byte chunks, ~5% noise",
      });
      // A floating line's run of 0xFF read at once (256 KiB in one push): one discarded run of thousands of
      // pieces, each copied once (firmware-bridge/framing/deframer.ts endRun; it was quadratic).
      const ff = Buffer.alloc(256 * 1024, 0xff);
      const ffRuns = Math.max(2, Math.round(5 * ctx.scale));
      const f0 = process.hrtime.bigint();
      for (let r = 0; r < ffRuns; r++) createDeframer(d.variant).push(ff, 0);
      const fs = Number(process.hrtime.bigint() - f0) / 1e9;
      out.push({
        name: `deframer.${d.variant}.ffRun`,
        unit: "MB/s",
        figures: { mbPerSecond: Number(((ff.length * ffRuns) / fs / 1e6).toFixed(1)) },
        notes: "256 KiB of 0xFF in one push",
      });
    }
    return out;
  },
};
