/**
 * Properties of the reader deframer: arbitrary chunking and arbitrary noise between frames never lose a
 * valid frame and never invent one; random garbage never throws and only ever yields byte runs that are
 * literally in the input and check out; and the deframer gives exactly the events of the one it replaced
 * (./reference-deframer.ts), whatever the input.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ReaderDeframer, type ReaderDeframerEvent } from "../../firmware-bridge/reader/deframer.js";
import { encodeReaderFrame } from "../../firmware-bridge/reader/frame.js";
import { ReferenceReaderDeframer } from "./reference-deframer.js";

const RUNS = Number(process.env.ETC_PROPERTY_RUNS ?? 200);

const frameArb = fc
  .record({
    seq: fc.integer({ min: 0, max: 255 }),
    cmd: fc.integer({ min: 0, max: 255 }),
    p: fc.integer({ min: 0, max: 255 }),
    // STX and ETX bytes inside DATA on purpose: the framing has no stuffing.
    data: fc.uint8Array({ maxLength: 120 }).map((a) => Buffer.from(a)),
  })
  .map((f) => encodeReaderFrame(f.seq, f.cmd, f.p, f.data));

/** Noise biased towards STX, ETX and plausible LEN bytes, so false candidates are frequent. */
const noiseByte = fc.oneof(fc.constantFrom(0x02, 0x02, 0x03, 0x00), fc.integer({ min: 0, max: 255 }));
const noiseArb = fc.array(noiseByte, { maxLength: 24 }).map((a) => Buffer.from(a));

function chunk(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

const framesOf = (evs: ReaderDeframerEvent[]) =>
  evs.flatMap((e) => (e.kind === "frame" ? [e.frame.raw.toString("hex")] : []));

describe("reader deframer properties", () => {
  it("frames with noise between them, in any chunking, come out exactly, in order; every noise byte is counted", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(noiseArb, frameArb), { minLength: 1, maxLength: 8 }),
        noiseArb,
        fc.array(fc.nat(), { maxLength: 30 }),
        (pairs, tail, cuts) => {
          const stream = Buffer.concat([...pairs.flat(), tail]);
          const d = new ReaderDeframer({ maxFrameLength: 4096, interByteTimeoutMs: 50 });
          const evs: ReaderDeframerEvent[] = [];
          for (const c of chunk(stream, cuts)) evs.push(...d.push(c, 0));
          evs.push(...d.tick(1000)); // silence: whatever is still open is flushed
          expect(framesOf(evs)).toEqual(pairs.map(([, f]) => f.toString("hex")));
          const noise = pairs.reduce((n, [x]) => n + x.length, tail.length);
          expect(d.counters.discardedBytes).toBe(noise);
          const reported = evs.reduce((n, e) => n + (e.kind === "discarded" ? e.bytes.length : 0), 0);
          expect(reported).toBe(noise);
          expect(d.buffered).toBe(0);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("the same holds when the silence comes between chunks (half frames time out, whole ones survive)", () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (frames, cuts) => {
          // Each frame arrives in pieces without pauses; a pause only follows a whole frame.
          const d = new ReaderDeframer({ interByteTimeoutMs: 50 });
          const evs: ReaderDeframerEvent[] = [];
          let t = 0;
          for (const f of frames) {
            for (const c of chunk(f, cuts)) evs.push(...d.push(c, t));
            t += 1000;
            evs.push(...d.tick(t));
          }
          expect(framesOf(evs)).toEqual(frames.map((f) => f.toString("hex")));
          expect(d.counters.discardedBytes).toBe(0);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("random garbage never throws; anything it yields is literally in the input and checks out", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(), { maxLength: 20 }), (bytes, cuts) => {
        const input = Buffer.from(bytes);
        const d = new ReaderDeframer({ maxFrameLength: 512 });
        const evs: ReaderDeframerEvent[] = [];
        for (const c of chunk(input, cuts)) evs.push(...d.push(c, 0));
        evs.push(...d.tick(1000));
        const found = evs.flatMap((e) => (e.kind === "frame" ? [e.frame] : []));
        for (const f of found) {
          expect(input.indexOf(f.raw)).toBeGreaterThanOrEqual(0);
          expect(encodeReaderFrame(f.seq, f.cmd, f.p, f.data).equals(f.raw)).toBe(true);
        }
        const framed = evs.reduce((n, e) => n + (e.kind === "frame" ? e.frame.raw.length : 0), 0);
        expect(d.counters.discardedBytes + framed).toBe(input.length);
      }),
      { numRuns: RUNS },
    );
  });
});

/** A false candidate: STX, a LEN (often small, sometimes anything), and a few bytes. */
const falseHeaderArb = fc
  .tuple(
    fc.oneof(fc.integer({ min: 0, max: 80 }), fc.integer({ min: 0, max: 0xffff })),
    fc.uint8Array({ maxLength: 6 }),
  )
  .map(([len, rest]) => Buffer.concat([Buffer.from([0x02, len >> 8, len & 0xff]), rest]));

/** A candidate whose ETX is where its LEN puts it but whose CRC is (almost surely) wrong. */
const badCrcArb = fc
  .uint8Array({ minLength: 5, maxLength: 60 })
  .map((body) =>
    Buffer.concat([
      Buffer.from([0x02, (body.length + 1) >> 8, (body.length + 1) & 0xff]),
      body,
      Buffer.from([0x03]),
    ]),
  );

/** A good frame with one byte changed, or cut short. */
const damagedArb = fc
  .tuple(frameArb, fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean())
  .map(([f, at, x, cut]) => {
    const i = at % f.length;
    if (cut) return f.subarray(0, i);
    const g = Buffer.from(f);
    g[i] = (g[i] as number) ^ x;
    return g;
  });

const segmentArb = fc.oneof(frameArb, damagedArb, falseHeaderArb, badCrcArb, noiseArb);

describe("the in-place candidate check", () => {
  it("gives exactly the events, counters and held bytes of the deframer it replaced, in any chunking and timing", () => {
    fc.assert(
      fc.property(
        fc.array(segmentArb, { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.array(fc.constantFrom(0, 0, 0, 5, 49, 51, 200), { maxLength: 30 }),
        fc.constantFrom(64, 200, 1024, 65544),
        (segments, cuts, gaps, maxFrameLength) => {
          const stream = Buffer.concat(segments);
          const opts = { maxFrameLength, interByteTimeoutMs: 50 };
          const now = new ReaderDeframer(opts);
          const before = new ReferenceReaderDeframer(opts);
          const got: ReaderDeframerEvent[] = [];
          const want: ReaderDeframerEvent[] = [];
          let t = 0;
          chunk(stream, cuts).forEach((c, i) => {
            t += gaps[i % Math.max(1, gaps.length)] ?? 0;
            // The owner's timer first (the reference's push would expire by itself; the current one never does).
            got.push(...now.tick(t), ...now.push(c, t));
            want.push(...before.tick(t), ...before.push(c, t));
            expect(now.buffered).toBe(before.buffered);
          });
          got.push(...now.tick(t + 1000), ...now.reset());
          want.push(...before.tick(t + 1000), ...before.reset());
          expect(got).toEqual(want);
          expect(now.counters).toEqual(before.counters);
        },
      ),
      { numRuns: RUNS * 5 },
    );
  });

  it("the same when a half frame is dropped by reset() instead of the timer", () => {
    fc.assert(
      fc.property(
        fc.array(segmentArb, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (segments, cuts) => {
          const now = new ReaderDeframer({ maxFrameLength: 200 });
          const before = new ReferenceReaderDeframer({ maxFrameLength: 200 });
          const got: ReaderDeframerEvent[] = [];
          const want: ReaderDeframerEvent[] = [];
          for (const c of chunk(Buffer.concat(segments), cuts)) {
            got.push(...now.push(c, 0));
            want.push(...before.push(c, 0));
          }
          got.push(...now.reset());
          want.push(...before.reset());
          expect(got).toEqual(want);
          expect(now.counters).toEqual(before.counters);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
