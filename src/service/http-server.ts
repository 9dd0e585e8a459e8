/**
 * The lane status service's HTTP side (node:http, read-only):
 *   GET /health            200 when the lane can trade, else 503; JSON with why
 *   GET /status            the LaneSnapshot as JSON
 *   GET /metrics           Prometheus text (metrics.ts)
 *   GET /                  the maintenance page; GET /search?... the page with trail results
 *   GET /fragment/state    the page's state panels (the page's script swaps them in)
 *   GET /events            server-sent events: the live feed
 *   GET /assets/page.{js,css}
 * With a token (required off loopback), every request must carry `Authorization: Bearer <token>` or the
 * cookie the page's sign-in form (POST /login) sets. Nothing here can change the lane: operator actions
 * go through the control socket (control/server.ts).
 *
 * Browsers: without a token (loopback) a request must name the service in its Host header (the listen
 * host, localhost, 127.0.0.1 or [::1], with the port), else 421: a DNS-rebinding page reaches the port
 * under its own name. A request another site's page makes (`Sec-Fetch-Site: cross-site` or `same-site`,
 * or, without a token, an `Origin` other than this service's) is refused 403, except a plain link to
 * the page itself (a top-level GET / navigation).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { parseTimeArg } from "../audit/time.js";
import type { History } from "./history.js";
import type { LaneView, TrailQuery } from "./lane-view.js";
import { LoginGuard } from "./login-guard.js";
import type { LaneMetrics } from "./metrics.js";
import { loadAssets } from "./page/assets.js";
import {
  EMPTY_FORM,
  renderLogin,
  renderPage,
  renderSearchResults,
  renderState,
  type SearchForm,
} from "./page/render.js";
import type { SseHub } from "./sse.js";

export interface ServiceHttpDeps {
  view: LaneView;
  metrics: LaneMetrics;
  sse: SseHub;
  history: History;
  /** null: no authentication (loopback only; config validation enforces it) */
  token: string | null;
  /** wall clock for the sign-in form's limits and the failed-request log line's; default Date.now */
  now?: () => number;
  /** service.listen's host ("127.0.0.1", "::1", "localhost"): a Host header may name it */
  listenHost: string;
  logger?: Logger;
}

/** The most rows a search shows; the CLI exports everything. */
export const SEARCH_LIMIT = 200;
/**
 * Trail searches running at once; a search asked for while this many run is answered 503 at once
 * (each search reads the trail on the lane's thread in slices: several would add up).
 */
export const MAX_SEARCHES = 1;
export const SEARCH_BUSY =
  "another trail search is running on this lane; try again when it has finished (one search at a time)";
const COOKIE = "etc_lane_token";
/**
 * A request that fails unexpectedly (500) is logged at most once this often, with how many were not
 * logged since the previous line, its URL and error cut to LOGGED_TEXT_MAX characters: a client that
 * finds a way to make requests fail cannot grow the lane's log by more than a short line a minute.
 */
export const FAILED_REQUEST_LOG_MS = 60_000;
export const LOGGED_TEXT_MAX = 200;

const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

/** Constant-time comparison of a presented token with the configured one. */
function tokenMatches(presented: string | undefined, expected: Buffer): boolean {
  if (presented === undefined || presented === "") return false;
  return timingSafeEqual(digest(presented), expected);
}

/**
 * The cookie `name`'s value, decoded; undefined without one. A value that does not decode (`%`, `%E0%A4`)
 * is returned as null: the sign-in form sets the token URI-encoded, so such a cookie is a wrong token.
 */
function cookieValue(req: IncomingMessage, name: string): string | null | undefined {
  const h = req.headers.cookie;
  if (!h) return undefined;
  for (const part of h.split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) {
      try {
        return decodeURIComponent(part.slice(i + 1).trim());
      } catch {
        return null;
      }
    }
  }
  return undefined;
}

/**
 * A search time: empty, or what `etc-lane audit search --since/--until` takes (src/audit/time.ts
 * `parseTimeArg`): a page's datetime-local value ("2026-11-26T08:00[:00]") or any local date-time read in
 * the lane's UTC offset, an ISO time with its offset ("...Z", "...+08:00"), "today", "-2h". A time that
 * names no real moment ("2026-11-31T08:00", "29:70") is refused, never rolled over into another day.
 */
export function parseSearchTime(
  v: string,
  utcOffsetMinutes: number,
  field: string,
  nowMs = Date.now(),
): number | undefined {
  if (v === "") return undefined;
  const t = parseTimeArg(v, utcOffsetMinutes, nowMs);
  if (t !== null) return t;
  throw new RangeError(`${field}: expected a date and time such as 2026-11-26T08:00, got "${v}"`);
}

export function searchFromParams(
  p: URLSearchParams,
  utcOffsetMinutes: number,
): { form: SearchForm; query: TrailQuery } {
  const form: SearchForm = { ...EMPTY_FORM };
  for (const k of Object.keys(form) as (keyof SearchForm)[]) form[k] = (p.get(k) ?? "").trim().slice(0, 100);
  const query: TrailQuery = { limit: SEARCH_LIMIT };
  const since = parseSearchTime(form.since, utcOffsetMinutes, "since");
  const until = parseSearchTime(form.until, utcOffsetMinutes, "until");
  if (since !== undefined) query.since = since;
  if (until !== undefined) query.until = until;
  if (form.card) query.card = form.card;
  if (form.obu) query.obu = form.obu;
  if (form.plate) query.plate = form.plate;
  if (form.reason) query.reason = form.reason;
  if (form.kind) query.kind = form.kind;
  return { form, query };
}

/** The names a loopback service answers to in a Host header (with its port). */
function hostNames(listenHost: string): Set<string> {
  const h = listenHost.toLowerCase();
  return new Set(["localhost", "127.0.0.1", "[::1]", h.includes(":") ? `[${h}]` : h]);
}

/** Host names the service (listen port `port`) is, or `null` when the request may go on. */
export function hostRefusal(req: IncomingMessage, names: ReadonlySet<string>): string | null {
  const host = (req.headers.host ?? "").toLowerCase();
  const port = req.socket.localPort;
  for (const n of names) if (host === `${n}:${port}` || (port === 80 && host === n)) return null;
  return `Host "${host.slice(0, 100)}" is not this lane's status service (use http://127.0.0.1:${port}/)`;
}

/**
 * Why a request made by another site's page is refused, or `null` when it may go on. `checkOrigin`: an
 * `Origin` must also name the Host the request was sent to (without a token; with one, a TLS proxy in
 * front may rewrite Host, and the SameSite=Strict cookie keeps other sites' requests unauthorised).
 */
export function crossSiteRefusal(req: IncomingMessage, path: string, checkOrigin: boolean): string | null {
  const site = req.headers["sec-fetch-site"];
  const origin = req.headers.origin;
  const foreignOrigin = checkOrigin && origin !== undefined && origin !== `http://${req.headers.host ?? ""}`;
  if (site !== "cross-site" && site !== "same-site" && !foreignOrigin) return null;
  // a link to the page from elsewhere (a bookmark page, a dashboard) opens it; nothing else
  const navigation =
    req.headers["sec-fetch-mode"] === "navigate" &&
    req.headers["sec-fetch-dest"] === "document" &&
    (req.method === "GET" || req.method === "HEAD") &&
    path === "/" &&
    !foreignOrigin;
  return navigation ? null : "cross-site request refused: open the maintenance page itself";
}

export function createServiceHttpServer(deps: ServiceHttpDeps): Server {
  const log = (deps.logger ?? silentLogger).child({ ch: "SERVICE" });
  const assets = loadAssets();
  const expected = deps.token === null ? null : digest(deps.token);
  const { view } = deps;
  const now = deps.now ?? Date.now;

  const send = (
    res: ServerResponse,
    status: number,
    type: string,
    body: string | Buffer,
    extra: Record<string, string> = {},
  ): void => {
    res.writeHead(status, { ...SECURITY_HEADERS, "content-type": type, ...extra });
    res.end(res.req.method === "HEAD" ? undefined : body);
  };
  const json = (res: ServerResponse, status: number, v: unknown): void =>
    send(res, status, "application/json; charset=utf-8", `${JSON.stringify(v)}\n`);
  const html = (res: ServerResponse, status: number, body: string): void =>
    send(res, status, "text/html; charset=utf-8", body);

  const guard = new LoginGuard({ now });
  const names = hostNames(deps.listenHost);
  /**
   * Whose guesses a request's token counts with: its address, and apart from them the same address's
   * requests that name another Host than this service's (hostRefusal). A DNS-rebinding page in a browser on
   * the lane computer sends from 127.0.0.1 under its own name: its wrong tokens must not lock out the
   * scrapers and checks that send the right one to 127.0.0.1. Two counts per address, not one per Host: a
   * guesser that varies the Host gets no more tries.
   */
  const clientOf = (req: IncomingMessage): string => {
    const addr = req.socket.remoteAddress ?? "unknown";
    return hostRefusal(req, names) === null ? addr : `${addr} (under another Host)`;
  };
  const refusedLogin = (addr: string): void => {
    const line = guard.refused(addr);
    if (line)
      log.warn(
        line,
        `maintenance page: ${line.refused} refused sign-in(s) and request(s) with a wrong token since the last such line (wrong token or too many)`,
      );
  };
  const tooMany = (res: ServerResponse, waitMs: number): void => {
    const s = Math.ceil(waitMs / 1000);
    send(res, 429, "text/plain; charset=utf-8", `too many wrong tokens; try again in ${s} s\n`, {
      "retry-after": String(s),
    });
  };

  /**
   * Whether `req` may be answered: "ok" (the right token, or none is configured), "none" (it presents
   * no token), "wrong" (a wrong one: counted like a wrong sign-in, login-guard.ts) or, while its address
   * has sent too many wrong tokens, the ms it must wait: then no token is checked, the right one neither.
   * The right token does not clear the address's count (POST /login's does): on an address many clients
   * share, a scraper's requests would otherwise reset a guesser's count every few seconds.
   */
  const access = (req: IncomingMessage): "ok" | "none" | "wrong" | number => {
    if (expected === null) return "ok";
    const h = req.headers.authorization;
    const bearer = h?.startsWith("Bearer ") ? h.slice(7).trim() : "";
    const cookie = cookieValue(req, COOKIE);
    const tokens: (string | null)[] = [];
    if (bearer !== "") tokens.push(bearer);
    if (cookie !== undefined && cookie !== "") tokens.push(cookie);
    if (tokens.length === 0) return "none";
    const addr = clientOf(req);
    const wait = guard.waitMs(addr);
    if (wait > 0) {
      refusedLogin(addr);
      return wait;
    }
    if (tokens.some((t) => t !== null && tokenMatches(t, expected))) return "ok";
    // a cookie that does not decode is never the token: all such count as one wrong token
    for (const t of tokens) guard.failed(addr, t ?? "\u0000undecodable cookie");
    refusedLogin(addr);
    return "wrong";
  };

  const login = (req: IncomingMessage, res: ServerResponse): void => {
    const addr = clientOf(req);
    const wait = guard.waitMs(addr);
    if (wait > 0) {
      // too many wrong tokens: not even checked until the address's minute has passed
      refusedLogin(addr);
      req.resume();
      tooMany(res, wait);
      return;
    }
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d: string) => {
      body += d;
      if (body.length > 4096) req.destroy();
    });
    req.on("end", () => {
      const token = new URLSearchParams(body).get("token") ?? "";
      if (expected !== null && tokenMatches(token, expected)) {
        guard.succeeded(addr);
        send(res, 303, "text/plain; charset=utf-8", "signed in\n", {
          location: "./",
          "set-cookie": `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
        });
      } else {
        guard.failed(addr, token);
        refusedLogin(addr);
        html(res, 401, renderLogin(true));
      }
    });
  };

  let searching = 0;
  const page = async (res: ServerResponse, params: URLSearchParams | null): Promise<void> => {
    const snapshot = view.snapshot();
    let form = EMPTY_FORM;
    let results: string | null = null;
    let status = 200;
    const extra: Record<string, string> = {};
    if (params) {
      let parsed: ReturnType<typeof searchFromParams> | undefined;
      try {
        parsed = searchFromParams(params, snapshot.lane.utcOffsetMinutes);
      } catch (e) {
        results = renderSearchResults({ limit: SEARCH_LIMIT }, { error: (e as Error).message }, 0);
      }
      if (parsed) {
        form = parsed.form;
        if (searching >= MAX_SEARCHES) {
          status = 503;
          extra["retry-after"] = "5";
          results = renderSearchResults(parsed.query, { error: SEARCH_BUSY }, 0);
        } else {
          // the asker gone (the connection closed before the answer): the search stops reading
          const gone = new AbortController();
          const onClose = (): void => {
            if (!res.writableEnded) gone.abort(new Error("the client closed the request"));
          };
          res.once("close", onClose);
          searching++;
          try {
            const r = await view.searchTrail(parsed.query, { signal: gone.signal });
            results = renderSearchResults(parsed.query, r, snapshot.lane.utcOffsetMinutes);
          } catch (e) {
            if (gone.signal.aborted) return;
            results = renderSearchResults(
              parsed.query,
              { error: `search failed: ${(e as Error).message}` },
              0,
            );
          } finally {
            searching--;
            res.off("close", onClose);
          }
          if (gone.signal.aborted) return;
        }
      }
    }
    send(
      res,
      status,
      "text/html; charset=utf-8",
      renderPage({ snapshot, history: deps.history.list(), verify: view.lastVerify(), form, results }),
      extra,
    );
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // without a token nothing but the Host header tells this service from a rebound attacker's name
    const wrongHost = expected === null ? hostRefusal(req, names) : null;
    if (wrongHost !== null) return send(res, 421, "text/plain; charset=utf-8", `${wrongHost}\n`);
    // a request target URL refuses (`//[x`) is the client's mistake: answered, not logged
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://lane");
    } catch {
      return send(res, 400, "text/plain; charset=utf-8", "bad request target\n");
    }
    const path = url.pathname;
    const crossSite = crossSiteRefusal(req, path, expected === null);
    if (crossSite !== null) return send(res, 403, "text/plain; charset=utf-8", `${crossSite}\n`);
    if (path === "/login" && req.method === "POST" && expected !== null) return login(req, res);
    if (req.method !== "GET" && req.method !== "HEAD") {
      return send(res, 405, "text/plain; charset=utf-8", "read-only: GET only\n", { allow: "GET, HEAD" });
    }
    const allowed = access(req);
    if (typeof allowed === "number") return tooMany(res, allowed);
    if (allowed !== "ok") {
      if (path === "/" || path === "/search" || path === "/login") return html(res, 401, renderLogin(false));
      const asset = assets.get(path);
      if (asset && path.endsWith(".css")) return send(res, 200, asset.type, asset.body);
      return send(res, 401, "text/plain; charset=utf-8", "authorisation required (Bearer token)\n", {
        "www-authenticate": 'Bearer realm="etc-lane"',
      });
    }
    switch (path) {
      case "/health": {
        const s = view.snapshot().state;
        return json(res, s.canTrade ? 200 : 503, {
          ok: s.canTrade,
          status: s.status,
          reason: s.reason,
          detail: s.detail,
          since: s.since,
        });
      }
      case "/status":
        return json(res, 200, view.snapshot());
      case "/metrics": {
        const text = await deps.metrics.text(view.snapshot());
        return send(res, 200, deps.metrics.contentType, text);
      }
      case "/":
        return page(res, null);
      case "/search":
        return page(res, url.searchParams);
      case "/fragment/state": {
        const s = view.snapshot();
        return html(res, 200, renderState(s, deps.history.list(), view.lastVerify()));
      }
      case "/events":
        // a feed stays open: no idle timeout for it (a refused one is answered and closed at once)
        if (deps.sse.add(req, res, null)) res.req.socket.setTimeout(0);
        return;
    }
    const asset = assets.get(path);
    if (asset) return send(res, 200, asset.type, asset.body, { "cache-control": "max-age=300" });
    return send(res, 404, "text/plain; charset=utf-8", "not found\n");
  };

  let failedLoggedAt = Number.NEGATIVE_INFINITY;
  let failedUnlogged = 0;
  const requestFailed = (req: IncomingMessage, e: unknown): void => {
    const t = now();
    if (t - failedLoggedAt < FAILED_REQUEST_LOG_MS) {
      failedUnlogged++;
      return;
    }
    failedLoggedAt = t;
    const url = req.url ?? "";
    const err = e instanceof Error ? e.message : String(e);
    log.error(
      {
        err: err.length > LOGGED_TEXT_MAX ? `${err.slice(0, LOGGED_TEXT_MAX)}...` : err,
        method: req.method,
        url:
          url.length > LOGGED_TEXT_MAX
            ? `${url.slice(0, LOGGED_TEXT_MAX)}... (${url.length} characters)`
            : url,
        unlogged: failedUnlogged,
      },
      failedUnlogged > 0
        ? `service request failed (and ${failedUnlogged} more, not logged, since the previous such line)`
        : "service request failed",
    );
    failedUnlogged = 0;
  };
  const server = createServer((req, res) => {
    route(req, res).catch((e: unknown) => {
      requestFailed(req, e);
      if (!res.headersSent) send(res, 500, "text/plain; charset=utf-8", "internal error\n");
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return server;
}
