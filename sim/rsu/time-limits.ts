/**
 * Scenario times the time scale stretches (`timing.timeScale`, `etc-sim rsu --time-scale`): the RSU
 * events' `at` (./traffic.ts `start`) and the wait from one scenario vehicle's arrival to the next
 * (./traffic.ts `scheduleNextArrival`) are divided by the scale. The schema bounds each time at the
 * longest timer (../scenario/schema.ts MAX_TIMER_MS); a scale below 1 can stretch one beyond it. The
 * simulator's timers would chain such a wait (./context.ts `after`), but a run that stretched is refused
 * as a field beyond the bound is, naming the field and the scale.
 */
import { MAX_TIMER_MS, type Scenario } from "../scenario/schema.js";
import { explicitArrivals } from "../vehicles/vehicles.js";

/**
 * The first scenario time that `timeScale` stretches beyond the longest timer: its field and why, the
 * scale named as `scaleName` (the CLI's `--time-scale`, the API's `timing.timeScale`); else undefined.
 */
export function scaledTimeIssue(
  s: Scenario,
  timeScale: number,
  scaleName: string,
): { path: string; message: string } | undefined {
  /** `what` (its text before the number) of `unscaled` ms, when the scale stretches it too far */
  const beyond = (what: string, unscaled: number): string | undefined => {
    const scaled = unscaled / timeScale;
    if (scaled <= MAX_TIMER_MS) return undefined;
    return `${what}${unscaled} ms at ${scaleName} ${timeScale} is ${Math.round(scaled)} ms of real time, beyond the longest timer (${MAX_TIMER_MS} ms, about 24.8 days): give a larger ${scaleName} or a shorter time`;
  };
  for (const [i, ev] of (s.faults?.events ?? []).entries()) {
    const message = beyond("", ev.at);
    if (message) return { path: `faults.events[${i}].at`, message };
  }
  // The scenario vehicles arrive in order of `at`; each arrival's timer runs from the one before.
  const vehicles = s.traffic?.vehicles ?? [];
  const order = explicitArrivals(s)
    .map((at, i) => ({ at, i }))
    .sort((a, b) => a.at - b.at || a.i - b.i);
  let prev = 0;
  for (const { at, i } of order) {
    const own = vehicles[i]?.at !== undefined;
    const message = beyond(
      `vehicle ${i}'s wait after the arrival before it (or the antenna's first opening), `,
      at - prev,
    );
    if (message) return { path: own ? `traffic.vehicles[${i}].at` : "traffic.gapMs", message };
    prev = at;
  }
  return undefined;
}
