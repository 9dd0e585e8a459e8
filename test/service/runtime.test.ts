/**
 * The status service over a real lane (src/service/serve-lane.ts, runtime-view.ts): the real controller,
 * journal, status list and audit trail against the simulated RSU (test/integration/harness.ts). While the
 * vehicles flow, each finished vehicle triggers a round of requests: /health answers 200 (the lane
 * trades), /status has that vehicle among its last transactions with the lane's parts filled in, /metrics
 * is valid Prometheus text counting the vehicles. Then the trail search of the page, the background
 * verify, and the operator actions through the control socket, each recorded in the lane's trail.
 */
import { readFileSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildBundle, TEST_PRIVATE_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { readTrail } from "../../src/audit/search.js";
import { auditDir } from "../../src/audit/segments.js";
import { callLane } from "../../src/service/control/client.js";
import type { LaneSnapshot } from "../../src/service/lane-view.js";
import { serveLane } from "../../src/service/serve-lane.js";
import { laneTest, servedLaneConfig } from "../integration/harness.js";
import { parsePrometheusText, sampleValue } from "./prom-parse.js";

const N = 6;
const vehicles = Array.from({ length: N }, (_, i) => ({
  id: `v${i + 1}`,
  plate: `湘B0000${i + 1}`,
  class: 1,
  balance: 20_000,
  entryStation: "0101",
}));

describe("the status service over a real lane", () => {
  it("/health, /status and /metrics answer while vehicles flow; search, verify and operator actions", async () => {
    await laneTest(
      { protocol: "legacy", scenario: { defaults: { zoneMs: 2500 }, traffic: { gapMs: 200, vehicles } } },
      async (t) => {
        const dataDir = t.lane.journal.path.replace(/\/journal\.db$/, "");
        const config = servedLaneConfig(t.lane);
        const served = await serveLane(t.lane, config, {
          processMetrics: false,
          verifyFirstAfterMs: 3_600_000,
        });
        const url = (p: string): URL => new URL(p, served.service.url);
        try {
          // a round of requests after each vehicle, while the next ones are on their way
          const rounds: Promise<{ seq: number; health: number; status: LaneSnapshot; metrics: string }>[] =
            [];
          t.lane.controller.outcomes$.subscribe((o) => {
            // the service's feed drains every 100 ms; drained now, this round's /metrics must count the vehicle
            served.service.pump.drain();
            rounds.push(
              (async () => {
                const [h, s, m] = await Promise.all([
                  fetch(url("/health")),
                  fetch(url("/status")),
                  fetch(url("/metrics")),
                ]);
                return {
                  seq: o.record.seq,
                  health: h.status,
                  status: (await s.json()) as LaneSnapshot,
                  metrics: await m.text(),
                };
              })(),
            );
          });
          await t.settle();
          const got = await Promise.all(rounds);
          expect(got).toHaveLength(N);
          for (const r of got) {
            expect(r.health).toBe(200);
            expect(r.status.lastTransactions.map((x) => x.seq)).toContain(r.seq);
            const fams = parsePrometheusText(r.metrics);
            const vehiclesCounted = [...(fams.get("etc_lane_vehicles_total")?.samples ?? [])].reduce(
              (a, x) => a + x.value,
              0,
            );
            expect(vehiclesCounted).toBeGreaterThanOrEqual(r.seq);
            expect(sampleValue(fams, "etc_lane_can_trade")).toBe(1);
          }

          // the snapshot after the run: every part filled from the real lane
          const s = (await (await fetch(url("/status"))).json()) as LaneSnapshot;
          expect(s).toMatchObject({
            lane: { network: "4301", station: "0102", lane: 3, role: "exit", utcOffsetMinutes: 480 },
            state: { status: "open", canTrade: true, reason: null, operatorClosed: null },
            rsu: { status: "up", device: { rsuId: expect.any(String) } },
            reader: null,
            statusList: { state: "ok", versions: { full: "202507160000", delta: null } },
            uplink: { state: "disabled", queueDepth: N, held: 0 },
            journal: { healthy: true, lastSeq: N },
            booth: { cases: [] },
            clock: { skewToStationMs: null },
          });
          expect(s.rsu.counters.framesIn).toBeGreaterThan(0);
          expect(s.counters.transactions).toBe(N);
          expect(s.lastTransactions.map((x) => x.seq)).toEqual([6, 5, 4, 3, 2, 1]);
          expect(s.audit.lastSeq).toBeGreaterThan(N);
          expect(s.statusList.counts).toEqual({ cards: 0, obus: 0 });
          served.service.pump.drain();
          const fams = parsePrometheusText(await (await fetch(url("/metrics"))).text());
          expect(
            sampleValue(fams, "etc_lane_vehicles_total", { kind: "transaction", outcome: "EXIT_DEBIT" }),
          ).toBe(N);
          expect(sampleValue(fams, "etc_lane_uplink_queue_depth")).toBe(N);

          // the page's trail search: the lane's own records, newest first
          const found = await served.view.searchTrail({ kind: "transaction", limit: 4 });
          expect(found.rows.map((r) => r.tradeId)).toEqual(
            t
              .records()
              .slice(-4)
              .reverse()
              .map((r) => r.tradeId),
          );
          expect(found.truncated).toBe(true);
          const page = await (await fetch(url("/search?kind=transaction"))).text();
          for (const r of found.rows) expect(page).toContain(`data-trail-seq="${r.seq}"`);

          // the lane verifies itself in a worker thread; the page shows it
          expect(served.view.lastVerify()).toBeNull();
          const v = await served.view.verifyNow();
          expect(v).toMatchObject({ ok: true, problem: null, journalRows: N });
          expect(served.view.lastVerify()).toMatchObject({ ok: true, range: { from: 1 } });
          expect(await (await fetch(url("/fragment/state"))).text()).toContain("完好 intact");

          // operator actions through the control socket, recorded in the lane's trail with the user
          const bundle = join(dataDir, "..", "delta.bundle");
          writeFileSync(
            bundle,
            buildBundle({
              kind: "delta",
              version: "202507160005",
              base: "202507160000",
              privateKeyPem: readFileSync(TEST_PRIVATE_KEY_PATH),
              rows: [{ kind: "card", id: "43010000000000007777", listType: 1, reason: "lost" }],
            }),
          );
          const sock = served.service.controlPath;
          const imp = await callLane(sock, { action: "status-list.import", file: bundle });
          expect(imp).toMatchObject({
            kind: "result",
            ok: true,
            data: { kind: "delta", version: "202507160005" },
          });
          expect(t.lane.statusList.versions()).toEqual({ full: "202507160000", delta: "202507160005" });
          // /status says when the newest list (the delta) was applied, not when the full list was imported
          const listInfo = t.lane.statusList.info();
          const deltaApplied = Date.parse(listInfo.recentDeltas[0]!.appliedAt);
          expect(deltaApplied).toBeGreaterThan(Date.parse(listInfo.importedAt!));
          const afterDelta = (await (await fetch(url("/status"))).json()) as LaneSnapshot;
          expect(afterDelta.statusList.appliedAt).toBe(deltaApplied);
          const bad = await callLane(sock, {
            action: "status-list.import",
            file: join(dataDir, "missing.bundle"),
          });
          // a file the lane cannot read: said plainly, no bundle judged (no status-list entry below)
          expect(bad).toMatchObject({
            kind: "result",
            ok: false,
            message: expect.stringMatching(
              /^the lane cannot read .*missing\.bundle as its user .*: no such file \(ENOENT\)/,
            ),
          });
          expect(await callLane(sock, { action: "journal.requeue-held" })).toMatchObject({
            ok: true,
            data: { requeued: 0 },
          });
          const trail = [...readTrail(auditDir(dataDir))].map((x) => x.entry);
          const ops = trail.filter((e) => e.type.startsWith("operator."));
          expect(ops.map((e) => [e.type, (e.data as { ok: boolean; via: string }).ok])).toEqual([
            ["operator.status-list.import", true],
            ["operator.status-list.import", false],
            ["operator.journal.requeue-held", true],
          ]);
          expect(ops[0]!.data).toMatchObject({ via: "socket", file: bundle });
          const lists = trail.filter((e) => e.type.startsWith("status-list."));
          expect(lists.map((e) => [e.type, (e.data as { source?: string }).source])).toEqual([
            ["status-list.loaded", undefined],
            ["status-list.applied", "test"], // the harness's list, before the lane opened
            ["status-list.applied", "operator"],
          ]);
          expect(lists[2]!.data).toMatchObject({
            version: "202507160005",
            versions: { full: "202507160000", delta: "202507160005" },
          });
        } finally {
          await served.close();
        }
      },
    );
  });

  it("a taken service port does not keep the lane from trading: the trail says so, and the vehicles pass", async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as AddressInfo).port;
    try {
      await laneTest(
        {
          protocol: "legacy",
          scenario: { defaults: { zoneMs: 2500 }, traffic: { gapMs: 200, vehicles: vehicles.slice(0, 2) } },
        },
        async (t) => {
          const dataDir = t.lane.journal.path.replace(/\/journal\.db$/, "");
          const config = servedLaneConfig(t.lane);
          const served = await serveLane(
            t.lane,
            { ...config, service: { ...config.service, listen: `127.0.0.1:${port}` } },
            { processMetrics: false, verifyFirstAfterMs: 3_600_000 },
          );
          try {
            expect(served.service.listening).toBe(false);
            await t.settle();
            expect(t.lane.journal.list().filter((r) => r.kind === "transaction")).toHaveLength(2);
            const down = [...readTrail(auditDir(dataDir))]
              .map((x) => x.entry)
              .filter((e) => e.type === "service.http");
            expect(down).toHaveLength(1);
            expect(down[0]).toMatchObject({
              severity: "alarm",
              data: { state: "down", listen: `127.0.0.1:${port}` },
            });
            expect(down[0]!.message).toContain(`cannot listen on 127.0.0.1:${port}`);
          } finally {
            await served.close();
          }
        },
      );
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });
});
