/**
 * A journal that cannot be read (a damaged page, an I/O error) on a lane without a station: the lane closes
 * for its journal, and every view of it still answers and says so (src/service/runtime-snapshot.ts
 * disabledUplinkView, journalView): /health 503 with reason `journal`, /status and /metrics 200 with the
 * journal unhealthy, the page and `etc-lane status` (the control socket) with the journal FAILED and why.
 */
import { firstValueFrom } from "rxjs";
import { filter, timeout } from "rxjs/operators";
import { describe, expect, it } from "vitest";
import { formatStatus } from "../../src/cli/commands/status.js";
import { callLane } from "../../src/service/control/client.js";
import type { LaneSnapshot } from "../../src/service/lane-view.js";
import { type ServedLane, serveLane } from "../../src/service/serve-lane.js";
import { type LaneTestContext, laneTest, servedLaneConfig } from "../integration/harness.js";
import { parsePrometheusText, sampleValue } from "./prom-parse.js";

/**
 * A served lane without a station whose journal reads of the queue's age (at each snapshot) meet an I/O
 * error from the moment `body` runs; /health answered 200 before.
 */
async function servedLane(
  body: (t: LaneTestContext, served: ServedLane, url: (p: string) => URL) => Promise<void>,
): Promise<void> {
  await laneTest(
    { protocol: "legacy", scenario: { defaults: { zoneMs: 2500 }, traffic: { gapMs: 200, vehicles: [] } } },
    async (t) => {
      const served = await serveLane(t.lane, servedLaneConfig(t.lane), {
        processMetrics: false,
        verifyFirstAfterMs: 3_600_000,
      });
      const url = (p: string): URL => new URL(p, served.service.url);
      try {
        expect((await fetch(url("/health"))).status).toBe(200);
        const stmt = (t.lane.journal.outbox as unknown as { stmtQueueAge: { get: () => unknown } })
          .stmtQueueAge;
        stmt.get = () => {
          throw Object.assign(new Error("disk I/O error"), { code: "SQLITE_IOERR_READ" });
        };
        await body(t, served, url);
      } finally {
        await served.close();
      }
    },
  );
}

describe("a journal read that fails", () => {
  it("closes the lane for its journal, and /health, /status, /metrics, the page and status still answer", async () => {
    await servedLane(async (t, served, url) => {
      const closed = firstValueFrom(
        t.lane.controller.status$.pipe(
          filter((s) => s.status === "closed" && s.reason === "journal"),
          timeout(5000),
        ),
      );
      // the next snapshot meets it (before, it threw: every view answered 500), and the journal's
      // failure closes the lane
      const met = served.view.snapshot();
      expect(met.journal.healthy).toBe(false);
      // review: the controller's close has not landed yet (it runs on its queue): the state is closed for
      // the journal since the journal failed, not since the lane opened
      expect(t.lane.controller.status.status).toBe("open");
      expect(met.state).toMatchObject({ status: "closed", reason: "journal", since: met.journal.error?.at });
      expect(met.journal.error?.at).toEqual(expect.any(Number));
      await closed;

      const health = await fetch(url("/health"));
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ ok: false, status: "closed", reason: "journal" });

      const st = await fetch(url("/status"));
      expect(st.status).toBe(200);
      const s = (await st.json()) as LaneSnapshot;
      expect(s.state).toMatchObject({ canTrade: false, reason: "journal" });
      expect(s.journal).toMatchObject({
        healthy: false,
        error: { code: "E601_JOURNAL_WRITE", message: expect.stringContaining("disk I/O error") },
      });
      expect(s.uplink).toMatchObject({
        state: "disabled",
        oldestPendingAgeMs: null,
        lastError: { message: expect.stringContaining("disk I/O error") },
      });

      const m = await fetch(url("/metrics"));
      expect(m.status).toBe(200);
      const fams = parsePrometheusText(await m.text());
      expect(sampleValue(fams, "etc_lane_journal_healthy")).toBe(0);
      expect(sampleValue(fams, "etc_lane_can_trade")).toBe(0);

      for (const p of ["/", "/fragment/state"]) {
        const page = await fetch(url(p));
        expect(page.status).toBe(200);
        expect(await page.text()).toMatch(
          /data-testid="journal-error">E601_JOURNAL_WRITE: [^<]*disk I\/O error/,
        );
      }

      // etc-lane status: the control socket's snapshot, printed
      const status = await callLane(served.service.controlPath, { action: "status" });
      expect(status).toMatchObject({ kind: "result", ok: true });
      const text = formatStatus((status as unknown as { data: { snapshot: LaneSnapshot } }).data.snapshot);
      expect(text).toMatch(
        /Journal +FAILED +last seq \d+, last commit .*; E601_JOURNAL_WRITE: disk I\/O error/,
      );
    });
  });

  it("the very request whose read finds the journal failed does not say the lane can trade (503, canTrade false)", async () => {
    await servedLane(async (_t, served, url) => {
      // no wait for the controller's close: this request's own snapshot meets the failure
      const h = await fetch(url("/health"));
      expect(h.status).toBe(503);
      expect(await h.json()).toMatchObject({ ok: false, reason: "journal" });
      const s = served.view.snapshot();
      expect(s.state).toMatchObject({ canTrade: false, reason: "journal" });
      expect(s.journal.healthy).toBe(false);
    });
  });
});
