/**
 * `sim.done` (sim/rsu/traffic.ts `done`, sim/rsu/types.ts, docs/simulator.md "Programmatic use"): resolves when
 * every vehicle known by then, the scenario's and every added one, has left and finished. Review (session
 * 41): it was one promise, resolved at once for a scenario without vehicles, or already resolved when the
 * scenario's vehicles had finished, so a vehicle added then was still in the zone when it resolved. On fake
 * time (./fake-time.ts): `until` runs the simulator's timers until the promise settles.
 */
import { describe, expect, it } from "vitest";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { createRsuSimulator } from "../../sim/rsu/rsu-simulator.js";
import { simulatorsOnFakeTime, until } from "./fake-time.js";
import { autoExitLane, LaneDriver } from "./lane-driver.js";

const running = simulatorsOnFakeTime();

async function setup(scenario: Record<string, unknown>) {
  const pair = createTransportPair();
  const sim = createRsuSimulator({
    transport: pair.device,
    protocol: "legacy",
    scenario: { startTime: "2025-01-02T10:00:00+08:00", ...scenario },
    seed: 7,
    timing: { heartbeatMs: 60_000 },
    cable: pair,
  });
  const lane = new LaneDriver(pair.lane, "legacy");
  await lane.open();
  await sim.start();
  running.push({ sim, lane });
  return { sim, lane };
}

const status = (sim: { vehicles(): { id: string; phase: string; complete: boolean }[] }, id: string) =>
  sim.vehicles().find((v) => v.id === id);

describe("sim.done with added vehicles", () => {
  it("a scenario without vehicles: done waits for the vehicle added, until it has left and finished", async () => {
    const { sim } = await setup({ name: "empty" });
    const added = sim.addVehicle({ zoneMs: 5000 });
    await until(sim.done);
    expect(status(sim, added.id)).toMatchObject({ phase: "left", complete: true });
  });

  it("the scenario's vehicles finished, then one added: done read after the add waits for it", async () => {
    const { sim, lane } = await setup({
      name: "one",
      traffic: { vehicles: [{ id: "car", balance: 5000, entryStation: "0101", zoneMs: 3000 }] },
    });
    autoExitLane(lane, 800);
    await until(lane.init());
    await until(sim.done);
    expect(status(sim, "car")).toMatchObject({ complete: true });
    const added = sim.addVehicle({ zoneMs: 5000 });
    await until(sim.done);
    expect(status(sim, added.id)).toMatchObject({ phase: "left", complete: true });
  });
});
