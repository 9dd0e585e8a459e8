/**
 * A frame longer than its declaration is delivered with the surplus as `extra` (docs/protocol.md §2), but
 * never silently: counted in `framesWithExtra`, warned once per frame type per run with the extra bytes'
 * hex and, when one dialect setting reads the frame with less surplus, that setting and how much of the
 * surplus it explains (docs/link.md "Receiving, acknowledging, deduplicating").
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_NATIONAL_DIALECT } from "../../firmware-bridge/frames/dialect.js";
import type { IncomingFrame } from "../../firmware-bridge/link/rsu-link.js";
import { linksPerTest, settle } from "./harness.js";

const { rig } = linksPerTest();

/** The public lane sample B2 (docs/protocol.md §7): with AntennaID (01 after ErrorCode), 36 body bytes. */
const SAMPLE_B2 = "b2 652bc7a3 00 01 01 c9bdb6ab37010001 01 00 3701012023109155 20201124 20301124 10 20 01";
const OTHER_B2 = "b2 652bc7a4 00 01 01 c9bdb6ab37010001 01 00 3701012023109156 20201124 20301124 10 20 01";
const EXTRA = /longer than its declaration/;

describe("a frame longer than its declaration", () => {
  it("national default dialect, the sample B2 (with AntennaID): delivered with extra, counted, warned once naming b2AntennaId", async () => {
    const r = await rig("national");
    const got: IncomingFrame[] = [];
    r.link.incoming$.subscribe((f) => got.push(f));
    await r.rsu(0x02, SAMPLE_B2);
    await r.rsu(0x03, OTHER_B2);
    await settle();
    expect(got.map((f) => (f.frame as { extra?: string }).extra)).toEqual(["01", "01"]);
    expect(r.link.counters).toMatchObject({ framesWithExtra: 2, decodeErrors: 0 });
    const warns = r.warnings.filter((w) => EXTRA.test(w));
    expect(warns).toEqual([
      "B2 is 1 byte(s) longer than its declaration (those bytes in extra); with b2AntennaId: true it decodes exactly: check the dialect setting b2AntennaId (the fields after the one it changes were read shifted); delivered with the surplus as extra; each one is counted in framesWithExtra, this is logged once per frame type",
    ]);
  });

  it("national without EF04 (b4Ef04: false), a 274-byte B4: the warning names b4Ef04", async () => {
    const r = await rig("national", {}, {}, true, { ...DEFAULT_NATIONAL_DIALECT, b4Ef04: false });
    await r.rsu(0x04, `b4${"00".repeat(273)}`);
    await settle();
    expect(r.link.counters.framesWithExtra).toBe(1);
    const warns = r.warnings.filter((w) => EXTRA.test(w));
    expect(warns).toHaveLength(1);
    expect(warns[0]).toMatch(
      /^B4 is 91 byte\(s\) longer than its declaration .*with b4Ef04: true it decodes exactly/,
    );
  });

  // review r2 (finding 1): the warning said "no single dialect setting explains the length" though b4Ef04
  // explains 91 of the 93 bytes
  it("national without EF04, the 274-byte B4 plus two trailing bytes: the warning says how much b4Ef04 explains", async () => {
    const r = await rig("national", {}, {}, true, { ...DEFAULT_NATIONAL_DIALECT, b4Ef04: false });
    await r.rsu(0x04, `b4${"00".repeat(273)}abcd`);
    await settle();
    expect(r.link.counters.framesWithExtra).toBe(1);
    const warns = r.warnings.filter((w) => EXTRA.test(w));
    expect(warns).toHaveLength(1);
    expect(warns[0]).toMatch(
      /^B4 is 93 byte\(s\) longer than its declaration .*; with b4Ef04: true 91 of the 93 surplus bytes are explained: check the dialect setting b4Ef04 /,
    );
  });

  it("surplus no dialect setting explains: warned with its hex and said so; once per type", async () => {
    const r = await rig("national");
    const b5 = (obuId: string): string =>
      `b5 ${obuId} 00 010203040506 20261206120000 09 00 01 a1b2c3d4 0001 00000001 00002710 abcd`;
    await r.rsu(0x05, b5("01020304"));
    await r.rsu(0x06, b5("01020305"));
    await settle();
    expect(r.link.counters.framesWithExtra).toBe(2);
    expect(r.warnings.filter((w) => EXTRA.test(w))).toEqual([
      "B5 is 2 byte(s) longer than its declaration (those bytes in extra); no single dialect setting explains the length; delivered with the surplus as extra; each one is counted in framesWithExtra, this is logged once per frame type",
    ]);
  });

  it("a frame that fits its declaration is not counted", async () => {
    const r = await rig("national", {}, {}, true, { ...DEFAULT_NATIONAL_DIALECT, b2AntennaId: true });
    await r.rsu(0x02, SAMPLE_B2);
    await settle();
    expect(r.link.counters.framesWithExtra).toBe(0);
    expect(r.warnings.filter((w) => EXTRA.test(w))).toEqual([]);
  });
});
