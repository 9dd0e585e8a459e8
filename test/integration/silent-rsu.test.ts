/**
 * An RSU silent on a port that stays open (a serial port, a pty or the in-process pair after the link's
 * watchdog trip, docs/link.md "States"): the lane keeps sending C0, so an RSU that waits for one (its
 * reboot B0 lost on the dead line, or powered on after the lane) is initialised and the lane reopens by
 * itself. Before, the session waited for a valid frame that such an RSU never sends: the lane stayed
 * closed until its software was restarted.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { filter, firstValueFrom, timeout } from "rxjs";
import { describe, expect, it } from "vitest";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { createRsuSimulator } from "../../sim/rsu/rsu-simulator.js";
import type { ScenarioInput } from "../../sim/scenario/schema.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { parseLaneConfig } from "../../src/config/load.js";
import { openLane } from "../../src/lane/runtime.js";
import type { LaneOutputEvent } from "../../src/outputs/outputs.js";
import { expectJournalMatchesLedger, laneTest, loadStatusList, ROOT } from "./harness.js";

const PROTOCOLS = ["legacy", "national"] as const;
/**
 * The watchdog trips after 3 s of silence: 15 of the simulator's 200 ms heartbeats, so a loaded machine
 * that runs a timer late trips it only while the RSU is really silent (a trip more is a lane status more:
 * firmware-bridge/link/link-supervisor.ts `onWatchdog`).
 */
const LINK = { heartbeatPeriodMs: 1000, missedHeartbeats: 3 };
const VEHICLE = { id: "g1", plate: "湘G00001", class: 1, balance: 20_000, entryStation: "0101" };

const laneStatuses = (outputs: LaneOutputEvent[]): string[] =>
  outputs.flatMap((o) => (o.type === "lane" ? [o.status] : []));

describe.each(PROTOCOLS)("an RSU silent on an open port (%s)", (protocol) => {
  it("over a pty: the RSU reboots while the line is dead (its B0 lost); the lane's C0 initialises it, the lane reopens and trades", async () => {
    const scenario: ScenarioInput = {
      faults: {
        events: [
          // the lane's end of the pty stays open and hears nothing; what it sends meanwhile is lost. 5 s:
          // the watchdog trips (3 s) and the lane sends C0 for 2 s before the line is back
          { kind: "unplug", at: 300, durationMs: 5000 },
          { kind: "reboot", at: 500, bootMs: 100 },
        ],
      },
      // after the line is back (5.3 s); in its 3 s zone while the lane re-initialises the RSU
      traffic: { vehicles: [{ ...VEHICLE, at: 5500 }] },
    };
    await laneTest(
      { protocol, medium: "pty", link: LINK, simTiming: { heartbeatMs: 200, bootMs: 100 }, scenario },
      async (t) => {
        // when it is traded, not when its zone ends
        await t.settleTraded(1);
        expect(t.records().map((r) => `${r.kind}:${r.outcome}`)).toEqual(["transaction:EXIT_DEBIT"]);
        t.expectJournalMatchesLedger();
        expect(laneStatuses(t.outputs)).toEqual(["open", "closed", "open"]);
        const c = t.lane.link.counters;
        expect(c.watchdogTrips).toBeGreaterThanOrEqual(1);
        expect([c.reconnects, c.disconnects]).toEqual([0, 0]); // the port stayed open throughout
      },
    );
  });

  it("in-process: the RSU is powered on after the lane's watchdog tripped; the next C0 initialises it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lane-silent-"));
    const pair = createTransportPair();
    const config = parseLaneConfig(
      {
        lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
        rsu: { port: "in-process", protocol, timing: { initTimeoutMs: 300, initRetryMs: 200 } },
        statusList: { publicKey: TEST_PUBLIC_KEY_PATH },
        dataDir: join(dir, "data"),
        tariff: join(ROOT, "config/tariff.example.yaml"),
        outputs: { sink: "log" },
      },
      "test",
    );
    const outputs: LaneOutputEvent[] = [];
    const lane = await openLane(config, {
      transport: pair.lane,
      outputs: { emit: (e) => outputs.push(e) },
      uplink: false,
      link: LINK,
    });
    await loadStatusList(lane, []);
    // no `cable`: the lane's end of the pair is open whether or not the RSU is powered
    const sim = createRsuSimulator({
      transport: pair.device,
      protocol,
      seed: 7,
      timing: { heartbeatMs: 200 },
      scenario: { traffic: { vehicles: [{ ...VEHICLE, at: 200 }] } },
    });
    try {
      await lane.controller.start();
      // the port opened, the C0 got no answer, the watchdog tripped (3 s): down, the port still open
      const down = await firstValueFrom(
        lane.link.state$.pipe(
          filter((s) => s.status === "down"),
          timeout(10_000),
        ),
      );
      expect(down.portOpen).toBe(true);
      expect(lane.controller.status).toMatchObject({ status: "closed", reason: "rsu-down" });
      await sim.start(); // powered on now; it says nothing until it gets a C0
      await firstValueFrom(
        lane.controller.status$.pipe(
          filter((s) => s.status === "open"),
          timeout(5000),
        ),
      );
      await sim.done;
      await lane.controller.idle();
      const records = lane.journal.list({});
      expect(records.map((r) => `${r.kind}:${r.outcome}`)).toEqual(["transaction:EXIT_DEBIT"]);
      expectJournalMatchesLedger(records, sim.ledger());
      expect(laneStatuses(outputs)).toEqual(["open"]);
    } finally {
      await lane.close();
      await sim.stop();
      rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    }
  });
});
