/**
 * A wire capture that stops (its disk short of the margin kept for the journal:
 * firmware-bridge/capture/capture-writer.ts roomShort) while the lane trades on is said where the lane's
 * state is read, not only in the log: the snapshot's `capture` (GET /status, `etc-lane status`), the
 * metrics `etc_lane_capture_active` and `etc_lane_capture_stops_total`, and one `CAPTURE_STOPPED` alarm
 * entry in the audit trail (src/capture/wire-capture.ts, src/service/runtime-snapshot.ts captureView).
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { readTrail } from "../../src/audit/search.js";
import { auditDir } from "../../src/audit/segments.js";
import { formatStatus } from "../../src/cli/commands/status.js";
import { parseLaneConfig } from "../../src/config/index.js";
import { openLane } from "../../src/lane/runtime.js";
import { LaneMetrics } from "../../src/service/metrics.js";
import { LaneRuntimeView } from "../../src/service/runtime-view.js";
import { parsePrometheusText, sampleValue } from "./prom-parse.js";

const MiB = 1024 * 1024;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true, maxRetries: 5 });
});

const LANE = { network: "4301", station: "0102", lane: 3, role: "entry" } as const;

function laneConfig(base: string, capture: Record<string, unknown>) {
  return parseLaneConfig(
    {
      lane: LANE,
      rsu: { port: "/dev/ttyUSB0", protocol: "legacy" },
      statusList: { publicKey: TEST_PUBLIC_KEY_PATH },
      dataDir: join(base, "data"),
      capture,
      audit: { verifyIntervalMinutes: 0 },
    },
    "lane.yaml",
    base,
  );
}

it("a capture stopped short of its disk's margin: the snapshot, the metrics, the status text and the trail say so", async () => {
  const base = mkdtempSync(join(tmpdir(), "capture-status-"));
  dirs.push(base);
  const dir = join(base, "capture");
  const rt = await openLane(laneConfig(base, { enabled: true, dir }), {
    transport: createTransportPair().lane,
    outputs: { emit: () => {} },
    uplink: false,
    // 100 MiB free: less than the 256 MiB kept for the journal (src/datadir/free-space.ts)
    captureFreeBytes: () => 100 * MiB,
  });
  const view = new LaneRuntimeView(rt, { lane: { ...LANE, utcOffsetMinutes: 480 } });
  const metrics = new LaneMetrics(view, { processMetrics: false });
  try {
    // capturing until the first chunk is written
    expect(view.snapshot().capture).toEqual({
      active: true,
      dir,
      current: null,
      files: 0,
      bytes: 0,
      stopped: null,
    });
    const before = parsePrometheusText(await metrics.text());
    expect(sampleValue(before, "etc_lane_capture_active")).toBe(1);
    expect(sampleValue(before, "etc_lane_capture_stops_total", { reason: "disk-margin" })).toBe(0);

    // the stop's alarm entry, as the status service hears it (src/service/runtime-feed.ts alarmEvents)
    const stopped = new Promise<{ code: string; message: string }>((resolve) =>
      rt.audit.onAlarmEntry((a) => {
        if (a.code === "CAPTURE_STOPPED") resolve(a);
      }),
    );
    // the link opens the port: the capture records it and, writing it, finds the disk short
    await rt.controller.start();
    const alarm = await stopped;
    expect(alarm.message).toMatch(
      /wire capture would leave less than 256 MiB free on the disk of .*capturing stops/,
    );

    const snap = view.snapshot();
    expect(snap.capture).toEqual({
      active: false,
      dir,
      current: null,
      files: 0,
      bytes: 0,
      stopped: { reason: "disk-margin", message: alarm.message, at: expect.any(Number) },
    });
    expect(readdirSync(dir)).toEqual([]);
    const after = parsePrometheusText(await metrics.text());
    expect(sampleValue(after, "etc_lane_capture_active")).toBe(0);
    expect(sampleValue(after, "etc_lane_capture_stops_total", { reason: "disk-margin" })).toBe(1);
    expect(sampleValue(after, "etc_lane_capture_stops_total", { reason: "write-failed" })).toBe(0);
    expect(formatStatus(snap)).toMatch(
      /Wire capture +STOPPED +since .* \[disk-margin\]: wire capture would leave/,
    );
  } finally {
    await view.close();
    await rt.close();
  }
  const entries = [...readTrail(auditDir(join(base, "data")))].map((x) => x.entry);
  const alarms = entries.filter((e) => e.type === "lane.alarm" && e.data?.code === "CAPTURE_STOPPED");
  expect(alarms).toEqual([
    expect.objectContaining({
      severity: "alarm",
      data: expect.objectContaining({
        reason: "disk-margin",
        dir,
        freeBytes: 100 * MiB,
        marginBytes: 256 * MiB,
      }),
    }),
  ]);
});

it("a capture directory that cannot be made stops it while the lane opens: the alarm waits for the view's feed, one trail entry", async () => {
  const base = mkdtempSync(join(tmpdir(), "capture-status-"));
  dirs.push(base);
  writeFileSync(join(base, "a-file"), "x");
  const dir = join(base, "a-file", "capture"); // under a file: ENOTDIR, in the writer's constructor
  const rt = await openLane(laneConfig(base, { enabled: true, dir }), {
    transport: createTransportPair().lane,
    outputs: { emit: () => {} },
    uplink: false,
  });
  // the view listens only now, after openLane: the trail held the alarm entry for it
  const view = new LaneRuntimeView(rt, { lane: { ...LANE, utcOffsetMinutes: 480 } });
  const fed: string[] = [];
  const sub = view.events$.subscribe((e) => {
    if (e.type === "alarm") fed.push(e.code);
  });
  try {
    await rt.controller.start();
    expect(fed).toContain("CAPTURE_STOPPED");
    expect(fed.filter((c) => c === "CAPTURE_STOPPED")).toHaveLength(1);
    expect(view.snapshot().capture).toEqual({
      active: false,
      dir,
      current: null,
      files: 0,
      bytes: 0,
      stopped: { reason: "write-failed", message: expect.any(String), at: expect.any(Number) },
    });
  } finally {
    sub.unsubscribe();
    await view.close();
    await rt.close();
  }
  const entries = [...readTrail(auditDir(join(base, "data")))].map((x) => x.entry);
  const alarms = entries.filter((e) => e.type === "lane.alarm" && e.data?.code === "CAPTURE_STOPPED");
  expect(alarms).toEqual([
    expect.objectContaining({ data: expect.objectContaining({ reason: "write-failed", dir }) }),
  ]);
});

it("a lane without a capture: the snapshot's capture is null, no capture metric, the status says off", async () => {
  const base = mkdtempSync(join(tmpdir(), "capture-status-"));
  dirs.push(base);
  const rt = await openLane(laneConfig(base, { enabled: false }), {
    transport: createTransportPair().lane,
    outputs: { emit: () => {} },
    uplink: false,
  });
  const view = new LaneRuntimeView(rt, { lane: { ...LANE, utcOffsetMinutes: 480 } });
  try {
    const snap = view.snapshot();
    expect(snap.capture).toBeNull();
    const fams = parsePrometheusText(await new LaneMetrics(view, { processMetrics: false }).text(snap));
    expect(fams.get("etc_lane_capture_active")?.samples ?? []).toEqual([]);
    expect(fams.get("etc_lane_capture_stops_total")?.samples ?? []).toEqual([]);
    expect(formatStatus(snap)).toMatch(/Wire capture +off +capture\.enabled is false/);
  } finally {
    await view.close();
    await rt.close();
  }
});
