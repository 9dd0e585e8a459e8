/**
 * The lane's own events reach the trail, each once (src/audit/lane-trail.ts): a real lane against the
 * simulated RSU (test/integration/harness.ts) opens, loses its RSU link during a debit and gets it back;
 * the trail has the gate opening, the link going down with the lane closing and why, the link back and
 * the gate open again, each controller alarm once, each record once (bound by the journal), and verifies
 * with the journal. The journal's health, through the same subscriber.
 */
import { filter, firstValueFrom, Subject, timeout } from "rxjs";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../firmware-bridge/log.js";
import type { AuditEventInput } from "../../src/audit/entry.js";
import { LaneEvents } from "../../src/audit/events.js";
import { connectLaneTrail, type GateSource } from "../../src/audit/lane-trail.js";
import { readTrail } from "../../src/audit/search.js";
import { auditDir } from "../../src/audit/segments.js";
import { laneTest } from "../integration/harness.js";
import { verifyLane } from "./helpers.js";

interface E {
  seq: number;
  type: string;
  severity: string;
  data?: Record<string, unknown>;
}

describe("the lane's events in the trail", () => {
  it("gate, RSU link, alarms and records, each once, and the trail verifies with the journal", async () => {
    const alarms: string[] = [];
    await laneTest(
      {
        protocol: "legacy",
        scenario: {
          defaults: { zoneMs: 2500 },
          traffic: {
            vehicles: [
              { id: "a", plate: "湘G00001", class: 1, balance: 20_000, entryStation: "0101" },
              {
                id: "b",
                plate: "湘G00002",
                class: 1,
                balance: 20_000,
                entryStation: "0101",
                faults: [{ kind: "unplug", before: "B5", durationMs: 150 }],
              },
            ],
          },
        },
        transaction: { b5TimeoutMs: 5000 },
        simTiming: { retransmitMs: 500 },
        link: { reconnect: { initialDelayMs: 20, maxDelayMs: 100, jitter: 0 } },
      },
      async (t) => {
        const dataDir = t.lane.journal.path.replace(/\/journal\.db$/, "");
        t.lane.controller.events$.subscribe((e) => {
          if (e.type === "alarm") alarms.push(e.code);
        });
        await t.sim.done;
        await firstValueFrom(
          t.lane.controller.status$.pipe(
            filter((s) => s.status === "open"),
            timeout(15_000),
          ),
        );
        await t.lane.controller.idle();
        expect(t.records().map((r) => `${r.kind}:${r.outcome}`)).toEqual([
          "transaction:EXIT_DEBIT",
          "transaction:EXIT_DEBIT",
        ]);
        const es = [...readTrail(auditDir(dataDir))].map((x) => x.entry as E);
        // the list the harness gave the lane before it opened (LaneRuntime.applyStatusList), in the trail
        expect(
          es
            .filter((e) => e.type.startsWith("status-list."))
            .map((e) => `${e.type} ${String(e.data?.source ?? "")} ${String(e.data?.version ?? "")}`),
        ).toEqual(["status-list.loaded  ", "status-list.applied test 202507160000"]);
        const gate = es
          .filter((e) => e.type === "lane.open" || e.type === "lane.closed" || e.type === "rsu.link")
          .map((e) =>
            e.type === "lane.open"
              ? "open"
              : e.type === "rsu.link"
                ? `link ${String(e.data?.state)}`
                : `closed ${String(e.data?.reason)} (${e.severity})`,
          );
        // closed until the RSU link is up at start (not an incident yet), open; the blip during vehicle b
        expect(gate).toEqual([
          "closed rsu-down (warn)",
          "link up",
          "open",
          "link down",
          "closed rsu-down (alarm)",
          "link up",
          "open",
        ]);
        expect(es.find((e) => e.type === "rsu.link" && e.data?.state === "down")).toMatchObject({
          severity: "alarm",
          data: { state: "down", port: "in-process" },
        });
        // each controller alarm once, and nothing else as lane.alarm
        expect(alarms.length).toBeGreaterThan(0);
        expect(
          es
            .filter((e) => e.type === "lane.alarm")
            .map((e) => e.data?.code)
            .sort(),
        ).toEqual([...alarms].sort());
        // each record once, bound by the journal
        expect(
          es
            .filter((e) => e.type.startsWith("record."))
            .map((e) => (e.data as { rec: { jseq: number } }).rec.jseq),
        ).toEqual([1, 2]);
        // verified beside the running lane, as `audit verify` does
        const r = verifyLane(dataDir);
        expect(r.problems).toEqual([]);
        expect(r.journal).toMatchObject({ bound: 2, checkedRows: 2 });
      },
    );
  });

  it("the journal's health and the gate, each change once", () => {
    const got: AuditEventInput[] = [];
    const events = new LaneEvents({ append: (e) => got.push(e) });
    const status$ = new Subject<
      { status: "starting" } | { status: "open" } | { status: "closed"; reason: string; detail: string }
    >();
    const health$ = new Subject<{
      healthy: boolean;
      error?: { code: string; message: string; sqliteCode?: string };
    }>();
    const sub = connectLaneTrail(
      events,
      {
        controller: { status$, events$: new Subject() } as GateSource,
        journal: { health$, lastSeq: () => 42 },
      },
      silentLogger,
    );
    const fail = { code: "E601_JOURNAL_WRITE", message: "disk full", sqliteCode: "SQLITE_FULL" };
    health$.next({ healthy: true });
    health$.next({ healthy: false, error: fail });
    health$.next({ healthy: false, error: fail }); // a second failed write while unhealthy
    health$.next({ healthy: true });
    status$.next({ status: "starting" });
    status$.next({ status: "closed", reason: "rsu-init", detail: "RSU not initialised" });
    status$.next({ status: "closed", reason: "rsu-init", detail: "RSU not initialised" });
    status$.next({ status: "open" });
    status$.next({ status: "closed", reason: "stopping", detail: "controller stopping" });
    sub.unsubscribe();
    health$.next({ healthy: false, error: fail });
    expect(got.map((e) => `${e.type}:${e.severity}`)).toEqual([
      "journal.error:alarm",
      "journal.recovered:info",
      "lane.closed:warn",
      "lane.open:info",
    ]);
    expect(got[0]!.data).toEqual({
      code: "E601_JOURNAL_WRITE",
      message: "disk full",
      sqliteCode: "SQLITE_FULL",
    });
    expect(got[1]!.data).toEqual({ lastSeq: 42 });
    expect(got[2]!.data).toEqual({ reason: "rsu-init", detail: "RSU not initialised" });
  });
});
