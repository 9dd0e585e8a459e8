/**
 * Found by the reliability run: a restarted lane's C0 arriving while the simulated RSU had a transaction
 * open left the RSU with a transaction whose DSRC timer had been cancelled, so it never searched again
 * (about half of all restarts served no vehicle until the next kill). Fixed in sim/rsu/rsu-simulator.ts
 * (onC0); this pins it: after the re-initialisation the RSU serves the vehicles still in the zone.
 */
import { afterEach, expect, it } from "vitest";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { createRsuSimulator, type RsuSimulator } from "../../sim/rsu/rsu-simulator.js";
import { LaneDriver } from "../sim/lane-driver.js";

const running: { sim: RsuSimulator; lane: LaneDriver }[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    r.lane.close();
    await r.sim.stop();
  }
});

it.each(["legacy", "national"] as const)(
  "%s: C0 in the middle of a transaction, then the RSU searches again",
  async (protocol) => {
    const pair = createTransportPair();
    const sim = createRsuSimulator({
      transport: pair.device,
      protocol,
      seed: 3,
      timing: { heartbeatMs: 60_000 },
      scenario: {
        startTime: "2025-01-02T10:00:00+08:00",
        defaults: { class: 1, balance: 5000, entryStation: "0101", zoneMs: 10_000 },
        traffic: {
          vehicles: [
            { id: "a", at: 0 },
            { id: "b", at: 0 },
          ],
        },
      },
    });
    const lane = new LaneDriver(pair.lane, protocol);
    running.push({ sim, lane });
    await lane.open();
    await sim.start();
    await lane.init();
    const first = await lane.expectFrame("B2");
    await lane.send(lane.c1(first.frame.obuId as string), first);
    await lane.expectFrame("B3");
    // the lane "restarts": no answer to B3, a fresh C0 instead
    await lane.init();
    const next = await lane.expectFrame("B2", 3000);
    expect(next.frame.errorCode).toBe(0);
  },
);
