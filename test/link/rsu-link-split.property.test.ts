import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Variant } from "../../firmware-bridge/framing/types.js";
import type { IncomingFrame } from "../../firmware-bridge/link/rsu-link.js";
import { frameBytes, makeRig, settle } from "./harness.js";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** B2 payloads with distinct OBU ids (so no two are repeats), bytes FF/FE included, never a heartbeat. */
const frames = fc.uniqueArray(fc.uint8Array({ minLength: 4, maxLength: 4 }), {
  minLength: 1,
  maxLength: 12,
  selector: (a) => Buffer.from(a).toString("hex"),
});

function check(variant: Variant): Promise<void> {
  return fc.assert(
    fc.asyncProperty(
      frames,
      fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 50 }),
      fc.integer({ min: 0, max: 0x7f }).filter((c) => c !== 0x08), // 0x08 + OBUID 0 is a heartbeat
      async (ids, cuts, errorCode) => {
        const r = await makeRig(variant);
        try {
          const got: IncomingFrame[] = [];
          r.link.incoming$.subscribe((f) => got.push(f));
          const seqOf = (i: number): number => (variant === "legacy" ? ((i % 8) << 4) | 8 : (i % 9) + 1);
          const sent = ids.map((id, i) => ({
            seq: seqOf(i),
            data: `b2${Buffer.from(id).toString("hex")}${errorCode.toString(16).padStart(2, "0")}`,
          }));
          const stream = Buffer.concat(sent.map((s) => frameBytes(variant, s.seq, s.data)));
          let at = 0;
          for (let i = 0; at < stream.length; i++) {
            const n = cuts[i % cuts.length] as number;
            await r.raw(stream.subarray(at, at + n));
            at += n;
          }
          await settle();
          expect(got.map((f) => [f.wire.seq, f.wire.data.toString("hex")])).toEqual(
            sent.map((s) => [s.seq, s.data]),
          );
          expect(r.link.counters.discardedBytes).toBe(0);
          expect(r.link.counters.duplicates).toBe(0);
        } finally {
          await r.link.stop();
        }
      },
    ),
    { numRuns: 150 },
  );
}

describe("RsuLink over any chunking", () => {
  it("legacy: every split of a stream of valid frames delivers the same frames", () => check("legacy"));
  it("national: every split of a stream of valid frames delivers the same frames", () => check("national"));
});
