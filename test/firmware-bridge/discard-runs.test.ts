/**
 * A discarded run is one event however many pieces the scan dropped it in (firmware-bridge/framing/
 * deframer.ts `report`/`endRun`): its bytes are copied into one Buffer once, when the event is complete.
 * Before, each piece was appended with Buffer.concat, copying the run so far again: a run of 0xFF in one
 * read (every FF a candidate start that fails) took time quadratic in its length.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { createDeframer, encodeLegacy, encodeNational } from "../../firmware-bridge/framing/index.js";

afterEach(() => {
  vi.restoreAllMocks();
});

describe.each(["legacy", "national"] as const)("%s deframer: a long run of 0xFF in one read", (variant) => {
  const encode = variant === "legacy" ? encodeLegacy : encodeNational;

  it("is copied once per event, not once per piece, and its events hold exactly the bytes dropped", () => {
    const d = createDeframer(variant);
    d.push(Buffer.alloc(100, 0xff), 0);
    const before = { ...d.counters };
    const heldBefore = d.buffered;
    const run = Buffer.alloc(64 * 1024, 0xff);
    const good = encode(0x18, Buffer.from([0xb0, 1, 2]));
    const concat = vi.spyOn(Buffer, "concat");
    const events = d.push(Buffer.concat([run, good]), 0);
    const calls = concat.mock.calls.length - 1; // the test's own concat above
    concat.mockRestore();
    const discarded = events.flatMap((e) => (e.kind === "discarded" ? [e] : []));
    // the push appends once, and each event is built once
    expect(calls).toBeLessThanOrEqual(1 + events.length);
    expect(events.length).toBeLessThan(10);
    // the frame after the run is delivered; the run's bytes are all in the discarded events, as counted
    expect(events.filter((e) => e.kind === "frame").map((e) => e.frame.raw)).toEqual([good]);
    const dropped = discarded.reduce((n, e) => n + e.bytes.length, 0);
    expect(dropped).toBe(d.counters.discardedBytes - before.discardedBytes);
    expect(d.counters.discardedRuns - before.discardedRuns).toBe(discarded.length);
    expect(dropped + d.buffered).toBe(heldBefore + run.length);
    for (const e of discarded) expect(e.bytes.every((b) => b === 0xff)).toBe(true);
  });
});
