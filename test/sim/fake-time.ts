/**
 * Fake time for the simulator tests: the simulated RSU's timers (retransmission, air time, zone time,
 * heartbeat) and the lane driver's waits run on vitest's fake clock, so "nothing more was sent" is
 * checked after the simulated time has really passed, on any machine load, in a few milliseconds.
 */
import { filter, firstValueFrom, type Observable } from "rxjs";
import { afterEach, beforeEach, vi } from "vitest";
import type { RsuSimulator } from "../../sim/rsu/rsu-simulator.js";
import type { LaneDriver } from "./lane-driver.js";

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
