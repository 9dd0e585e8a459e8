import { describe, expect, it, vi } from "vitest";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { type CollectorEvent, type CollectorOptions, SimCollector } from "../../sim/booth/collector.js";
import { CardStore } from "../../sim/card/card-store.js";
import { loadCardKeys } from "../../sim/card/crypto/keys.js";
import { ReaderSimulator } from "../../sim/reader/reader-simulator.js";
import { createRsuSimulator, type SimEvent } from "../../sim/rsu/rsu-simulator.js";
import type { ScenarioInput } from "../../sim/scenario/schema.js";
import { next, simulatorsOnFakeTime, until, walkToB4 } from "./fake-time.js";
import { LaneDriver } from "./lane-driver.js";

const running = simulatorsOnFakeTime();

/** The RSU and a booth reader on one card store, and the collector between them (sim/cli/reader-beside.ts). */
async function setup(scenario: ScenarioInput, o: Omit<CollectorOptions, "pauseMs"> = {}) {
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
  const collector = new SimCollector(sim, reader, { pauseMs: 60_000, ...o });
  const handed: CollectorEvent[] = [];
  const events: CollectorEvent[] = [];
  collector.events$.subscribe((e) => {
    events.push(e);
    if (e.type === "handed") handed.push(e);
  });
  return { sim, lane, collector, handed, events, reader };
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

  it("takes the card of a vehicle whose OBU left the zone before the lane's C2 (stopped at the barrier)", async () => {
    const { sim, lane, collector, handed } = await setup({
      name: "late-c2",
      traffic: { vehicles: [{ id: "slow-lane", zoneMs: 50, card: { present: false, inHand: true } }] },
    });
    await until(lane.init());
    const b2 = await until(lane.expectFrame("B2"));
    const obuId = b2.frame.obuId as string;
    // the lane decides after the zone time (50 ms) and before the B2's repeat (120 ms)
    await vi.advanceTimersByTimeAsync(60);
    expect(sim.vehicles().find((v) => v.id === "slow-lane")?.phase).toBe("left");
    const ended = next(sim.events$, (e: SimEvent) => e.type === "ended");
    await lane.send(lane.c2(obuId), b2);
    expect(await until(ended)).toMatchObject({ vehicleId: "slow-lane", outcome: "stopped", endedBy: "C2" });
    const cardId = sim.vehicles().find((v) => v.id === "slow-lane")?.cardId;
    expect(cardId).toBeDefined();
    expect(handed).toEqual([{ type: "handed", cardId, vehicleId: "slow-lane" }]);
    collector.stop();
  });

  it("takes the card of a vehicle the lane stopped after its OBU left (B4 01): its driver comes to the booth", async () => {
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
    const cardId = sim.vehicles().find((v) => v.id === "early")?.cardId;
    expect(cardId).toBeDefined();
    expect(handed).toEqual([{ type: "handed", cardId, vehicleId: "early" }]);
    collector.stop();
  });

  it("takes no card of a vehicle whose driver drives off (drivesOff), though the lane stopped it with C2", async () => {
    const { sim, lane, collector, handed } = await setup({
      name: "drives-off",
      traffic: {
        vehicles: [{ id: "off", zoneMs: 60_000, drivesOff: true, card: { present: false, inHand: true } }],
      },
    });
    const { b4, obuId } = await walkToB4(lane);
    expect(b4.frame.errorCode).toBe(0x11);
    const ended = next(sim.events$, (e: SimEvent) => e.type === "ended");
    await lane.send(lane.c2(obuId), b4);
    expect(await until(ended)).toMatchObject({ vehicleId: "off", outcome: "failed", endedBy: "C2" });
    expect(sim.vehicles().find((v) => v.id === "off")).toMatchObject({ drivesOff: true, phase: "in-zone" });
    expect(handed).toEqual([]);
    collector.stop();
  });

  // newuser finding 1: the demo's collector brings each card to its own vehicle's case (sim/demo/booth-side.ts)
  it.each([
    [true, ["handed", "present"], ["inserted (cases taken: 1)"]],
    [false, ["handed", "no-case"], []],
  ])(
    "takes the case `takes` named before it puts the card on the reader (case open: %s)",
    async (open, types, cards) => {
      const taken: string[] = [];
      const { sim, lane, collector, events, reader } = await setup(
        {
          name: "case",
          traffic: { vehicles: [{ id: "v", zoneMs: 60_000, card: { present: false, inHand: true } }] },
        },
        {
          takes: () => ({ caseId: "s7" }),
          takeCase: (id) => {
            taken.push(id);
            return open;
          },
        },
      );
      const onReader: string[] = [];
      reader.events$.subscribe((e) => {
        if (e.type === "card") onReader.push(`${e.kind} (cases taken: ${taken.length})`);
      });
      const { b4, obuId } = await walkToB4(lane);
      const ended = next(sim.events$, (e: SimEvent) => e.type === "ended");
      await lane.send(lane.c2(obuId), b4);
      await until(ended);
      await vi.advanceTimersByTimeAsync(60_000);
      expect(taken).toEqual(["s7"]);
      expect(events.map((e) => e.type)).toEqual(types);
      // the card went on the reader only after its case was taken; a case it could not take: the card went back
      expect(onReader).toEqual(cards);
      expect(collector.waiting).toBe(open ? 1 : 0);
      collector.stop();
    },
  );
});
