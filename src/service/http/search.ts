/**
 * The maintenance page's trail search (GET /search?..., ./routes/page.ts): the form's fields read into a
 * TrailQuery, and the search run on the lane (../lane-view.ts searchTrail), one at a time: a search asked
 * for while MAX_SEARCHES run is answered 503 at once, and a search whose asker has gone (the connection
 * closed before the answer) stops reading.
 */
import type { ServerResponse } from "node:http";
import { parseTimeArg } from "../../audit/time.js";
import { quotedRefused } from "../format.js";
import type { LaneView, TrailQuery } from "../lane-view.js";
import { EMPTY_FORM, renderSearchResults, type SearchForm } from "../page/render.js";
import { trailFilterProblem } from "../trail-filters.js";

/** The most rows a search shows; the CLI exports everything. */
export const SEARCH_LIMIT = 200;
/**
 * Trail searches running at once; a search asked for while this many run is answered 503 at once
 * (each search reads the trail on the lane's thread in slices: several would add up).
 */
export const MAX_SEARCHES = 1;
export const SEARCH_BUSY =
  "another trail search is running on this lane; try again when it has finished (one search at a time)";

/**
 * A search time: empty, or what `etc-lane audit search --since/--until` takes (src/audit/time.ts
 * `parseTimeArg`): a page's datetime-local value ("2026-11-26T08:00[:00]") or any local date-time read in
 * the lane's UTC offset, an ISO time with its offset ("...Z", "...+08:00"), "today", "-2h". A time that
 * names no real moment ("2026-11-31T08:00", "29:70") is refused, never rolled over into another day; the
 * refusal quotes the value as the page's other refusals do (../trail-filters.ts): ../format.ts
 * quotedRefused, a run that could be a card number masked.
 */
export function parseSearchTime(
  v: string,
  utcOffsetMinutes: number,
  field: string,
  nowMs: number,
): number | undefined {
  if (v === "") return undefined;
  const t = parseTimeArg(v, utcOffsetMinutes, nowMs);
  if (t !== null) return t;
  throw new RangeError(
    `${field}: expected a date and time such as 2026-11-26T08:00, got ${quotedRefused(v, false)}`,
  );
}

/**
 * A search time as the page's datetime-local field shows it ("2026-11-26T06:00:00", with ".250" when it has
 * milliseconds), in the lane's UTC offset; null for a time outside the years such a field takes.
 */
export function formTime(ms: number, utcOffsetMinutes: number): string | null {
  const d = new Date(ms + utcOffsetMinutes * 60_000);
  if (Number.isNaN(d.getTime())) return null;
  const iso = d.toISOString(); // "YYYY-MM-DDTHH:MM:SS.sssZ", or "+YYYYYY-..." outside years 0-9999
  if (!/^\d{4}-/.test(iso) || iso.startsWith("0000")) return null;
  return ms % 1000 === 0 ? iso.slice(0, 19) : iso.slice(0, 23);
}

/**
 * The form's fields and the query they ask for; relative times ("-2h", "now", "today") count from `nowMs`
 * to the second (so the form can show them as they were searched). The form shows what was searched:
 * each time that parsed in datetime-local form (the page's fields show nothing of "-2h", "today" or a time
 * with its own offset), the rest as typed. A time that names no moment, or a card, OBU or kind that
 * `etc-lane audit search` refuses, is `error`, naming the field, with the form as it was sent (the field
 * to correct in it, the others kept).
 */
export function searchFromParams(
  p: URLSearchParams,
  utcOffsetMinutes: number,
  nowMs: number,
): { form: SearchForm; query: TrailQuery } | { form: SearchForm; error: string } {
  const form: SearchForm = { ...EMPTY_FORM };
  for (const k of Object.keys(form) as (keyof SearchForm)[]) form[k] = (p.get(k) ?? "").trim().slice(0, 100);
  const query: TrailQuery = { limit: SEARCH_LIMIT };
  const now = Math.floor(nowMs / 1000) * 1000;
  try {
    const since = parseSearchTime(form.since, utcOffsetMinutes, "since", now);
    if (since !== undefined) {
      query.since = since;
      form.since = formTime(since, utcOffsetMinutes) ?? form.since;
    }
    const until = parseSearchTime(form.until, utcOffsetMinutes, "until", now);
    if (until !== undefined) {
      query.until = until;
      form.until = formTime(until, utcOffsetMinutes) ?? form.until;
    }
  } catch (e) {
    return { form, error: (e as Error).message };
  }
  // the checks `etc-lane audit search` runs (../trail-filters.ts): a card, OBU or kind no entry can have,
  // a masked card number copied from the page above all, is refused naming the field, not "0 rows"
  const problem = trailFilterProblem(
    {
      ...(form.card ? { card: form.card } : {}),
      ...(form.obu ? { obu: form.obu } : {}),
      ...(form.kind ? { kind: [form.kind] } : {}),
      // the page's "alarm": every entry of severity alarm (../trail-search.ts searchTrailDir)
    },
    ["alarm"],
  );
  if (problem) return { form, error: `${problem.field}: ${problem.message}` };
  if (form.card) query.card = form.card;
  if (form.obu) query.obu = form.obu;
  if (form.plate) query.plate = form.plate;
  if (form.reason) query.reason = form.reason;
  if (form.kind) query.kind = form.kind;
  return { form, query };
}

/** What the page shows for a search: the form as asked, the results' HTML, the answer's status and headers. */
export interface SearchAnswer {
  form: SearchForm;
  results: string;
  status: number;
  extra: Record<string, string>;
}

/** The page's searches of one service: at most MAX_SEARCHES at once. */
export class TrailSearches {
  private running = 0;

  constructor(
    private readonly view: LaneView,
    /** the service's wall clock (./server.ts ServiceHttpDeps.now): relative search times count from it */
    private readonly now: () => number,
  ) {}

  /**
   * The search `params` ask for, answered for the page: a form that does not parse (shown again as sent)
   * and a search that fails are shown as the results' error, one asked for while MAX_SEARCHES run as SEARCH_BUSY (503,
   * Retry-After: 5). null: `res`'s client closed the connection before the answer; nothing is to be sent.
   */
  async answer(
    res: ServerResponse,
    params: URLSearchParams,
    utcOffsetMinutes: number,
  ): Promise<SearchAnswer | null> {
    const parsed = searchFromParams(params, utcOffsetMinutes, this.now());
    if ("error" in parsed) {
      // the form as sent, so that one refused field does not clear the others (the card masked as ever)
      const results = renderSearchResults({ limit: SEARCH_LIMIT }, { error: parsed.error }, 0);
      return { form: parsed.form, results, status: 200, extra: {} };
    }
    if (this.running >= MAX_SEARCHES) {
      const results = renderSearchResults(parsed.query, { error: SEARCH_BUSY }, 0);
      return { form: parsed.form, results, status: 503, extra: { "retry-after": "5" } };
    }
    // the asker gone (the connection closed before the answer): the search stops reading
    const gone = new AbortController();
    const onClose = (): void => {
      if (!res.writableEnded) gone.abort(new Error("the client closed the request"));
    };
    res.once("close", onClose);
    this.running++;
    let results: string;
    try {
      const r = await this.view.searchTrail(parsed.query, { signal: gone.signal });
      results = renderSearchResults(parsed.query, r, utcOffsetMinutes);
    } catch (e) {
      if (gone.signal.aborted) return null;
      results = renderSearchResults(parsed.query, { error: `search failed: ${(e as Error).message}` }, 0);
    } finally {
      this.running--;
      res.off("close", onClose);
    }
    if (gone.signal.aborted) return null;
    return { form: parsed.form, results, status: 200, extra: {} };
  }
}
