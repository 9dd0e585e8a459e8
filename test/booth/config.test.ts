/**
 * The lane config's `booth` section: defaults, the stop reasons it accepts, bad values named with their
 * field, and the block in config/lane.example.yaml says the defaults; the reader link's smallest frame
 * limit still lets the booth pay (over the booth harness).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { DEFAULT_BOOTH_REASONS } from "../../src/booth/cases.js";
import { parseLaneConfig } from "../../src/config/index.js";
import { configNotes } from "../../src/config/preflight.js";
import { configErrorOf, MINIMAL_LANE_CONFIG } from "../config/helpers.js";
import { PROJECT_ROOT } from "../helpers/cli.js";
import { boothTest, noCardVehicle } from "./harness.js";

const minimal = { ...MINIMAL_LANE_CONFIG, reader: { port: "/dev/ttyS1" } };

const errorOf = configErrorOf;

describe("booth config", () => {
  it("defaults", () => {
    expect(parseLaneConfig(minimal, "lane.yaml", "/etc").booth).toEqual({
      originalCardWaitMs: 120_000,
      caseMaxAgeMinutes: 120,
      queueMax: 100,
      offerFor: [...DEFAULT_BOOTH_REASONS],
      layout0019: "auto",
      keyIndex: 1,
      diversificationLevels: 2,
    });
  });

  it("a bad value names the field and what was expected; offerFor takes only stop reason codes", () => {
    expect(errorOf({ ...minimal, booth: { originalCardWaitMs: 10 } })).toMatch(
      /booth\.originalCardWaitMs: expected milliseconds in 1000\.\.3600000/,
    );
    expect(errorOf({ ...minimal, booth: { offerFor: ["OBU_NO_CARD", "NO_SUCH"] } })).toMatch(
      /booth\.offerFor\.1: expected a stop reason code .*got "NO_SUCH"/,
    );
    expect(errorOf({ ...minimal, booth: { layout0019: "aa44" } })).toMatch(
      /booth\.layout0019: expected "auto"/,
    );
    expect(errorOf({ ...minimal, booth: { diversificationLevels: 3 } })).toMatch(
      /booth\.diversificationLevels: expected 1 or 2/,
    );
    expect(errorOf({ ...minimal, booth: { keyIndex: 256 } })).toMatch(
      /booth\.keyIndex: expected a key index/,
    );
    expect(
      parseLaneConfig({ ...minimal, booth: { offerFor: ["LANE_CLOSED"] } }, "l", "/").booth.offerFor,
    ).toEqual(["LANE_CLOSED"]);
  });

  it("offerFor takes a stop the journal does not record, which the booth never sees, with a note naming the entry", () => {
    const c = parseLaneConfig(
      { ...minimal, booth: { offerFor: ["OBU_NO_CARD", "JOURNAL_FAILED", "ALREADY_TRADED"] } },
      "lane.yaml",
      "/etc",
    );
    expect(c.booth.offerFor).toEqual(["OBU_NO_CARD", "JOURNAL_FAILED", "ALREADY_TRADED"]);
    expect(configNotes(c).filter((n) => n.path.startsWith("booth."))).toEqual([
      {
        path: "booth.offerFor.1",
        message:
          "JOURNAL_FAILED: ignored: these stops are not written to the journal (the journal could not write this vehicle's record), so the booth never sees them; remove it",
      },
      {
        path: "booth.offerFor.2",
        message:
          "ALREADY_TRADED: ignored: these stops are not written to the journal (its vehicle just paid: answered with C2 and a note), so the booth never sees them; remove it",
      },
    ]);
    expect(
      configNotes(parseLaneConfig(minimal, "lane.yaml", "/etc")).filter((n) => n.path.startsWith("booth.")),
    ).toEqual([]);
  });

  it("the booth block of config/lane.example.yaml is valid and says the defaults", () => {
    const text = readFileSync(join(PROJECT_ROOT, "config/lane.example.yaml"), "utf8");
    const example = parseYaml(text) as { booth: unknown };
    const c = parseLaneConfig({ ...minimal, booth: example.booth }, "lane.yaml", "/etc");
    expect(c.booth).toEqual(parseLaneConfig(minimal, "lane.yaml", "/etc").booth);
  });

  it("a reader link at the smallest maxFrameLength the config takes (512) reads and charges a card; 64 is refused", async () => {
    expect(errorOf({ ...minimal, reader: { port: "/dev/ttyS1", link: { maxFrameLength: 64 } } })).toMatch(
      /reader\.link\.maxFrameLength: expected bytes in 512\.\.65544/,
    );
    const link = { pingIntervalMs: 0, backoffInitialMs: 50, backoffMaxMs: 200, maxFrameLength: 512 };
    const vehicles = [noCardVehicle("A1", "2200000000000001")];
    await boothTest({ reader: { link }, scenario: { traffic: { vehicles } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      t.reader.present("43012200000000000001");
      await t.prompt("PAID");
      await t.boothIdle();
      expect(t.ledger()).toHaveLength(1);
      expect(t.lane.reader!.counters.oversize).toBe(0);
      t.expectRecordsMatchLedger();
    });
  });
});
