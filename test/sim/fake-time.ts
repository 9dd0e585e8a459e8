/**
 * Fake time for the simulator tests: the simulated RSU's timers (retransmission, air time, zone time,
 * heartbeat) and the lane driver's waits run on vitest's fake clock, so "nothing more was sent" is
 * checked after the simulated time has really passed, on any machine load, in a few milliseconds.
 * Also what most RSU tests start with: the RSU and a lane driver on a cable (startSimAndLane), a
 * vehicle (VEHICLE_A), the walk to the first B4 (walkToB4).
 */
import { filter, firstValueFrom, type Observable } from "rxjs";
import { afterEach, beforeEach, vi } from "vitest";
import { createTransportPair, type TransportPair } from "../../firmware-bridge/transport/pair.js";
import { memoryFrameLog } from "../../sim/framelog/frame-log.js";
import { createRsuSimulator, type RsuSimulator, type SimEvent } from "../../sim/rsu/rsu-simulator.js";
import type { RsuSimulatorOptions } from "../../sim/rsu/types.js";
import { LaneDriver } from "./lane-driver.js";

/** Runs fake time forward, timer by timer, until `p` settles; fails when nothing is left to wait for. */
export async function until<T>(p: Promise<T>, limitMs = 120_000): Promise<T> {
  let settled = false;
  p.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  const start = Date.now();
  await vi.advanceTimersByTimeAsync(0);
  while (!settled) {
    if (vi.getTimerCount() === 0)
      throw new Error("until: no timer left and the awaited thing did not happen");
    if (Date.now() - start > limitMs) throw new Error(`until: not settled within ${limitMs} ms of fake time`);
    await vi.advanceTimersToNextTimerAsync();
  }
  return p;
}

/** The first value of `source` matching `pred`; subscribe before the thing can happen. */
export function next<T>(source: Observable<T>, pred: (v: T) => boolean): Promise<T> {
  return firstValueFrom(source.pipe(filter(pred)));
}

/**
 * Each test of the file on fake time, and the simulators and lane drivers it started (pushed onto the
 * array returned) closed and stopped after it.
 */
export function simulatorsOnFakeTime(): { sim: RsuSimulator; lane: LaneDriver }[] {
  const running: { sim: RsuSimulator; lane: LaneDriver }[] = [];
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(async () => {
    for (const r of running.splice(0)) {
      r.lane.close();
      await r.sim.stop();
    }
    vi.useRealTimers();
  });
  return running;
}

/** A scenario vehicle: in the zone from the start for 8 s, a class 1 car entered at 0101, 50.00 on its card. */
export const VEHICLE_A = {
  id: "a",
  plate: "湘A12345",
  class: 1,
  balance: 5000,
  entryStation: "0101",
  zoneMs: 8000,
  at: 0,
};

/**
 * The simulated RSU under test on one end of an in-process cable (`cable: pair`, so its unplug fault
 * pulls the pair) with an in-memory frame log, and a LaneDriver on the other end; both open, the RSU
 * started, pushed onto `running` (from simulatorsOnFakeTime) to be stopped after the test. `events` is
 * every event the RSU emits from then on. `options` go to createRsuSimulator after the transport, the
 * frame log and the cable.
 */
export async function startSimAndLane(
  running: { sim: RsuSimulator; lane: LaneDriver }[],
  options: Omit<RsuSimulatorOptions, "transport">,
) {
  const pair: TransportPair = createTransportPair();
  const frameLog = memoryFrameLog();
  const sim = createRsuSimulator({ transport: pair.device, frameLog, cable: pair, ...options });
  const lane = new LaneDriver(pair.lane, options.protocol);
  await lane.open();
  await sim.start();
  const events: SimEvent[] = [];
  sim.events$.subscribe((e) => events.push(e));
  running.push({ sim, lane });
  return { pair, sim, lane, frameLog, events };
}

/** Lane init, then B2 -> C1 -> B3 -> C1 up to the first OBU's B4: the walk most RSU tests start with. */
export async function walkToB4(lane: LaneDriver) {
  await until(lane.init());
  const b2 = await until(lane.expectFrame("B2"));
  const obuId = b2.frame.obuId as string;
  await lane.send(lane.c1(obuId), b2);
  const b3 = await until(lane.expectFrame("B3"));
  await lane.send(lane.c1(obuId), b3);
  const b4 = await until(lane.expectFrame("B4"));
  return { b2, b3, b4, obuId };
}
