/**
 * How the status service answers (./server.ts): every answer carries SECURITY_HEADERS (a
 * Content-Security-Policy that allows only the lane's own scripts, styles and connections, no caching),
 * and a HEAD gets the headers a GET would, without the body. The live feed (../sse.ts) writes its own
 * head, with these headers too.
 */
import type { ServerResponse } from "node:http";

export const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

export const PLAIN = "text/plain; charset=utf-8";

export function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string | Buffer,
  extra: Record<string, string | string[]> = {},
): void {
  res.writeHead(status, { ...SECURITY_HEADERS, "content-type": type, ...extra });
  res.end(res.req.method === "HEAD" ? undefined : body);
}

export function json(res: ServerResponse, status: number, v: unknown): void {
  send(res, status, "application/json; charset=utf-8", `${JSON.stringify(v)}\n`);
}

export function html(res: ServerResponse, status: number, body: string): void {
  send(res, status, "text/html; charset=utf-8", body);
}
