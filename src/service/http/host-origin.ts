/**
 * The checks for browsers on the lane computer (docs/maintenance.md, "Browsers on the lane computer"),
 * made by ./router.ts before any token is looked at: without a token (loopback) a request must name the
 * service in its Host header (the listen host, localhost, 127.0.0.1 or [::1], with the port), else 421: a
 * DNS-rebinding page reaches the port under its own name. A request another site's page makes
 * (`Sec-Fetch-Site: cross-site` or `same-site`, or, without a token, an `Origin` other than this
 * service's) is refused 403, except a plain link to the page itself (a top-level GET / navigation).
 */
import type { IncomingMessage } from "node:http";

/** The names a loopback service answers to in a Host header (with its port). */
export function hostNames(listenHost: string): Set<string> {
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
