/**
 * The request checks of `POST /api/v1/transactions` (docs/station-api.md): a body that is not an object
 * with a well-formed lane and a records array is a malformed request (400), never records held under an
 * unknown lane; each record is then checked on its own, and a bad one is rejected with its code while the
 * others are stored.
 */
import { HttpError } from "./http.js";
import type { UploadItem } from "./received.js";

const TRADE_ID_RE = /^[0-9A-F]{8}\d{22}$/;
/** The record kinds a lane uploads (docs/station-api.md). */
const RECORD_KINDS: readonly string[] = ["transaction", "stop", "suspect"];
const HEX4 = /^[0-9A-Fa-f]{4}$/;

export interface UploadRejection {
  tradeId: string | null;
  code: "BAD_TRADE_ID" | "BAD_RECORD";
  message: string;
}

/** A JSON object: not null, not an array. */
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The lane id (docs/station-api.md, x-lane-id's form) of an upload's `lane`, or null when it is malformed. */
function laneIdOf(l: unknown): string | null {
  if (!isObject(l)) return null;
  const { network, station, lane } = l;
  if (typeof network !== "string" || !HEX4.test(network)) return null;
  if (typeof station !== "string" || !HEX4.test(station)) return null;
  if (!Number.isInteger(lane) || (lane as number) < 0 || (lane as number) > 99) return null;
  return `${network.toUpperCase()}${station.toUpperCase()}${String(lane).padStart(2, "0")}`;
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
  const laneId = laneIdOf(parsed.lane);
  if (laneId === null)
    throw new HttpError(400, "lane must be { network: 4 hex, station: 4 hex, lane: 0..99 }");
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
