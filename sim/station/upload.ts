/**
 * The request checks of `POST /api/v1/transactions` (docs/station-api.md): a body that is not an object
 * with a well-formed lane and a records array is a malformed request (400), never records held under an
 * unknown lane; each record is then checked on its own, and a bad one is rejected with its code while the
 * others are stored. The body's `lane` is checked by ./lane-id.ts bodyLaneId.
 */
import { HttpError, isObject } from "./http.js";
import { bodyLaneId } from "./lane-id.js";
import type { UploadItem } from "./received.js";

const TRADE_ID_RE = /^[0-9A-F]{8}\d{22}$/;
/** The record kinds a lane uploads (docs/station-api.md). */
const RECORD_KINDS: readonly string[] = ["transaction", "stop", "suspect"];

export interface UploadRejection {
  tradeId: string | null;
  code: "BAD_TRADE_ID" | "BAD_RECORD";
  message: string;
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
