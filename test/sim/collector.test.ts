import { describe, expect, it } from "vitest";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { type CollectorEvent, SimCollector } from "../../sim/booth/collector.js";
import { CardStore } from "../../sim/card/card-store.js";
import { loadCardKeys } from "../../sim/card/crypto/keys.js";
import { ReaderSimulator } from "../../sim/reader/reader-simulator.js";
import { createRsuSimulator, type SimEvent } from "../../sim/rsu/rsu-simulator.js";
import type { ScenarioInput } from "../../sim/scenario/schema.js";
import { next, simulatorsOnFakeTime, until, walkToB4 } from "./fake-time.js";
import { LaneDriver } from "./lane-driver.js";

const running = simulatorsOnFakeTime();

/** The RSU and a booth reader on one card store, and the collector between them (sim/cli/reader-beside.ts). */
async function setup(scenario: ScenarioInput) {
  const store = new CardStore({ keys: loadCardKeys(), seed: 7 });
  const pair = createTransportPair();
  const sim = createRsuSimulator({
    transport: pair.device,
    protocol: "national",
    scenario,
    seed: 7,
    timing: { heartbeatMs: 60_000 },
    cards: store.environment(),
  });
  const lane = new LaneDriver(pair.lane, "national");
  await lane.open();
  await sim.start();
  running.push({ sim, lane });
  const reader = new ReaderSimulator({ transport: createTransportPair().device, store });
  const collector = new SimCollector(sim, reader, { pauseMs: 60_000 });
  const handed: CollectorEvent[] = [];
  collector.events$.subscribe((e) => {
    if (e.type === "handed") handed.push(e);
  });
  return { sim, lane, collector, handed };
}

describe("the simulated collector", () => {
  it("takes the in-hand card of a no-card OBU the lane stopped with C2 after the B4 error", async () => {
    const { sim, lane, collector, handed } = await setup({
      name: "no-card",
      traffic: {
        vehicles: [{ id: "nocard", zoneMs: 60_000, card: { present: false, inHand: true } }],
      },
    });
    // A lane that reads the card state from B4 only: C1 to B2 and B3, B4 ErrorCode 11 (no card), C2 01.
    const { b4, obuId } = await walkToB4(lane);
    expect(b4.frame.errorCode).toBe(0x11);
    const ended = next(sim.events$, (e: SimEvent) => e.type === "ended");
    await lane.send(lane.c2(obuId), b4);
    const e = await until(ended);
    expect(e).toMatchObject({ vehicleId: "nocard", outcome: "failed" });
    const cardId = sim.vehicles().find((v) => v.id === "nocard")?.cardId;
    expect(cardId).toBeDefined();
    expect(handed).toEqual([{ type: "handed", cardId, vehicleId: "nocard" }]);
    collector.stop();
  });

  it("takes no card of a vehicle that ended without the lane's C2", async () => {
    const { sim, lane, collector, handed } = await setup({
      name: "leaves",
      traffic: { vehicles: [{ id: "gone", zoneMs: 60_000, card: { present: false, inHand: true } }] },
    });
    const { b4, obuId } = await walkToB4(lane);
    const ended = next(sim.events$, (e: SimEvent) => e.type === "ended");
    // C1 after the B4 error ends it too, not by a stop
    await lane.send(lane.c1(obuId), b4);
    expect(await until(ended)).toMatchObject({ vehicleId: "gone", outcome: "failed" });
    expect(handed).toEqual([]);
    collector.stop();
  });

  it("takes no card of a vehicle that drove off before the lane's C2 (B4 01, OBU left)", async () => {
    const { sim, lane, collector, handed } = await setup({
      name: "left-early",
      traffic: {
        vehicles: [{ id: "early", zoneMs: 60_000, card: { inHand: true }, faults: ["leave-before-b4"] }],
      },
    });
    const { b4, obuId } = await walkToB4(lane);
    expect(b4.frame.errorCode).toBe(0x01);
    const ended = next(sim.events$, (e: SimEvent) => e.type === "ended");
    await lane.send(lane.c2(obuId), b4);
    expect(await until(ended)).toMatchObject({ vehicleId: "early", outcome: "failed", endedBy: "C2" });
    expect(handed).toEqual([]);
    collector.stop();
  });
});
