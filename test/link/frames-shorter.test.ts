/**
 * A frame shorter than its declaration by exactly what one dialect layout setting adds (docs/protocol.md §2,
 * "A frame longer or shorter than its declaration"): when it decodes (its last optional fields missing, the
 * ones before read shifted) it is counted in `framesShorter` and warned once per frame type naming the
 * setting; when it ends inside a field, the undecodable-frame warning names the setting. A short error form
 * is no such frame (docs/link.md "Receiving, acknowledging, deduplicating").
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_LEGACY_DIALECT, DEFAULT_NATIONAL_DIALECT } from "../../firmware-bridge/frames/dialect.js";
import type { IncomingFrame } from "../../firmware-bridge/link/rsu-link.js";
import { linksPerTest, settle } from "./harness.js";

const { rig } = linksPerTest();

/** The public lane sample B2 (docs/protocol.md §7) without its AntennaID: 35 body bytes, the reference layout. */
const B2_NO_ANTENNA = "b2 652bc7a3 00 01 c9bdb6ab37010001 01 00 3701012023109155 20201124 20301124 10 20 01";
const B2_NO_ANTENNA_2 =
  "b2 652bc7a4 00 01 c9bdb6ab37010001 01 00 3701012023109156 20201124 20301124 10 20 01";
const SHORTER = /shorter than its declaration/;
const WITH_ANTENNA = { ...DEFAULT_NATIONAL_DIALECT, b2AntennaId: true };

describe("a frame shorter than its declaration by one layout setting", () => {
  it("b2AntennaId true, a B2 without AntennaID: delivered, counted, warned once naming b2AntennaId", async () => {
    const r = await rig("national", {}, {}, true, WITH_ANTENNA);
    const got: IncomingFrame[] = [];
    r.link.incoming$.subscribe((f) => got.push(f));
    await r.rsu(0x02, B2_NO_ANTENNA);
    await r.rsu(0x03, B2_NO_ANTENNA_2);
    await settle();
    expect(got.map((f) => f.frame.type)).toEqual(["B2", "B2"]);
    expect(r.link.counters).toMatchObject({ framesShorter: 2, framesWithExtra: 0, decodeErrors: 0 });
    expect(r.warnings.filter((w) => SHORTER.test(w))).toEqual([
      "B2 is 1 byte(s) shorter than its declaration (35 byte(s) after the type, 36 declared); with b2AntennaId: false it decodes exactly: check the dialect setting b2AntennaId (the fields after the one it changes were read shifted); delivered as read, without its last declared fields; each one is counted in framesShorter, this is logged once per frame type",
    ]);
  });

  it("b4Ef04 true (the national default), the 182-byte B4: undecodable, the warning names b4Ef04", async () => {
    const r = await rig("national");
    await r.rsu(0x07, `b4${"00".repeat(182)}`);
    await settle();
    expect(r.link.counters).toMatchObject({ decodeErrors: 1, framesShorter: 0 });
    expect(r.warnings).toEqual([
      "undecodable frame: B4 is 91 byte(s) shorter than its declaration (182 byte(s) after the type, 273 declared); with b4Ef04: false it decodes exactly: check the dialect setting b4Ef04 (the fields after the one it changes were read shifted)",
    ]);
  });

  it("legacy lastStationLength 43, a B4 whose LastStation is 39 bytes: undecodable, the warning names lastStationLength", async () => {
    const r = await rig("legacy", {}, {}, true, { ...DEFAULT_LEGACY_DIALECT, lastStationLength: 43 });
    // OBUID, ErrorCode, CardType, PhysicalCardType, TransType, CardRestMoney 4, CardID 4, 0015 43, 0019 39
    await r.rsu(0x88, `b4 01020304 00 00 00 00 00002710 00000000 ${"00".repeat(43)} ${"00".repeat(39)}`);
    await settle();
    expect(r.link.counters.decodeErrors).toBe(1);
    expect(r.warnings.filter((w) => SHORTER.test(w))).toEqual([
      expect.stringMatching(
        /^undecodable frame: B4 is 4 byte\(s\) shorter .*with lastStationLength: 39 it decodes exactly/,
      ),
    ]);
  });

  it("a short error form, or a frame that fits, is not counted", async () => {
    const r = await rig("national", {}, {}, true, WITH_ANTENNA);
    await r.rsu(0x02, "b2 652bc7a3 01"); // OBUID and ErrorCode only
    await r.rsu(0x03, `b2 652bc7a4 00 01 ${B2_NO_ANTENNA.replace(/\s/g, "").slice(12)}`); // with AntennaID
    await settle();
    expect(r.link.counters).toMatchObject({ framesShorter: 0, decodeErrors: 0 });
    expect(r.warnings.filter((w) => SHORTER.test(w))).toEqual([]);
  });
});
