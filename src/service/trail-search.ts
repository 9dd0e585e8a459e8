/**
 * The page's trail search over the running lane's audit trail (LaneView.searchTrail, ./runtime-view.ts):
 * the page's query (./lane-view.ts TrailQuery) turned into the trail's filters and searched newest first
 * (src/audit/search.ts searchNewest), its rows turned into the page's.
 */
import { searchNewest } from "../audit/search.js";
import { SEARCH_SCAN_BUDGET, type TrailQuery, type TrailSearchResult } from "./lane-view.js";

/**
 * A page's search of the trail in `dir`: every filter, the page's "alarm" kind (every entry of alarm
 * severity, whatever wrote it) included, is applied inside the search, which keeps at most `q.limit`
 * rows and stops reading once it has one more, after `maxScan` entries (SEARCH_SCAN_BUDGET: the answer
 * is then partial), or when `signal` is aborted (it rejects).
 */
export async function searchTrailDir(
  dir: string,
  q: TrailQuery,
  o: { signal?: AbortSignal; maxScan?: number } = {},
): Promise<TrailSearchResult> {
  const kind = q.kind;
  const r = await searchNewest(
    dir,
    {
      ...(q.since !== undefined ? { since: q.since } : {}),
      ...(q.until !== undefined ? { until: q.until } : {}),
      ...(q.card !== undefined ? { card: q.card } : {}),
      ...(q.obu !== undefined ? { obu: q.obu } : {}),
      ...(q.plate !== undefined ? { plate: q.plate } : {}),
      ...(q.reason !== undefined ? { reason: q.reason } : {}),
      ...(kind === "alarm" ? { severity: "alarm" } : kind !== undefined ? { kinds: [kind] } : {}),
    },
    q.limit,
    { maxScan: o.maxScan ?? SEARCH_SCAN_BUDGET, ...(o.signal ? { signal: o.signal } : {}) },
  );
  return {
    rows: r.rows.map(({ entry, row }) => ({
      seq: entry.seq,
      at: Date.parse(entry.utc),
      type: row.kind,
      severity: entry.severity,
      message: entry.message,
      outcome: row.reason,
      cardId: row.card,
      obuId: row.obu,
      plate: row.plate,
      amount: row.amount,
      tradeId: row.tradeId,
    })),
    truncated: r.truncated,
    scanned: r.scanned,
    partial: r.partial,
  };
}
