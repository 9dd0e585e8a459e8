/**
 * The maintenance page's routes: GET / (the page), GET /search?... (the page with a trail search's
 * results, ../search.ts; a HEAD of it searches nothing) and GET /fragment/state (the page's state panels, which its script swaps in).
 * The HTML is rendered by ../../page/render.ts.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { History } from "../../history.js";
import type { LaneView } from "../../lane-view.js";
import { EMPTY_FORM, renderPage, renderState } from "../../page/render.js";
import { html, send } from "../respond.js";
import type { RouteHandler } from "../router.js";
import type { SearchAnswer, TrailSearches } from "../search.js";

export interface PageRoutes {
  /** GET / */
  page: RouteHandler;
  /** GET /search */
  search: RouteHandler;
  /** GET /fragment/state */
  state: RouteHandler;
}

export function pageRoutes(view: LaneView, history: History, searches: TrailSearches): PageRoutes {
  /** The page, with the results of the search `params` ask for when they are given. */
  const page = async (res: ServerResponse, params: URLSearchParams | null): Promise<void> => {
    let search: SearchAnswer | undefined;
    if (params) {
      const offset = view.snapshot().lane.utcOffsetMinutes;
      const answered = await searches.answer(res, params, offset);
      if (answered === null) return; // the asker has gone: nothing to answer
      search = answered;
    }
    // read after the search, which may take seconds: the state panels show the lane as it is now
    const snapshot = view.snapshot();
    send(
      res,
      search?.status ?? 200,
      "text/html; charset=utf-8",
      renderPage({
        snapshot,
        chart: history.chart(),
        verify: view.lastVerify(),
        form: search?.form ?? EMPTY_FORM,
        results: search?.results ?? null,
      }),
      search?.extra ?? {},
    );
  };
  return {
    page: (_req: IncomingMessage, res: ServerResponse) => page(res, null),
    // a HEAD (a link checker, a probe) gets the page's headers without a search: it would read the trail for
    // an answer nobody reads, and hold the one search slot (../search.ts) the staff's searches need
    search: (req: IncomingMessage, res: ServerResponse, url: URL) =>
      page(res, req.method === "HEAD" ? null : url.searchParams),
    state: (_req: IncomingMessage, res: ServerResponse) => {
      const s = view.snapshot();
      html(res, 200, renderState(s, history.chart(), view.lastVerify()));
    },
  };
}
