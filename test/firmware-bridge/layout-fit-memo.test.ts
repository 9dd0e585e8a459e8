/**
 * Which layout settings explain a frame's length is worked out once per frame type and length, trying only
 * the settings that change that type's layout (firmware-bridge/frames/layout-fit-memo.ts, dialect-fit.ts).
 */
import { describe, expect, it } from "vitest";
import { decodeData } from "../../firmware-bridge/frames/catalogue.js";
import { DEFAULT_LEGACY_DIALECT, DEFAULT_NATIONAL_DIALECT } from "../../firmware-bridge/frames/dialect.js";
import { lengthDecidesFit, settingsAffecting } from "../../firmware-bridge/frames/dialect-fit.js";
import { LayoutFitMemo } from "../../firmware-bridge/frames/layout-fit-memo.js";

const N = DEFAULT_NATIONAL_DIALECT;
const L = DEFAULT_LEGACY_DIALECT;
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ""), "hex");

describe("layout settings per frame type", () => {
  it("only the settings that move a type's fields are tried", () => {
    expect(settingsAffecting(0xb4, N).map((a) => a.setting)).toEqual(["b4Ef04"]);
    expect(settingsAffecting(0xb2, N).map((a) => a.setting)).toEqual(["b2AntennaId"]);
    expect(settingsAffecting(0xb5, N)).toEqual([]);
    expect(settingsAffecting(0xb4, L).map((a) => a.setting)).toEqual(["lastStationLength"]);
  });

  it("a type with a counted list is not decided by its length", () => {
    expect(lengthDecidesFit(0xb4, N)).toBe(true);
    expect(lengthDecidesFit(0xb0, N)).toBe(false);
  });

  it("the answer for a type and length is kept: a second frame of that length gets the same answer", () => {
    const memo = new LayoutFitMemo({ ...N, b4Ef04: false });
    const first = memo.longer(Buffer.concat([hex("b4"), Buffer.alloc(275, 0x11)]));
    expect(first.map((f) => [f.setting, f.value, f.surplus, f.left])).toEqual([["b4Ef04", true, 93, 2]]);
    expect(memo.longer(Buffer.concat([hex("b4"), Buffer.alloc(275, 0x22)]))).toBe(first);
    expect(memo.longer(Buffer.concat([hex("b4"), Buffer.alloc(276, 0x22)]))).not.toBe(first);
  });

  it("the answer agrees with decoding every setting (a B2 with one byte more, under b2AntennaId false)", () => {
    const data = hex(
      "b2 652bc7a3 00 01 01 c9bdb6ab37010001 01 00 3701012023109155 20201124 20301124 10 20 01",
    );
    expect(decodeData(data, N)).toMatchObject({ ok: true, frame: { type: "B2", extra: "01" } });
    const fits = new LayoutFitMemo(N).longer(data);
    expect(fits.map((f) => [f.setting, f.left])).toEqual([["b2AntennaId", 0]]);
  });
});
