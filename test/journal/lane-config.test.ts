import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { auditDir, readTrail } from "../../src/audit/index.js";
import { parseLaneConfig } from "../../src/config/load.js";
import { type LaneRuntime, openLane } from "../../src/lane/runtime.js";
import { acksOf, tempDir } from "./helpers.js";
import { sampleRecord } from "./sample-record.js";

const ROOT = join(import.meta.dirname, "../..");
const minimal = (dataDir: string, journal?: unknown) => ({
  lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
  rsu: { port: "in-process", protocol: "legacy", dialect: { utcOffsetMinutes: 420 } },
  statusList: { publicKey: TEST_PUBLIC_KEY_PATH },
  dataDir,
  tariff: join(ROOT, "config/tariff.example.yaml"),
  outputs: { sink: "log" },
  ...(journal === undefined ? {} : { journal }),
});

describe("config journal.*", () => {
  it("defaults: 90 days, every 60 minutes, a recovery probe every 30 s", () => {
    expect(parseLaneConfig(minimal("d"), "lane.yaml", "/x").journal).toEqual({
      retentionDays: 90,
      retentionIntervalMinutes: 60,
      retentionBatchBudgetMs: 1,
      retentionBusyRetryMs: 10,
      recoverProbeSeconds: 30,
    });
  });

  it("refuses a bad value naming the field and the range", () => {
    expect(() => parseLaneConfig(minimal("d", { retentionDays: 0 }), "lane.yaml", "/x")).toThrow(
      /journal\.retentionDays: expected days in 1\.\.3650/,
    );
    expect(() => parseLaneConfig(minimal("d", { retentionIntervalMinutes: 1.5 }), "lane.yaml", "/x")).toThrow(
      /journal\.retentionIntervalMinutes: expected minutes in 1\.\.10080/,
    );
    expect(() => parseLaneConfig(minimal("d", { retentionBusyRetryMs: 0 }), "lane.yaml", "/x")).toThrow(
      /journal\.retentionBusyRetryMs: expected milliseconds in 1\.\.1000/,
    );
    expect(() => parseLaneConfig(minimal("d", { keepForever: true }), "lane.yaml", "/x")).toThrow(
      /journal: unknown field\(s\) "keepForever"/,
    );
  });
});

describe("openLane opens the journal with the lane's settings", () => {
  let lane: LaneRuntime | undefined;
  let cleanup: () => void = () => undefined;
  afterEach(async () => {
    await lane?.close();
    lane = undefined;
    cleanup();
  });

  it("retention days, interval and probe from journal.*, the dialect's UTC offset, reports in the audit trail", async () => {
    const t = tempDir("etc-lane-journal-");
    cleanup = t.cleanup;
    const dataDir = join(t.dir, "data");
    const c = parseLaneConfig(
      minimal(dataDir, {
        retentionDays: 2,
        retentionIntervalMinutes: 15,
        retentionBatchBudgetMs: 3,
        retentionBusyRetryMs: 20,
        recoverProbeSeconds: 5,
      }),
      "lane.yaml",
      t.dir,
    );
    lane = await openLane(c, { transport: createTransportPair().lane, uplink: false });
    const j = lane.journal;
    expect(j.upkeep.settings).toMatchObject({
      retentionDays: 2,
      retentionIntervalMs: 15 * 60_000,
      batchBudgetMs: 3,
      busyRetryMs: 20,
      recoverProbeMs: 5000,
    });
    const rec = j.commit(sampleRecord(1));
    expect(rec.createdAt).toMatch(/\+07:00$/); // the dialect's utcOffsetMinutes: 420
    j.markUploaded(acksOf(rec), new Date(Date.now() - 3 * 86_400_000));
    // no batch while the controller has a vehicle in flight: retention keeps asking it and deletes nothing
    const controller = lane.controller;
    const inFlight = controller.inFlight.bind(controller);
    let looks = 0;
    let lookedThrice: () => void = () => undefined;
    const thrice = new Promise<void>((resolve) => {
      lookedThrice = resolve;
    });
    controller.inFlight = () => {
      if (++looks === 3) lookedThrice();
      return [{ obuId: "0a0b0c0d", phase: "await-b4" as const }];
    };
    const run = j.runRetention();
    await thrice;
    expect(j.get(rec.seq)).not.toBeNull();
    controller.inFlight = inFlight; // the vehicle is through
    const report = await run;
    expect(report.deleted).toBe(1);
    await lane.close();
    lane = undefined;
    const events = [...readTrail(auditDir(dataDir))]
      .map((x) => x.entry)
      .filter((e) => e.type === "journal.retention");
    // bound into the trail by the retention batch itself: the deleted record's seq, with the cutoff
    expect(events).toEqual([
      expect.objectContaining({
        severity: "info",
        data: { deleted: [[rec.seq, rec.seq]], count: 1, cutoff: report.cutoff },
      }),
    ]);
  });
});
