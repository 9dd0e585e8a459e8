/**
 * What the lane's log decodes of a frame line's bytes (src/log-frames.ts, src/rsu/mask-frames.ts frameForLog):
 * at log.level debug every frame on the wire is logged before it is delivered, so only a B4's body (the one
 * frame with a card number) is decoded, once; other frames are shown as they are, their fields not decoded.
 */
import { afterEach, expect, it, vi } from "vitest";
import * as catalogue from "../../firmware-bridge/frames/catalogue.js";
import { DEFAULT_LEGACY_DIALECT, DEFAULT_NATIONAL_DIALECT } from "../../firmware-bridge/frames/dialect.js";
import { maskFrameFields } from "../../src/log-frames.js";
import { CARD, legacyB4, MASKED } from "./b4-frame.js";

vi.mock("../../firmware-bridge/frames/catalogue.js", async (importOriginal) => {
  const m = await importOriginal<typeof import("../../firmware-bridge/frames/catalogue.js")>();
  return { ...m, decodeData: vi.fn(m.decodeData) };
});

const decodeData = vi.mocked(catalogue.decodeData);
afterEach(() => decodeData.mockClear());

/** The public national-network lane sample B4, 182-byte form (test/cli/mask-frames.test.ts). */
const NATIONAL_B4 =
  "ffff0007000000b7b4652bc7a30010c2b34c3731523836000000000000010000431714040200260000050000007d5fbfbc" +
  "d10864e0b0f73c107100000000000000000000000000000d6b0000000000000000000000007a983d0a0332f56dfa0a1e33" +
  "c9bdb6ab370100011710370119012302112251282020112420301124c2b34c37315238360000000000000100000000000000" +
  "aa2900c3b5d1269fc842345b0e5e089628000e54e0cdf2bcafcdf2bcaf1601110100000000000000072020e5cb";
const NATIONAL_CARD = "37011901230211225128";

it("a B4's body is decoded once, under the layout its length gives", () => {
  expect(maskFrameFields({ hex: NATIONAL_B4 }).hex).toBe(
    NATIONAL_B4.replace(NATIONAL_CARD, "3701************5128"),
  );
  expect(decodeData).toHaveBeenCalledTimes(1);
  decodeData.mockClear();
  expect(maskFrameFields({ hex: legacyB4() }).hex).toBe(legacyB4().replace(CARD, MASKED));
  expect(decodeData).toHaveBeenCalledTimes(1);
});

it("another frame, either protocol, is shown as it is without decoding its fields", () => {
  const frames = [
    catalogue.encodeFrame({ type: "C4", controlType: 1 } as catalogue.Frame, 0x80, DEFAULT_LEGACY_DIALECT),
    catalogue.encodeFrame({ type: "C4", controlType: 1 } as catalogue.Frame, 0x10, DEFAULT_NATIONAL_DIALECT),
  ].map((b) => b.toString("hex"));
  decodeData.mockClear();
  expect(frames.map((hex) => maskFrameFields({ dir: "->", hex }).hex)).toEqual(frames);
  expect(decodeData).not.toHaveBeenCalled();
});
