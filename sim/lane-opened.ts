/**
 * Waiting for a lane to open after its start, shared by the demo (sim/demo/demo.ts) and the
 * station-outage run (sim/harness/station-outage.ts).
 */
import { filter, firstValueFrom, type Observable, throwError, timeout } from "rxjs";
import type { LaneStatus } from "../src/lane/lane-gate.js";

/** How long a lane may take to open after its start. */
export const LANE_OPEN_WAIT_MS = 10_000;

/**
 * The lane open, or an error saying it did not open within LANE_OPEN_WAIT_MS and what its status was
 * then (closed: the reason and detail), not rxjs's bare "Timeout has occurred".
 */
export function laneOpened(controller: {
  status$: Observable<LaneStatus>;
  readonly status: LaneStatus;
}): Promise<unknown> {
  return firstValueFrom(
    controller.status$.pipe(
      filter((s) => s.status === "open"),
      timeout({
        first: LANE_OPEN_WAIT_MS,
        with: () => {
          const s = controller.status;
          const why = s.status === "closed" ? `closed (${s.reason}): ${s.detail}` : s.status;
          return throwError(
            () => new Error(`the lane did not open within ${LANE_OPEN_WAIT_MS / 1000} s: it is ${why}`),
          );
        },
      }),
    ),
  );
}
