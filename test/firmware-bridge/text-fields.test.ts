/**
 * Text fields (plates) are lossless (docs/protocol.md §2, "GB2312 text"; firmware-bridge/frames/gbk-text.ts):
 * a byte that is no GBK text decodes to the reserved character U+F700 + byte and encodes back to that byte,
 * so the plate the lane reads from B3 goes into its C6/C3 Station byte for byte; a character GBK cannot
 * hold is refused naming the field, never written as 3F. Shown to people such a byte reads `\xff`
 * (etc-lane decode's JSON: test/cli/decode.test.ts).
 */
import { describe, expect, it } from "vitest";
import { decodeData, encodeData, type Frame } from "../../firmware-bridge/frames/catalogue.js";
import { type Dialect, defaultDialect } from "../../firmware-bridge/frames/dialect.js";
import { text } from "../../firmware-bridge/frames/fields.js";
import { showRawBytes } from "../../firmware-bridge/frames/gbk-text.js";
import { encodeLegacy } from "../../firmware-bridge/framing/legacy.js";
import { encodeNational } from "../../firmware-bridge/framing/national.js";
import type { WireFrame } from "../../firmware-bridge/framing/types.js";
import { terminalSafe } from "../../src/cli/format.js";
import type { RsuCommand } from "../../src/rsu/driver.js";
import { createRsuCodec } from "../../src/rsu/driver-codec.js";
import { esc } from "../../src/service/page/render.js";

/** "京A1234" and five FF: an OBU whose plate is padded with FF (no GBK text). */
const FF_PADDED = "bea94131323334ffffffffff";

/** A B3 carrying the 12 plate bytes `plateHex`, as the lane's codec receives it. */
function b3(variant: "legacy" | "national", plateHex: string): { frame: Frame; wire: WireFrame; d: Dialect } {
  const d = defaultDialect(variant);
  const body =
    variant === "legacy"
      ? `b3 01020304 00 ${plateHex} 0000 01 00`
      : // vehicle file: plate 12, colour 2, class, user type, dimensions 4, then the rest (zeros)
        `b3 01020304 00 ${plateHex} 0000 01 00 ${"00".repeat(79 - 16)}`;
  const data = Buffer.from(body.replace(/\s/g, ""), "hex");
  const raw = variant === "legacy" ? encodeLegacy(0x80, data) : encodeNational(0x02, data);
  const r = decodeData(data, d);
  if (!r.ok) throw r.error;
  return { frame: r.frame, wire: { raw, seq: 0x80, data } as unknown as WireFrame, d };
}

/** The lane's debit (C6 or C3) for the plate its codec read from that B3, as DATA bytes. */
function debitFor(variant: "legacy" | "national", via: "c6" | "c3", plate: string): Buffer {
  const d = defaultDialect(variant);
  const cmd: RsuCommand = {
    kind: "debit",
    via,
    obuId: "01020304",
    divFactor: "bafec4cfbafec4cf",
    amount: via === "c6" ? 100 : 0,
    purchaseTimeMs: Date.UTC(2026, 11, 6, 4, 0, 0),
    write: { network: "4301", station: "0102", lane: 3, timeMs: 0, vehicleClass: 1, status: 4, plate },
  };
  return encodeData(createRsuCodec(d).encode(cmd), d);
}

function plateRead(variant: "legacy" | "national", plateHex: string): string {
  const { frame, wire, d } = b3(variant, plateHex);
  const ev = createRsuCodec(d).decode(frame, wire);
  if (ev?.kind !== "vehicle" || ev.info.plate === null) throw new Error(`no plate in ${JSON.stringify(ev)}`);
  return ev.info.plate;
}

describe("a plate that is no GBK text goes from B3 to the Station byte for byte", () => {
  it.each([
    ["legacy", "c6"],
    ["legacy", "c3"],
    ["national", "c6"],
    ["national", "c3"],
  ] as const)("%s %s: an FF-padded plate keeps its FF (never 3F)", (variant, via) => {
    const plate = plateRead(variant, FF_PADDED);
    expect(plate).toBe("京A1234\uf7ff\uf7ff\uf7ff\uf7ff\uf7ff");
    const data = debitFor(variant, via, plate);
    expect(data.includes(Buffer.from(FF_PADDED, "hex"))).toBe(true);
  });

  it.each([
    ["a stray byte mid-plate", "bea9ff4131323334000000"],
    ["a lead byte with no trail byte", "bea94131323334b0"],
    ["a lead byte before ASCII that is no pair", "bea941313281203334000000"],
    ["the euro sign (80) and a pair GBK decodes to a character another pair encodes (a3a0)", "80a3a041"],
  ])("%s", (_what, plateHex) => {
    const bytes = Buffer.from(plateHex.padEnd(24, "0"), "hex");
    const plate = plateRead("legacy", bytes.toString("hex"));
    expect(debitFor("legacy", "c6", plate).includes(bytes)).toBe(true);
  });

  it("every one- and two-byte text decodes and encodes back to the same bytes", () => {
    const codec = text(2);
    const d = defaultDialect("legacy");
    const out = Buffer.alloc(2);
    const differ: string[] = [];
    for (let a = 0; a < 256; a++) {
      for (let b = 0; b < 256; b++) {
        const buf = Buffer.of(a, b);
        const v = (codec.decode(buf, 0, 2, d, {}) as [string, number])[0];
        codec.encode(v, out, 0, d, {});
        if (!out.equals(buf)) differ.push(buf.toString("hex"));
      }
    }
    expect(differ).toEqual([]);
  });
});

describe("a character GBK cannot encode", () => {
  it.each([
    ["an emoji", "京A\u{1f600}", "U+1F600"],
    ["the replacement character", "京A\ufffd", "U+FFFD"],
    ["a private-use character that is not a reserved byte", "京A\uf741", "U+F741"],
  ])("%s is refused naming the field, E105", (_what, plate, cp) => {
    const attempt = () => debitFor("legacy", "c6", plate);
    expect(attempt).toThrow(expect.objectContaining({ code: "E105_FIELD_VALUE" }));
    expect(attempt).toThrow(
      new RegExp(
        `^C6\\.station: plate: text ".*" has a character GBK cannot encode: ${cp.replace("+", "\\+")};`,
      ),
    );
  });
});

describe("shown to people", () => {
  const plate = "京A1234\uf7ff\uf780";
  it("as the bytes they stand for, \\xff, in a terminal, on the page and in text", () => {
    expect(showRawBytes(plate)).toBe("京A1234\\xff\\x80");
    expect(terminalSafe(plate)).toBe("京A1234\\xff\\x80");
    expect(esc(`<${plate}>`)).toBe("&lt;京A1234\\xff\\x80&gt;");
    expect(esc(plate)).toBe("京A1234\\xff\\x80");
  });
});
