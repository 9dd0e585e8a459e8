/**
 * The lane config's `reader` section: documented defaults equal the driver's, bad values name the field,
 * and the commented block in config/lane.example.yaml is valid as written.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { DEFAULT_READER_OPTIONS, resolveReaderOptions } from "../../firmware-bridge/reader/options.js";
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
    ).toMatch(/reader\.link\.backoffMaxMs: link\.backoffMaxMs must be at least link\.backoffInitialMs/);
    expect(errorOf({ ...base, reader: { port: "/dev/ttyS1", baud: 9600 } })).toMatch(
      /reader: unknown field\(s\) "baud"/,
    );
    expect(errorOf({ ...base, reader: {} })).toMatch(/reader\.port/);
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
