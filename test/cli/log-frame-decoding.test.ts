/**
 * What the lane's log decodes of a frame line's bytes (src/log-frames.ts, src/rsu/mask-frames.ts frameForLog):
 * at log.level debug every frame on the wire is logged before it is delivered, so only a B4's body (the one
 * frame with a card number) is decoded, once; other frames are shown as they are, their fields not decoded.
 */
import { afterEach, expect, it, vi } from "vitest";
import * as catalogue from "../../firmware-bridge/frames/catalogue.js";
import { DEFAULT_LEGACY_DIALECT, DEFAULT_NATIONAL_DIALECT } from "../../firmware-bridge/frames/dialect.js";
import { maskFrameFields } from "../../src/log-frames.js";
import { CARD, legacyB4, MASKED, NATIONAL_B4, NATIONAL_CARD } from "./b4-frame.js";

vi.mock("../../firmware-bridge/frames/catalogue.js", async (importOriginal) => {
  const m = await importOriginal<typeof import("../../firmware-bridge/frames/catalogue.js")>();
  return { ...m, decodeData: vi.fn(m.decodeData) };
});

const decodeData = vi.mocked(catalogue.decodeData);
afterEach(() => decodeData.mockClear());

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
