/**
 * The simulator's wire faults (sim/rsu/wire-faults.ts) as the lane's deframer sees them: a "garbled"
 * frame is always a well-formed frame whose checksum fails, never a frame that passes (a wrong TAC
 * recorded as paid) and never a bad escape.
 */
import { describe, expect, it } from "vitest";
import { encodeFrame, type Frame } from "../../firmware-bridge/frames/catalogue.js";
import {
  DEFAULT_LEGACY_DIALECT,
  DEFAULT_NATIONAL_DIALECT,
  type Dialect,
} from "../../firmware-bridge/frames/dialect.js";
import { LegacyDeframer } from "../../firmware-bridge/framing/legacy.js";
import { NationalDeframer } from "../../firmware-bridge/framing/national.js";
import { Rng } from "../../sim/rsu/clock.js";
import { WireFaults } from "../../sim/rsu/wire-faults.js";

const SEEDS = 20_000;

function b5(d: Dialect, tac: string, psamNo: string): Frame {
  return {
    type: "B5",
    obuId: "01020304",
    errorCode: 0,
    ...(d.variant === "legacy" ? { wrFileTime: 0x5f000000 } : { algFlag: 0, keyVersion: 1 }),
    psamNo,
    transTime: "20240101120000",
    transType: 9,
    tac,
    iccPaySerial: 5,
    psamTransSerial: 7,
    cardBalance: 10000,
  } as unknown as Frame;
}

const CASES = [DEFAULT_LEGACY_DIALECT, DEFAULT_NATIONAL_DIALECT].flatMap((d) => [
  { name: `${d.variant} B5`, d, frame: b5(d, "11223344", "430100000001") },
  // FE/FF in the data: legacy escapes them, and the second byte of an escape pair must stay intact
  { name: `${d.variant} B5 with FE/FF bytes`, d, frame: b5(d, "fefffeff", "fffefffefffe") },
]);

describe("wire fault garble", () => {
  it.each(CASES)(`$name: over ${SEEDS} seeds every garbled frame fails its checksum`, ({ d, frame }) => {
    const raw = encodeFrame(frame, 0x18, d);
    let accepted = 0;
    let malformed = 0;
    let checksumErrors = 0;
    let otherDiscards = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const g = new WireFaults(d, new Rng(seed)).garble(raw);
      const df = d.variant === "legacy" ? new LegacyDeframer() : new NationalDeframer();
      const events = df.push(g, 0);
      if (events.some((e) => e.kind === "frame")) accepted++;
      malformed += df.counters.malformed;
      checksumErrors += df.counters.checksumErrors === 1 ? 1 : 0;
      otherDiscards += df.counters.tooLong + df.counters.timeouts;
      expect(g.length).toBe(raw.length);
    }
    expect({ accepted, malformed, otherDiscards, checksumErrors }).toEqual({
      accepted: 0,
      malformed: 0,
      otherDiscards: 0,
      checksumErrors: SEEDS,
    });
  });

  it("is reproducible: the same seed garbles the same bytes", () => {
    for (const { d, frame } of CASES) {
      const raw = encodeFrame(frame, 0x18, d);
      for (let seed = 1; seed <= 200; seed++) {
        const a = new WireFaults(d, new Rng(seed)).garble(raw);
        const b = new WireFaults(d, new Rng(seed)).garble(raw);
        expect(a.equals(b)).toBe(true);
        expect(a.equals(raw)).toBe(false);
      }
    }
  });
});
