/**
 * The lane id checks every API request goes through (docs/station-api.md, "Common rules"): its
 * `x-lane-id` header, a path's {laneId}, a body's `lane` (an upload's, ./upload.ts, or a heartbeat's,
 * ./api-routes.ts), and that they name the same lane. Each throws HttpError 400 naming what is wrong.
 */
import { laneKey } from "../../src/journal/trade-id.js";
import { HttpError, isObject } from "./http.js";

/** A lane id as `x-lane-id` and the paths carry it: network and station hex in upper case, the lane 2 digits. */
const LANE_ID_RE = /^[0-9A-F]{8}\d{2}$/;
const HEX4_UPPER = /^[0-9A-F]{4}$/;
const LANE_ID_FORM = "8 hex digits in upper case and 2 digits, e.g. 4301010203";

/**
 * The lane id of a body's `lane` (an upload's or a heartbeat's): `{ network, station, lane }`, network and
 * station 4 hex digits in upper case (docs/station-api.md, "Common rules"); throws HttpError 400 naming the
 * field otherwise.
 */
export function bodyLaneId(l: unknown): string {
  if (!isObject(l)) throw new HttpError(400, "lane must be { network: 4 hex, station: 4 hex, lane: 0..99 }");
  const { network, station, lane } = l;
  for (const [field, v] of [
    ["network", network],
    ["station", station],
  ] as const)
    if (typeof v !== "string" || !HEX4_UPPER.test(v))
      throw new HttpError(400, `lane.${field} must be 4 hex digits in upper case, got ${JSON.stringify(v)}`);
  if (!Number.isInteger(lane) || (lane as number) < 0 || (lane as number) > 99)
    throw new HttpError(400, `lane.lane must be an integer from 0 to 99, got ${JSON.stringify(lane)}`);
  return laneKey({ network: network as string, station: station as string, lane: lane as number });
}

/**
 * The request's `x-lane-id`, checked to be present and of the lane id's form (sameLane compares it with
 * the path's or the body's); throws HttpError 400 naming the header otherwise.
 */
export function laneHeader(headers: Record<string, string | string[] | undefined>): string {
  const v = headers["x-lane-id"];
  if (v === undefined)
    throw new HttpError(400, `x-lane-id header missing: expected the lane id, ${LANE_ID_FORM}`);
  if (typeof v !== "string" || !LANE_ID_RE.test(v))
    throw new HttpError(
      400,
      `x-lane-id header must be the lane id, ${LANE_ID_FORM}; got ${JSON.stringify(v)}`,
    );
  return v;
}

/** Throws HttpError 400 when `header` (x-lane-id) is not the lane id `other` (`what`: where that one is). */
export function sameLane(header: string, other: string, what: string): void {
  if (header !== other) throw new HttpError(400, `x-lane-id header ${header} differs from ${what} ${other}`);
}

/** A path's {laneId}, checked to be of the lane id's form; throws HttpError 400 naming it otherwise. */
export function pathLaneId(raw: string): string {
  if (!LANE_ID_RE.test(raw))
    throw new HttpError(400, `path lane id ${JSON.stringify(raw)}: expected ${LANE_ID_FORM}`);
  return raw;
}
