/** `etc-lane decode`: the protocol analyser, driven as a user would. */
import { describe, expect, it } from "vitest";
import {
  DEFAULT_LEGACY_DIALECT,
  DEFAULT_NATIONAL_DIALECT,
  encodeFrame,
} from "../../firmware-bridge/frames/index.js";
import { runCli } from "../helpers/cli.js";

const C6_SAMPLE =
  "ffff86c66a81353ecdf2bcafcdf2bcaf000000000000000020200826175558" +
  "00010001025f46a22e000211223344556677889901020388b2e24131323334350000000000000000b8ff";

const B5 = encodeFrame(
  {
    type: "B5",
    obuId: "a1b2c3d4",
    errorCode: 0,
    wrFileTime: 0x5f46a22e,
    psamNo: "010203040506",
    transTime: "20200826175558",
    transType: 9,
    tac: "0badcafe",
    iccPaySerial: 17,
    psamTransSerial: 4242,
    cardBalance: 9050,
  },
  0x28,
  DEFAULT_LEGACY_DIALECT,
).toString("hex");

function jsonLines(s: string): Record<string, unknown>[] {
  return s
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("etc-lane decode", () => {
  it("decodes the public C6 sample from an argument", async () => {
    const r = await runCli("etc-lane", ["decode", "--protocol", "legacy", C6_SAMPLE]);
    expect(r.code).toBe(0);
    const [f] = jsonLines(r.stdout);
    expect(f).toMatchObject({
      type: "C6",
      seq: 0x86,
      checksumOk: true,
      obuId: "6a81353e",
      purchaseTime: "20200826175558",
    });
  });

  it("reads stdin line by line, several frames and noise per line, named fields in camelCase", async () => {
    const input = `${B5}\n00 11 ${C6_SAMPLE} 22 ${B5}\n`;
    const r = await runCli("etc-lane", ["decode", "--protocol", "legacy"], { input });
    const frames = jsonLines(r.stdout);
    expect(frames.map((f) => f.type)).toEqual(["B5", "C6", "B5"]);
    expect(frames[0]).toMatchObject({
      obuId: "a1b2c3d4",
      errorCode: 0,
      tac: "0badcafe",
      iccPaySerial: 17,
      psamTransSerial: 4242,
      cardBalance: 9050,
      psamNo: "010203040506",
      transTime: "20200826175558",
      transType: 9,
    });
    // the noise bytes are reported, and make the exit code non-zero
    expect(r.stderr).toMatch(/line 2: noise: 2 byte\(s\) skipped \(0011\)/);
    expect(r.code).toBe(1);
  });

  it("national frames: CRC checked, SEQ reported", async () => {
    const hex = encodeFrame({ type: "CF", status: 0 }, 0x10, DEFAULT_NATIONAL_DIALECT).toString("hex");
    const r = await runCli("etc-lane", ["decode", "--protocol", "national", hex]);
    expect(r.code).toBe(0);
    expect(jsonLines(r.stdout)).toEqual([{ type: "CF", seq: 0x10, checksumOk: true, status: 0 }]);
  });

  it("a bad checksum is reported with checksumOk false and a non-zero exit", async () => {
    const bad = `${C6_SAMPLE.slice(0, -4)}00ff`;
    const r = await runCli("etc-lane", ["decode", "--protocol", "legacy", bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/BCC mismatch: frame says 00, bytes give b8/);
    expect(jsonLines(r.stdout)[0]).toMatchObject({ type: "C6", checksumOk: false });
  });

  it("malformed input gets a clear message, a non-zero exit and no stack trace", async () => {
    for (const args of [
      ["decode", "--protocol", "legacy", "not-hex"],
      ["decode", "--protocol", "legacy", "ffff08b2"],
      ["decode", "--protocol", "serial", "00"],
      ["decode", "--protocol", "legacy", "ffff08b9" + "00".repeat(4) + "b1ff"],
    ]) {
      const r = await runCli("etc-lane", args);
      expect(r.code, args.join(" ")).not.toBe(0);
      expect(r.stderr.trim().length, args.join(" ")).toBeGreaterThan(0);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
