/**
 * The service's alarms over a real lane (src/service/runtime-view.ts over AuditTrail.onAlarmEntry in
 * src/audit/trail.ts): every entry of alarm severity the lane writes to its trail once the service runs is
 * one `alarm` event of the feed and one count of `etc_lane_alarms_total{code}` (data.code, else the entry
 * type), whoever wrote it: a status list the operator's import refused, the trail's own rollback alarm,
 * the booth's refusal of a listed card (its booth.refused detail and its lane.alarm: one alarm). The
 * alarms the lane wrote before the service subscribed (its start: here "no status list loaded") are
 * counted too.
 */
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { AuditEntry } from "../../src/audit/entry.js";
import { readTrail } from "../../src/audit/search.js";
import { auditDir, listSegments } from "../../src/audit/segments.js";
import { VERIFY_FAILED_CODE } from "../../src/audit/verify-alarm.js";
import type { LaneRuntime } from "../../src/lane/runtime.js";
import { callLane } from "../../src/service/control/client.js";
import type { LaneFeedEvent } from "../../src/service/lane-view.js";
import { type ServedLane, serveLane } from "../../src/service/serve-lane.js";
import { boothTest, noCardVehicle } from "../booth/harness.js";
import { laneTest, servedLaneConfig } from "../integration/harness.js";
import { parsePrometheusText } from "./prom-parse.js";

/** etc_lane_alarms_total by code, as /metrics says it. */
async function alarmsCounted(served: ServedLane): Promise<Record<string, number>> {
  served.service.pump.drain();
  const text = await (await fetch(new URL("/metrics", served.service.url))).text();
  const out: Record<string, number> = {};
  for (const s of parsePrometheusText(text).get("etc_lane_alarms_total")?.samples ?? [])
    out[s.labels.code!] = s.value;
  return out;
}

/** The lane's trail entries of alarm severity after `afterSeq`. */
function alarmEntries(lane: LaneRuntime, afterSeq: number): AuditEntry[] {
  const dir = auditDir(lane.journal.path.replace(/\/journal\.db$/, ""));
  return [...readTrail(dir)].map((x) => x.entry).filter((e) => e.seq > afterSeq && e.severity === "alarm");
}

/** etc_lane_alarms_total as the alarm entries `entries` count (a booth.* entry is the detail of a lane.alarm). */
function countOf(entries: AuditEntry[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of entries) {
    if (e.type.startsWith("booth.")) continue;
    const code = (e.data as { code?: string } | undefined)?.code ?? e.type;
    out[code] = (out[code] ?? 0) + 1;
  }
  return out;
}

/** The alarm events of the service's feed, as the page's live feed and the metrics get them. */
function alarmFeed(served: ServedLane): { code: string; message: string }[] {
  const seen: { code: string; message: string }[] = [];
  served.view.events$.subscribe((e: LaneFeedEvent) => {
    if (e.type === "alarm") seen.push({ code: e.code, message: e.message });
  });
  return seen;
}

describe("etc_lane_alarms_total and the feed's alarms: every alarm entry of the trail, once", () => {
  it("a status list the operator's import refused and the trail's own rollback alarm", async () => {
    await laneTest({ protocol: "legacy", scenario: { traffic: { vehicles: [] } } }, async (t) => {
      // the lane started without a status list: an alarm written before the service subscribed
      const atStart = alarmEntries(t.lane, 0);
      expect(atStart.map((e) => [e.type, e.message])).toEqual([
        ["status-list.loaded", "no status list loaded"],
      ]);
      const served = await serveLane(t.lane, servedLaneConfig(t.lane), {
        processMetrics: false,
        verifyFirstAfterMs: 3_600_000,
      });
      try {
        const from = t.lane.audit.status().lastSeq;
        const feed = alarmFeed(served);
        const bogus = join(t.dir, "bogus.bundle");
        writeFileSync(bogus, "not a bundle");
        const r = await callLane(served.service.controlPath, { action: "status-list.import", file: bogus });
        expect(r).toMatchObject({ kind: "result", ok: false });
        // the station answers 409 to a checkpoint: the trail's own AUDIT_ROLLBACK (an audit.rollback entry)
        t.lane.audit.witness.refused(null, "HTTP 409 from the station");
        await t.lane.audit.flush();

        const entries = alarmEntries(t.lane, from);
        expect(entries.map((e) => e.type)).toEqual(["status-list.refused", "audit.rollback"]);
        const refusedCode = (entries[0]!.data as { code: string }).code;
        expect(refusedCode).toMatch(/^E\d+_/);
        expect(await alarmsCounted(served)).toEqual({
          "status-list.loaded": 1,
          [refusedCode]: 1,
          AUDIT_ROLLBACK: 1,
        });
        expect(feed).toEqual(
          entries.map((e) => ({ code: (e.data as { code?: string }).code ?? e.type, message: e.message })),
        );
      } finally {
        await served.close();
      }
    });
  });

  it("the controller's alarm (a suspect's SUSPECT_*): once, though the controller also reports it on its events$", async () => {
    let served: ServedLane | undefined;
    let feed: { code: string; message: string }[] = [];
    let atStart: Record<string, number> = {};
    await laneTest(
      {
        protocol: "legacy",
        scenario: {
          // 2 s in the zone: the debit happens whatever the machine's load (a B3 or B5 after a 400 ms zone is
          // another outcome); the lost B5's lingerMs 0 makes the OBU leave at once all the same
          defaults: { zoneMs: 2000 },
          traffic: {
            vehicles: [
              {
                id: "s",
                plate: "湘B00009",
                class: 1,
                balance: 20_000,
                entryStation: "0101",
                // the card paid, the RSU lost the B5 and the OBU left at once: the lane records a suspect
                faults: [{ kind: "b5-lost", lingerMs: 0 }],
              },
            ],
          },
        },
        // served before the controller starts: the vehicle's alarm is raised while the service runs
        beforeStart: async (lane) => {
          atStart = countOf(alarmEntries(lane, 0));
          served = await serveLane(lane, servedLaneConfig(lane), {
            processMetrics: false,
            verifyFirstAfterMs: 3_600_000,
          });
          feed = alarmFeed(served);
        },
      },
      async (t) => {
        try {
          await t.settle();
          await t.lane.audit.flush();
          expect(t.records().map((r) => r.kind)).toEqual(["suspect"]);
          const raised = t.outputs.filter((o) => o.type === "alarm").map((o) => (o as { code: string }).code);
          expect(raised).toHaveLength(1);
          expect(raised[0]).toMatch(/^SUSPECT_/);
          expect(await alarmsCounted(served!)).toEqual({ ...atStart, [raised[0]!]: 1 });
          expect(feed.map((a) => a.code)).toEqual(raised);
        } finally {
          await served!.close();
        }
      },
    );
  });

  it("the booth's refusal of a listed card: its detail entry and its lane.alarm are one alarm", async () => {
    const serial = "2200000000000001";
    const card = `4301${serial}`;
    await boothTest(
      {
        scenario: { traffic: { vehicles: [noCardVehicle("L1", serial)] } },
        listed: [{ kind: "card", id: card }],
      },
      async (t) => {
        const atStart = countOf(alarmEntries(t.lane, 0));
        const served = await serveLane(t.lane, servedLaneConfig(t.lane), {
          processMetrics: false,
          verifyFirstAfterMs: 3_600_000,
        });
        try {
          await t.caseQueued("OBU_NO_CARD");
          const from = t.lane.audit.status().lastSeq;
          const feed = alarmFeed(served);
          t.reader.present(card);
          await t.prompt("REFUSED_CARD_ON_STATUS_LIST");
          await t.boothIdle();
          await t.lane.audit.flush();

          const entries = alarmEntries(t.lane, from);
          expect(entries.map((e) => [e.type, (e.data as { code?: string }).code])).toEqual([
            ["booth.refused", "CARD_ON_STATUS_LIST"],
            ["lane.alarm", "CARD_ON_STATUS_LIST"],
          ]);
          // both name the card in their data, as `audit search --card` reads it (src/audit/search.ts)
          expect(entries.map((e) => (e.data as { cardId?: string }).cardId)).toEqual([card, card]);
          expect(await alarmsCounted(served)).toEqual({ ...atStart, CARD_ON_STATUS_LIST: 1 });
          expect(feed.map((a) => a.code)).toEqual(["CARD_ON_STATUS_LIST"]);
        } finally {
          await served.close();
        }
      },
    );
  });

  it("the background verify's failure: the first written to the trail (its alarm entry), a repeat on the feed alone; two alarms counted", async () => {
    await laneTest({ protocol: "legacy", scenario: { traffic: { vehicles: [] } } }, async (t) => {
      const served = await serveLane(t.lane, servedLaneConfig(t.lane), {
        processMetrics: false,
        verifyFirstAfterMs: 3_600_000,
      });
      try {
        await t.lane.audit.flush();
        const from = t.lane.audit.status().lastSeq;
        const atStart = await alarmsCounted(served);
        const feed = alarmFeed(served);
        // the trail's first line changed in place (its hash's last digit): verify fails on it
        const first = listSegments(auditDir(t.lane.journal.path.replace(/\/journal\.db$/, "")))[0]!.path;
        const text = readFileSync(first, "utf8");
        const hash = (JSON.parse(text.slice(0, text.indexOf("\n"))) as { hash: string }).hash;
        const at = Buffer.byteLength(text.slice(0, text.indexOf(hash))) + hash.length - 1;
        const fd = openSync(first, "r+");
        writeSync(fd, hash.endsWith("0") ? "1" : "0", at);
        closeSync(fd);

        const failed = () => feed.filter((a) => a.code === VERIFY_FAILED_CODE);
        expect(await served.view.verifyNow()).toMatchObject({ ok: false });
        await t.lane.audit.flush();
        expect(failed()).toHaveLength(1); // the trail's alarm entry, not also the feed's own
        expect(await served.view.verifyNow()).toMatchObject({ ok: false });
        await t.lane.audit.flush();

        const written = alarmEntries(t.lane, from).filter(
          (e) => (e.data as { code?: string }).code === VERIFY_FAILED_CODE,
        );
        expect(written.map((e) => e.type)).toEqual(["lane.alarm"]);
        expect(failed()).toEqual([
          { code: VERIFY_FAILED_CODE, message: written[0]!.message },
          { code: VERIFY_FAILED_CODE, message: expect.stringMatching(/^audit verify failed: /) },
        ]);
        expect(await alarmsCounted(served)).toEqual({ ...atStart, [VERIFY_FAILED_CODE]: 2 });
      } finally {
        await served.close();
      }
    });
  });
});
