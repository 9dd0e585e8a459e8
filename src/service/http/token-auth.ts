/**
 * The service's token (docs/maintenance.md, "Configuration"): with one configured (required off
 * loopback), every request must carry `Authorization: Bearer <token>` or the cookie the page's sign-in
 * form (POST /login, answered here) sets. Tokens are compared in constant time; wrong ones, wherever
 * presented, are counted per client by ../login-guard.ts, and a client that sent too many is answered
 * 429 until its window has passed. ./router.ts decides when each check runs.
 *
 * The cookie holds a value derived from the token (signInCookieValue), never the token: browsers send a
 * host's cookies to every port of it (RFC 6265 §8.5), so any other HTTP service on the lane computer sees
 * it. What it learns opens every path of this service (the page, /status, /metrics), not the bearer
 * token's other uses (scripts' and Prometheus's requests to other services); a new token invalidates it.
 * Its name carries the service's port, so two lanes on one host keep their own. The cookie of earlier
 * versions (OLD_COOKIE), which held the token itself, is not read and is cleared wherever a browser still
 * sends it (clearOldCookie) and at each sign-in.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../../../firmware-bridge/log.js";
import { LoginGuard } from "../login-guard.js";
import type { Asset } from "../page/assets.js";
import { renderLogin } from "../page/render.js";
import { hostRefusal } from "./host-origin.js";
import { html, PLAIN, send } from "./respond.js";

/** The sign-in cookie's name for the service on `port` (the port the request came in on). */
export function signInCookieName(port: number | undefined): string {
  return `etc_lane_${port ?? 0}`;
}

/** The sign-in cookie of earlier versions: it held the token itself (sent to every port of the host). */
export const OLD_COOKIE = "etc_lane_token";

/** A Set-Cookie that makes a browser drop OLD_COOKIE (set with Path=/, as earlier versions did). */
export const CLEAR_OLD_COOKIE = `${OLD_COOKIE}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Strict; Path=/`;

/** HMAC-SHA256 keyed by the token over this label: what the sign-in cookie holds. */
const COOKIE_LABEL = "etc-lane page cookie";

/** The sign-in cookie's value for `token` (base64url, needs no encoding in a cookie). */
export function signInCookieValue(token: string): string {
  return createHmac("sha256", token).update(COOKIE_LABEL).digest("base64url");
}

/** The largest sign-in form POST /login reads, in bytes; a larger one is answered 413. */
export const MAX_LOGIN_BYTES = 4096;

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

/** Constant-time comparison of a presented token (or cookie value) with the digest of the expected one. */
function tokenMatches(presented: string | undefined, expected: Buffer): boolean {
  if (presented === undefined || presented === "") return false;
  return timingSafeEqual(digest(presented), expected);
}

/**
 * The cookie `name`'s value, decoded; undefined without one. A value that does not decode (`%`, `%E0%A4`)
 * is returned as null: the sign-in form never sets such a value, so such a cookie is a wrong one.
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
 * A request that carries OLD_COOKIE gets CLEAR_OLD_COOKIE on its answer, whatever the answer is: the browser
 * stops sending the token to this host's other ports. (A handler's own Set-Cookie replaces this header: the
 * sign-in's carries CLEAR_OLD_COOKIE itself.)
 */
export function clearOldCookie(req: IncomingMessage, res: ServerResponse): void {
  if (cookieValue(req, OLD_COOKIE) !== undefined) res.setHeader("set-cookie", CLEAR_OLD_COOKIE);
}

/**
 * The token of an `Authorization: Bearer <token>` header, "" without one. The scheme's name is
 * case-insensitive (RFC 7235, 2.1): `bearer <token>` is the same.
 */
function bearerToken(h: string | undefined): string {
  const m = h === undefined ? null : /^bearer +(.*)$/i.exec(h);
  return m ? (m[1] ?? "").trim() : "";
}

/**
 * What a request's token says (TokenAuth.access): "ok" (the right token, or none is configured), "none"
 * (it presents no token), "wrong" (a wrong one) or, while its client has sent too many wrong tokens, the
 * ms it must wait.
 */
export type Access = "ok" | "none" | "wrong" | number;

export interface TokenAuthOptions {
  /** null: no authentication (loopback only; config validation enforces it) */
  token: string | null;
  /** monotonic clock for the guessing limits (../login-guard.ts); default performance.now */
  monotonicNow?: (() => number) | undefined;
  /** the names the service answers to in a Host header (./host-origin.ts hostNames) */
  hostNames: ReadonlySet<string>;
  log: Logger;
}

export class TokenAuth {
  private readonly expected: Buffer | null;
  /** the sign-in cookie's value (signInCookieValue), and its digest for the comparison */
  private readonly cookie: { value: string; digest: Buffer } | null;
  private readonly guard: LoginGuard;
  private readonly names: ReadonlySet<string>;
  private readonly log: Logger;

  constructor(o: TokenAuthOptions) {
    this.expected = o.token === null ? null : digest(o.token);
    const value = o.token === null ? null : signInCookieValue(o.token);
    this.cookie = value === null ? null : { value, digest: digest(value) };
    this.guard = new LoginGuard(o.monotonicNow ? { monotonicNow: o.monotonicNow } : {});
    this.names = o.hostNames;
    this.log = o.log;
  }

  /** Whether a token is configured: without one, every request is "ok" and POST /login is not served. */
  get required(): boolean {
    return this.expected !== null;
  }

  /**
   * Whose guesses a request's token counts with: its address, and apart from them the same address's
   * requests that name another Host than this service's (hostRefusal). A DNS-rebinding page in a browser on
   * the lane computer sends from 127.0.0.1 under its own name: its wrong tokens must not lock out the
   * scrapers and checks that send the right one to 127.0.0.1. Two counts per address, not one per Host: a
   * guesser that varies the other names gets no more tries, but an address has 5 wrong tokens a minute
   * under the service's names and 5 more under any other (a shared cap would let the rebinding page lock
   * out the right token again, or, if the right one were still answered, tell right from wrong past it).
   */
  private clientOf(req: IncomingMessage): string {
    const addr = req.socket.remoteAddress ?? "unknown";
    return hostRefusal(req, this.names) === null ? addr : `${addr} (under another Host)`;
  }

  private refusedLogin(addr: string): void {
    const line = this.guard.refused(addr);
    if (line)
      this.log.warn(
        line,
        `maintenance page: ${line.refused} refused sign-in(s) and request(s) with a wrong token since the last such line (wrong token or too many)`,
      );
  }

  /**
   * Whether `req` may be answered (Access). A wrong token is counted like a wrong sign-in
   * (../login-guard.ts); while its client has sent too many, no token is checked, the right one neither.
   * The right token does not clear the address's count (POST /login's does): on an address many clients
   * share, a scraper's requests would otherwise reset a guesser's count every few seconds.
   */
  access(req: IncomingMessage): Access {
    const expected = this.expected;
    const expectedCookie = this.cookie;
    if (expected === null || expectedCookie === null) return "ok";
    const bearer = bearerToken(req.headers.authorization);
    const cookie = cookieValue(req, signInCookieName(req.socket.localPort));
    // what each presented, with the digest it must match: the token for a bearer, its derived value for
    // the cookie (the token itself in the cookie is a wrong one)
    const presented: { value: string | null; expected: Buffer }[] = [];
    if (bearer !== "") presented.push({ value: bearer, expected });
    if (cookie !== undefined && cookie !== "")
      presented.push({ value: cookie, expected: expectedCookie.digest });
    if (presented.length === 0) return "none";
    const addr = this.clientOf(req);
    const wait = this.guard.waitMs(addr);
    if (wait > 0) {
      this.refusedLogin(addr);
      return wait;
    }
    if (presented.some((p) => p.value !== null && tokenMatches(p.value, p.expected))) return "ok";
    // a cookie that does not decode is never the right one: all such count as one wrong token
    for (const p of presented) this.guard.failed(addr, p.value ?? "\u0000undecodable cookie");
    this.refusedLogin(addr);
    return "wrong";
  }

  /** POST /login: the sign-in form's token; the right one is set as the cookie and the page opened (303). */
  login(req: IncomingMessage, res: ServerResponse): void {
    const addr = this.clientOf(req);
    const wait = this.guard.waitMs(addr);
    if (wait > 0) {
      // too many wrong tokens: not even checked until the address's minute has passed
      this.refusedLogin(addr);
      req.resume();
      tooManyWrongTokens(res, wait);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (d: Buffer): void => {
      size += d.length;
      if (size <= MAX_LOGIN_BYTES) {
        chunks.push(d);
        return;
      }
      // answered at once, not a guess; what the client still sends is read and dropped until the answer
      // is out, then the connection is closed
      req.off("data", onData);
      chunks.length = 0;
      send(res, 413, PLAIN, `sign-in form larger than ${MAX_LOGIN_BYTES} bytes\n`, { connection: "close" });
    };
    req.on("data", onData);
    req.on("end", () => {
      if (size > MAX_LOGIN_BYTES) return;
      // checked again now that the body is in: sign-ins sent at once all passed the check above before the
      // first of them was counted, and would each be compared
      const waitNow = this.guard.waitMs(addr);
      if (waitNow > 0) {
        this.refusedLogin(addr);
        tooManyWrongTokens(res, waitNow);
        return;
      }
      const token = new URLSearchParams(Buffer.concat(chunks).toString("utf8")).get("token") ?? "";
      if (this.expected !== null && this.cookie !== null && tokenMatches(token, this.expected)) {
        this.guard.succeeded(addr);
        send(res, 303, PLAIN, "signed in\n", {
          location: "./",
          // and the earlier versions' cookie, the token itself, dropped
          "set-cookie": [
            `${signInCookieName(req.socket.localPort)}=${this.cookie.value}; HttpOnly; SameSite=Strict; Path=/`,
            CLEAR_OLD_COOKIE,
          ],
        });
      } else {
        this.guard.failed(addr, token);
        this.refusedLogin(addr);
        html(res, 401, renderLogin(true));
      }
    });
  }
}

/** 429 with Retry-After: the client sent too many wrong tokens and must wait `waitMs`. */
export function tooManyWrongTokens(res: ServerResponse, waitMs: number): void {
  const s = Math.ceil(waitMs / 1000);
  send(res, 429, PLAIN, `too many wrong tokens; try again in ${s} s\n`, {
    "retry-after": String(s),
  });
}

/**
 * A request without the right token (none, or a wrong one): the page's paths get the sign-in form, the
 * stylesheet is served (the form uses it), anything else a 401 asking for the bearer token.
 */
export function refuseUnauthorised(
  res: ServerResponse,
  path: string,
  assets: ReadonlyMap<string, Asset>,
): void {
  if (path === "/" || path === "/search" || path === "/login") {
    html(res, 401, renderLogin(false));
    return;
  }
  const asset = assets.get(path);
  if (asset && path.endsWith(".css")) {
    send(res, 200, asset.type, asset.body);
    return;
  }
  send(res, 401, PLAIN, "authorisation required (Bearer token)\n", {
    "www-authenticate": 'Bearer realm="etc-lane"',
  });
}
