/**
 * The `rsu.link` section of the lane config and where the lane passes it to the link and the transport;
 * the link's own floor on `deframer.maxFrameLength`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCodes, isEtcError } from "../../firmware-bridge/errors.js";
import { decodeData } from "../../firmware-bridge/frames/catalogue.js";
import { DEFAULT_LEGACY_DIALECT, DEFAULT_NATIONAL_DIALECT } from "../../firmware-bridge/frames/dialect.js";
import { longestFrame } from "../../firmware-bridge/frames/frame-size.js";
import { encodeLegacy } from "../../firmware-bridge/framing/legacy.js";
import { encodeNational } from "../../firmware-bridge/framing/national.js";
import { silenceAction } from "../../firmware-bridge/link/link-supervisor.js";
import { resolveRsuLinkOptions } from "../../firmware-bridge/link/options.js";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { loadLaneConfig, parseLaneConfig } from "../../src/config/index.js";
import { openLane, transportFor } from "../../src/lane/runtime.js";

const minimal = {
  lane: { network: "4301", station: "0102", lane: 3, role: "entry" },
  rsu: { port: "/dev/ttyUSB0", protocol: "legacy" },
  statusList: { publicKey: TEST_PUBLIC_KEY_PATH },
  dataDir: "data",
  tariff: "tariff.yaml",
};
const DEFAULTS = {
  interByteTimeoutMs: 50,
  answerDeadlineMs: 100,
  dedupeWindowMs: 480,
  backoffInitialMs: 200,
  backoffMaxMs: 5000,
  tcpKeepaliveMs: 5000,
};

function errorOf(link: unknown): string {
  try {
    parseLaneConfig({ ...minimal, rsu: { ...minimal.rsu, link } }, "lane.yaml", "/etc/etc-lane");
  } catch (e) {
    if (isEtcError(e, "E401_CONFIG_INVALID")) return e.message;
    throw e;
  }
  throw new Error("expected the config to be refused");
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true, maxRetries: 5 });
});

describe("rsu.link config", () => {
  it("defaults, the same in lane.example.yaml", () => {
    expect(parseLaneConfig(minimal, "lane.yaml", "/etc/etc-lane").rsu.link).toEqual(DEFAULTS);
    const example = loadLaneConfig(join(import.meta.dirname, "../../config/lane.example.yaml"));
    expect(example.rsu.link).toEqual(DEFAULTS);
  });

  it("refuses out-of-range values and unknown fields, naming the field and the range", () => {
    expect(errorOf({ dedupeWindowMs: 60_000 })).toMatch(
      /rsu\.link\.dedupeWindowMs: expected milliseconds in 100\.\.10000/,
    );
    expect(errorOf({ answerDeadlineMs: 0 })).toMatch(
      /rsu\.link\.answerDeadlineMs: expected milliseconds in 1\.\.10000/,
    );
    expect(errorOf({ interByteTimeoutMs: 2.5 })).toMatch(
      /rsu\.link\.interByteTimeoutMs: expected milliseconds/,
    );
    expect(errorOf({ tcpKeepaliveMs: 500 })).toMatch(
      /rsu\.link\.tcpKeepaliveMs: expected milliseconds in 1000\.\.600000/,
    );
    expect(errorOf({ backoffInitialMs: 1000, backoffMaxMs: 500 })).toMatch(
      /rsu\.link\.backoffMaxMs: expected milliseconds in 1000\.\.600000 \(at least backoffInitialMs\)/,
    );
    expect(errorOf({ dedupeWindow: 480 })).toMatch(/rsu\.link: unknown field\(s\) "dedupeWindow"/);
  });

  it("the lane passes every field to the RSU link", async () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-link-config-"));
    dirs.push(dir);
    const link = {
      interByteTimeoutMs: 30,
      answerDeadlineMs: 90,
      dedupeWindowMs: 400,
      backoffInitialMs: 150,
      backoffMaxMs: 2500,
      tcpKeepaliveMs: 7000,
    };
    const c = parseLaneConfig({ ...minimal, rsu: { ...minimal.rsu, link }, dataDir: dir }, "lane.yaml", dir);
    const lane = await openLane(c, {
      transport: createTransportPair().lane,
      outputs: { emit: () => {} },
      uplink: false,
    });
    try {
      const o = lane.link.options;
      expect([o.deframer.interByteTimeoutMs, o.answerDeadlineMs, o.dedupeWindowMs]).toEqual([30, 90, 400]);
      expect([o.reconnect.initialDelayMs, o.reconnect.maxDelayMs]).toEqual([150, 2500]);
    } finally {
      await lane.close();
    }
  });

  it("with the wire capture on, a tcp:// RSU port keeps the TCP reconnect policy", async () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-link-config-"));
    dirs.push(dir);
    const c = parseLaneConfig(
      {
        ...minimal,
        rsu: { ...minimal.rsu, port: "tcp://127.0.0.1:9" },
        dataDir: dir,
        capture: { enabled: true },
      },
      "lane.yaml",
      dir,
    );
    const lane = await openLane(c, { outputs: { emit: () => {} }, uplink: false });
    try {
      // the link sees the capture's wrapper; it must still say TCP, or a silent RSU's socket is kept open
      expect(lane.link.transport.name).toBe("tcp:127.0.0.1:9");
      expect(lane.link.transport.kind).toBe("tcp");
      expect(silenceAction(lane.link.transport.kind)).toBe("reconnect");
    } finally {
      await lane.close();
    }
  });

  it("a tcp:// RSU port gets the configured keep-alive and the TCP reconnect policy", () => {
    const c = parseLaneConfig(
      { ...minimal, rsu: { ...minimal.rsu, port: "tcp://10.0.0.5:21003", link: { tcpKeepaliveMs: 7000 } } },
      "lane.yaml",
      "/etc/etc-lane",
    );
    const t = transportFor(c);
    expect([t.kind, (t as unknown as { keepAliveMs: number }).keepAliveMs]).toEqual(["tcp", 7000]);
  });
});

describe("the RSU link's deframer.maxFrameLength admits the longest declared frame", () => {
  it("a limit below it is refused, naming the field, the range and the frame it would drop", () => {
    for (const v of [64, 256, 283]) {
      expect(() => resolveRsuLinkOptions({ deframer: { maxFrameLength: v } })).toThrow(
        expect.objectContaining({
          code: ErrorCodes.ConfigInvalid,
          message: `RsuLink options.deframer.maxFrameLength must be an integer in 284..65536, got ${v}: the longest frame the protocols declare, a national B4, is 284 bytes, and a smaller limit discards every one`,
        }),
      );
    }
    expect(resolveRsuLinkOptions({ deframer: { maxFrameLength: 284 } }).deframer.maxFrameLength).toBe(284);
    expect(() => resolveRsuLinkOptions({ deframer: { maxFrameLength: 65_537 } })).toThrow(
      /deframer\.maxFrameLength must be an integer in 284\.\.65536, got 65537$/,
    );
  });

  it("the floor is the widest B4 each catalogue declares, as the frame codec lays it out", () => {
    expect(longestFrame("national")).toEqual({ type: "B4", bytes: 284 });
    expect(longestFrame("legacy")).toEqual({ type: "B4", bytes: 221 });
    // A national B4 DATA of 274 bytes is every field, EF04 and the full 0019 included, nothing left over.
    const national = Buffer.alloc(274);
    national[0] = 0xb4;
    const n = decodeData(national, DEFAULT_NATIONAL_DIALECT);
    expect(n).toMatchObject({ ok: true, frame: { type: "B4" } });
    expect(n.ok && n.frame.type === "B4" && Object.keys(n.frame)).toEqual(
      expect.arrayContaining(["ef04Info", "issuerInfo", "lastStation"]),
    );
    expect(n.ok && "extra" in n.frame).toBe(false);
    expect(encodeNational(0, national).length).toBe(284);
    // A legacy B4 DATA of 107 bytes ends with its 4-byte reserve; all FF after the type byte, so escaped.
    const legacy = Buffer.alloc(107, 0xff);
    legacy[0] = 0xb4;
    const l = decodeData(legacy, DEFAULT_LEGACY_DIALECT);
    expect(l).toMatchObject({ ok: true, frame: { type: "B4", reserved: "ffffffff" } });
    expect(l.ok && "extra" in l.frame).toBe(false);
    expect(encodeLegacy(0xff, legacy).length).toBeLessThanOrEqual(221);
    expect(encodeLegacy(0xff, legacy).length).toBeGreaterThan(2 * 107);
  });
});
