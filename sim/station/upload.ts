/**
 * The request checks of `POST /api/v1/transactions` (docs/station-api.md): a body that is not an object
 * with a well-formed lane and a records array is a malformed request (400), never records held under an
 * unknown lane; each record is then checked on its own, and a bad one is rejected with its code while the
 * others are stored. Also the lane id checks every API request goes through (`x-lane-id`, a path's
 * {laneId}, a body's `lane`: docs/station-api.md, "Common rules").
 */
import { HttpError } from "./http.js";
import type { UploadItem } from "./received.js";

const TRADE_ID_RE = /^[0-9A-F]{8}\d{22}$/;
/** The record kinds a lane uploads (docs/station-api.md). */
const RECORD_KINDS: readonly string[] = ["transaction", "stop", "suspect"];
/** A lane id as `x-lane-id` and the paths carry it: network and station hex in upper case, the lane 2 digits. */
export const LANE_ID_RE = /^[0-9A-F]{8}\d{2}$/;
const HEX4_UPPER = /^[0-9A-F]{4}$/;
const LANE_ID_FORM = "8 hex digits in upper case and 2 digits, e.g. 4301010203";

export interface UploadRejection {
  tradeId: string | null;
  code: "BAD_TRADE_ID" | "BAD_RECORD";
  message: string;
}

/** A JSON object: not null, not an array. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

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
  return `${network}${station}${String(lane).padStart(2, "0")}`;
}

/**
 * The request's `x-lane-id`, checked: present, of the lane id's form, and equal to `expected` (the path's
 * {laneId}, or the upload body's lane) when given; throws HttpError 400 naming the header otherwise.
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

/** The upload's lane id, the records to store and the ones rejected; throws HttpError 400 on a bad body. */
export function parseUpload(raw: Buffer): {
  laneId: string;
  good: UploadItem[];
  rejected: UploadRejection[];
} {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString("utf8"));
  } catch {
    throw new HttpError(400, "body is not JSON");
  }
  if (!isObject(parsed)) throw new HttpError(400, "body must be a JSON object");
  if (!Array.isArray(parsed.records)) throw new HttpError(400, "records must be an array");
  const laneId = bodyLaneId(parsed.lane);
  const good: UploadItem[] = [];
  const rejected: UploadRejection[] = [];
  for (const item of parsed.records as unknown[]) {
    const r: Record<string, unknown> = isObject(item) ? item : {};
    const tradeId = typeof r.tradeId === "string" ? r.tradeId : null;
    if (!tradeId || !TRADE_ID_RE.test(tradeId)) {
      rejected.push({ tradeId, code: "BAD_TRADE_ID", message: "tradeId must be 8 hex + 22 digits" });
    } else if (tradeId.slice(0, 10) !== laneId) {
      // the trade id starts with its lane's id (docs/journal.md, "Trade id and createdAt")
      rejected.push({
        tradeId,
        code: "BAD_TRADE_ID",
        message: `tradeId is of lane ${tradeId.slice(0, 10)}, not of this upload's lane ${laneId}`,
      });
    } else if (!Number.isSafeInteger(r.seq) || (r.seq as number) < 1 || !isObject(r.record)) {
      // a journal seq counts from 1; past 2^53 - 1 it is no exact number (nor a gap count, ./received.ts)
      rejected.push({
        tradeId,
        code: "BAD_RECORD",
        message: "seq (an integer from 1 to 2^53 - 1) and record (an object) are required",
      });
    } else if (typeof r.kind !== "string" || !RECORD_KINDS.includes(r.kind)) {
      rejected.push({
        tradeId,
        code: "BAD_RECORD",
        message: `kind must be one of ${RECORD_KINDS.join(", ")}`,
      });
    } else if (r.revision !== undefined && !(Number.isInteger(r.revision) && (r.revision as number) >= 1)) {
      rejected.push({ tradeId, code: "BAD_RECORD", message: "revision must be an integer >= 1" });
    } else {
      const revision = (r.revision as number | undefined) ?? 1;
      good.push({ tradeId, seq: r.seq as number, kind: r.kind, revision, record: r.record });
    }
  }
  return { laneId, good, rejected };
}
