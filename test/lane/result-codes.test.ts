/**
 * B5/B8 ErrorCode classes (defect 2): a per-variant table with config overrides, and a code the table
 * does not name is uncertain (before: everything outside {01} / {01, 14} counted as "nothing happened").
 */
import { describe, expect, it } from "vitest";
import { isEtcError } from "../../firmware-bridge/errors.js";
import type { Frame } from "../../firmware-bridge/frames/catalogue.js";
import { defaultDialect } from "../../firmware-bridge/frames/dialect.js";
import type { WireFrame } from "../../firmware-bridge/framing/types.js";
import { parseLaneConfig } from "../../src/config/index.js";
import { createRsuCodec } from "../../src/rsu/driver-codec.js";
import { DEFAULT_RESULT_CODES, resultCodeTable } from "../../src/rsu/result-codes.js";

// a frame that fits its declaration: no surplus bytes, nothing for the layout check (src/rsu/layout-check.ts)
const WIRE = { seq: 0x18, raw: Buffer.alloc(0), data: Buffer.alloc(0) } as unknown as WireFrame;

function classOf(variant: "legacy" | "national", type: "B5" | "B8", errorCode: number, codes?: object) {
  const dialect = defaultDialect(variant);
  const codec = createRsuCodec(dialect, codes ? resultCodeTable(variant, codes) : undefined);
  const ev = codec.decode({ type, obuId: "a1b2c3d4", errorCode } as Frame, WIRE);
  return ev && (ev.kind === "trade" || ev.kind === "tac") ? ev.info.result : undefined;
}

describe("B5/B8 result codes", () => {
  it.each(["legacy", "national"] as const)(
    "%s: an unknown code is uncertain, never 'nothing happened'",
    (v) => {
      expect(classOf(v, "B5", 0x42)).toBe("uncertain");
      expect(classOf(v, "B8", 0x42)).toBe("uncertain");
      expect(classOf(v, "B5", 0x00)).toBe("ok");
      expect(classOf(v, "B5", 0x01)).toBe("uncertain");
    },
  );

  it("national defaults from the gantry list: MAC1 before the debit failed, MAC2/TAC after it uncertain", () => {
    expect(classOf("national", "B5", 0x06)).toBe("failed");
    expect(classOf("national", "B5", 0x11)).toBe("failed");
    expect(classOf("national", "B5", 0x07)).toBe("uncertain");
    expect(classOf("national", "B5", 0x08)).toBe("uncertain");
    expect(classOf("national", "B5", 0x14)).toBe("uncertain");
    for (const code of [1, 2, 3, 4, 5]) expect(classOf("national", "B8", code)).toBe("uncertain");
  });

  it("national 0A (a single-chip OBU's transaction-record update != 9000, not placed before the purchase) is uncertain; config can class it failed", () => {
    expect(classOf("national", "B5", 0x0a)).toBe("uncertain");
    expect(classOf("national", "B5", 0x0a, { b5: { "0x0A": "failed" } })).toBe("failed");
  });

  it("legacy defaults: purchase init and MAC1 failures failed, purchase/MAC2 failures uncertain", () => {
    expect(classOf("legacy", "B5", 0x06)).toBe("failed");
    expect(classOf("legacy", "B5", 0x10)).toBe("failed");
    expect(classOf("legacy", "B5", 0x13)).toBe("failed");
    expect(classOf("legacy", "B5", 0x16)).toBe("uncertain");
    expect(classOf("legacy", "B5", 0x19)).toBe("uncertain");
    expect(classOf("legacy", "B5", 0x07)).toBe("uncertain");
  });

  it("the config overrides a code per frame, and the default table is left alone", () => {
    expect(classOf("legacy", "B5", 0x42, { b5: { "0x42": "failed" } })).toBe("failed");
    expect(classOf("legacy", "B5", 0x06, { b5: { "0x06": "uncertain" } })).toBe("uncertain");
    expect(classOf("legacy", "B8", 0x42, { b5: { "0x42": "failed" } })).toBe("uncertain");
    expect(DEFAULT_RESULT_CODES.legacy.b5[0x06]).toBe("failed");
  });

  it("rsu.dialect.resultCodes in the lane config: quoted 0xNN keys, 00 refused, the field named", () => {
    const base = {
      lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
      statusList: { publicKey: "k.pem" },
      dataDir: "d",
      tariff: "t.yaml",
    };
    const ok = parseLaneConfig({
      ...base,
      rsu: { port: "/dev/x", protocol: "legacy", dialect: { resultCodes: { b5: { "0x42": "failed" } } } },
    });
    expect(ok.rsu.dialect.resultCodes).toEqual({ b5: { "0x42": "failed" } });
    for (const [codes, re] of [
      [{ b5: { "66": "failed" } }, /rsu\.dialect\.resultCodes\.b5.*quoted hex string "0x01"/],
      [{ b5: { "0x00": "failed" } }, /00 is success/],
      [{ b8: { "0x05": "ok" } }, /rsu\.dialect\.resultCodes\.b8\.0x05: expected "failed" \(card untouched\)/],
    ] as const) {
      let message = "";
      try {
        parseLaneConfig({
          ...base,
          rsu: { port: "/dev/x", protocol: "legacy", dialect: { resultCodes: codes } },
        });
      } catch (e) {
        if (isEtcError(e, "E401_CONFIG_INVALID")) message = e.message;
      }
      expect(message).toMatch(re);
    }
  });
});
