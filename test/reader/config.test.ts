/**
 * The lane config's `reader` section: documented defaults equal the driver's, bad values name the field,
 * and the commented block in config/lane.example.yaml is valid as written.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { CARD_APDU, CARD_APDU_LIST } from "../../firmware-bridge/reader/commands.js";
import { encodeReaderFrame } from "../../firmware-bridge/reader/frame.js";
import {
  DEFAULT_READER_OPTIONS,
  MIN_READER_FRAME_LENGTH,
  resolveReaderOptions,
} from "../../firmware-bridge/reader/options.js";
import { CARD } from "../../src/booth/apdus.js";
import { LAYOUTS_0019 } from "../../src/booth/record-0019.js";
import { parseLaneConfig } from "../../src/config/index.js";
import { readerOptionsFromConfig } from "../../src/config/reader.js";
import { configErrorOf, MINIMAL_LANE_CONFIG } from "../config/helpers.js";
import { PROJECT_ROOT } from "../helpers/cli.js";

const minimal = MINIMAL_LANE_CONFIG;

const errorOf = configErrorOf;

describe("reader config", () => {
  it("defaults are the driver's defaults", () => {
    const c = parseLaneConfig({ ...minimal, reader: { port: "/dev/ttyS1" } }, "lane.yaml", "/etc");
    expect(c.reader).toMatchObject({ port: "/dev/ttyS1", baudRate: 115200, psamSlot: 1 });
    expect(resolveReaderOptions(readerOptionsFromConfig(c.reader!))).toEqual(DEFAULT_READER_OPTIONS);
  });

  it("values flow into the driver's options", () => {
    const c = parseLaneConfig(
      {
        ...minimal,
        reader: {
          port: "/dev/ttyS1",
          timeouts: { cardApduMs: 2500, interByteMs: 20 },
          link: { pingIntervalMs: 0, backoffInitialMs: 50 },
        },
      },
      "lane.yaml",
      "/etc",
    );
    const o = resolveReaderOptions(readerOptionsFromConfig(c.reader!));
    expect(o.timeouts.cardApduMs).toBe(2500);
    expect(o.interByteTimeoutMs).toBe(20);
    expect(o.pingIntervalMs).toBe(0);
    expect(o.reconnect.initialDelayMs).toBe(50);
  });

  it("a bad value names the field and what was expected", () => {
    const base = { ...minimal, reader: { port: "/dev/ttyS1" } };
    expect(errorOf({ ...base, reader: { port: "/dev/ttyS1", timeouts: { cardApduMs: 5 } } })).toMatch(
      /reader\.timeouts\.cardApduMs: expected milliseconds in 10\.\.60000/,
    );
    expect(errorOf({ ...base, reader: { port: "/dev/ttyS1", psamSlot: 0 } })).toMatch(
      /reader\.psamSlot: expected a PSAM slot number in 1\.\.255/,
    );
    expect(errorOf({ ...base, reader: { port: "/dev/ttyS1", link: { pingIntervalMs: 50 } } })).toMatch(
      /reader\.link\.pingIntervalMs: expected 0 or milliseconds in 100\.\.600000/,
    );
    expect(
      errorOf({
        ...base,
        reader: { port: "/dev/ttyS1", link: { backoffInitialMs: 900, backoffMaxMs: 800 } },
      }),
    ).toMatch(
      /reader\.link\.backoffMaxMs: expected milliseconds in 900\.\.600000 \(at least backoffInitialMs\), got 800/,
    );
    expect(errorOf({ ...base, reader: { port: "/dev/ttyS1", baud: 9600 } })).toMatch(
      /reader: unknown field\(s\) "baud"/,
    );
    expect(errorOf({ ...base, reader: {} })).toMatch(/reader\.port/);
  });

  it("a command timeout above maxCommandMs is refused, naming the field, the bound and the value", () => {
    const base = { ...minimal, reader: { port: "/dev/ttyS1" } };
    expect(
      errorOf({ ...base, reader: { port: "/dev/ttyS1", timeouts: { maxCommandMs: 100, cardApduMs: 1000 } } }),
    ).toMatch(
      /reader\.timeouts\.cardApduMs: expected milliseconds in 10\.\.100 \(at most timeouts\.maxCommandMs\), got 1000/,
    );
    // a default counts too: psamResetMs is 1500
    expect(errorOf({ ...base, reader: { port: "/dev/ttyS1", timeouts: { maxCommandMs: 1000 } } })).toMatch(
      /reader\.timeouts\.psamResetMs: expected milliseconds in 10\.\.1000 .*got 1500/,
    );
    // equal is fine, and flows into the driver's options
    const c = parseLaneConfig(
      {
        ...base,
        reader: {
          port: "/dev/ttyS1",
          timeouts: { maxCommandMs: 1000, psamResetMs: 1000, cardApduMs: 1000 },
        },
      },
      "lane.yaml",
      "/etc",
    );
    expect(resolveReaderOptions(readerOptionsFromConfig(c.reader!)).maxCommandMs).toBe(1000);
    // the driver's own options say the same
    expect(() =>
      resolveReaderOptions({ maxCommandMs: 1000, timeouts: { cardApduMs: 2000, psamResetMs: 1000 } }),
    ).toThrow(
      /reader options\.timeouts\.cardApduMs must be at most reader options\.maxCommandMs \(1000\), got 2000/,
    );
    expect(() => resolveReaderOptions({ maxCommandMs: 1000 })).toThrow(/timeouts\.psamResetMs .*got 1500/);
  });

  it("link.maxFrameLength below what the booth's frames need is refused, naming the field and the range", () => {
    const base = { ...minimal, reader: { port: "/dev/ttyS1" } };
    for (const bad of [64, 511, 65_545])
      expect(errorOf({ ...base, reader: { port: "/dev/ttyS1", link: { maxFrameLength: bad } } })).toMatch(
        new RegExp(`reader\\.link\\.maxFrameLength: expected bytes in 512\\.\\.65544 .*got ${bad}`),
      );
    const c = parseLaneConfig(
      { ...base, reader: { port: "/dev/ttyS1", link: { maxFrameLength: 512 } } },
      "lane.yaml",
      "/etc",
    );
    expect(resolveReaderOptions(readerOptionsFromConfig(c.reader!)).maxFrameLength).toBe(512);
    // the driver's own options say the same
    expect(() => resolveReaderOptions({ maxFrameLength: 64 })).toThrow(/maxFrameLength/);
  });

  it("the smallest maxFrameLength holds every frame a booth purchase receives, and the commands it sends", () => {
    const frame = (cmd: number, data: Buffer): number => encodeReaderFrame(1, cmd, 0, data).length;
    const sw = (n: number): Buffer => Buffer.concat([Buffer.alloc(n), Buffer.from("9000", "hex")]);
    // one APDU answered with the longest short R-APDU (256 bytes of data and the SW)
    const longestReply = frame(CARD_APDU.code, CARD_APDU.reply.encode(sw(256)));
    // the card read as one list: SELECT 1001's FCI (as long as an R-APDU can be), 0015 (43), the balance (4)
    const cardRead = frame(CARD_APDU_LIST.code, CARD_APDU_LIST.reply.encode([sw(256), sw(43), sw(4)]));
    // READ RECORD 0019 in the longest layout, INIT + UPDATE's answers
    const read0019 = Math.max(
      ...Object.values(LAYOUTS_0019).map((l) => frame(CARD_APDU.code, CARD_APDU.reply.encode(sw(l.read.le)))),
    );
    // the commands: INIT + UPDATE CAPP DATA CACHE in each 0019 layout
    const initUpdate = Math.max(
      ...Object.values(LAYOUTS_0019).map((l) =>
        frame(
          CARD_APDU_LIST.code,
          CARD_APDU_LIST.request.encode([
            CARD.initCapp(100_000, Buffer.alloc(6), 1),
            CARD.updateCapp(l.recordId, Buffer.alloc(l.length)),
          ]),
        ),
      ),
    );
    expect({ longestReply, cardRead, read0019, initUpdate }).toEqual({
      longestReply: 267,
      cardRead: 325,
      read0019: 71,
      initUpdate: 99,
    });
    expect(Math.max(longestReply, cardRead, read0019, initUpdate)).toBeLessThanOrEqual(
      MIN_READER_FRAME_LENGTH,
    );
  });

  it("the commented reader block of config/lane.example.yaml is valid and says the defaults", () => {
    const text = readFileSync(join(PROJECT_ROOT, "config/lane.example.yaml"), "utf8");
    const block = text
      .split("\n")
      .filter((l) => /^# (reader:| {2})/.test(l))
      .map((l) => l.slice(2))
      .join("\n");
    const reader = (parseYaml(block) as { reader: unknown }).reader;
    const c = parseLaneConfig({ ...minimal, reader }, "lane.yaml", "/etc");
    const defaults = parseLaneConfig({ ...minimal, reader: { port: "/dev/ttyS1" } }, "lane.yaml", "/etc");
    expect(c.reader).toEqual(defaults.reader);
  });
});
