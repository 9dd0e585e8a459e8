/**
 * The station simulator's small HTTP helpers: an error with its status, a bounded body, a JSON answer, and
 * the `error` code of each status (docs/station-api.md, "Common rules"), and what a JSON object is.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

/** The code an error answer of each status carries in its `error` field. */
export const ERROR_CODES = {
  400: "BAD_REQUEST",
  404: "NOT_FOUND",
  405: "METHOD_NOT_ALLOWED",
  413: "TOO_LARGE",
  422: "UNPROCESSABLE",
  500: "INTERNAL",
} as const;
export type ErrorStatus = keyof typeof ERROR_CODES;

/** The JSON body of an error answer: `{ error: CODE, message }`. */
export function errorBody(status: ErrorStatus, message: string): { error: string; message: string } {
  return { error: ERROR_CODES[status], message };
}

/** A request refused with `status` (a 4xx); `headers` go with the answer. */
export class HttpError extends Error {
  constructor(
    readonly status: Exclude<ErrorStatus, 500>,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/**
 * A request that ended before its body did: its client went away (an aborted fetch, a lane that timed out
 * while it sent) or the station cut it (the "down" fault or close() destroying the connections, the
 * listener's request timeout, ./listener.ts). Nobody is left to answer, and it is no failure of the
 * station (./router.ts logs it at debug).
 */
export class BodyCut extends Error {}

/** A JSON object: not null, not an array. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The methods a route of the simulator takes (its own and the API's). */
export type RouteMethod = "GET" | "POST";

/**
 * The handler `methods` has for the request's method, a HEAD looked up as the GET (node:http sends a
 * HEAD's answer without its body); undefined when the path does not take that method.
 */
export function handlerFor<H>(req: IncomingMessage, methods: Partial<Record<RouteMethod, H>>): H | undefined {
  const method = req.method === "HEAD" ? "GET" : req.method;
  return method === "GET" || method === "POST" ? methods[method] : undefined;
}

/** The 405 for a method `path` does not take, with `Allow` naming those it does (a GET brings HEAD). */
export function methodNotAllowed(
  req: IncomingMessage,
  path: string,
  methods: Partial<Record<RouteMethod, unknown>>,
): HttpError {
  const allow = (Object.keys(methods) as RouteMethod[])
    .flatMap((m) => (m === "GET" ? ["GET", "HEAD"] : [m]))
    .join(", ");
  return new HttpError(405, `${req.method} ${path}: the methods allowed are ${allow}`, { allow });
}

/** What a body over the limit may still send, read and dropped, before it is answered all the same. */
export const DISCARD_MAX_BYTES = 64 * 1024 * 1024;

/**
 * The request's body, at most `max` bytes. A longer one is refused with HttpError 413 and `Connection:
 * close`, answered by the router (./router.ts) once the client has sent the rest of it (read and dropped):
 * a client that is still sending when the connection closes gets a reset, which can lose the answer.
 * One that sends more than DISCARD_MAX_BYTES beyond it is answered at that point (and the connection
 * then closed under what it sends); one that never ends is stopped by the listener's request timeout
 * (./listener.ts). A request that ends before its body (destroyed, before or while it is read, by its
 * client or the station) rejects it with BodyCut: it never waits on a request that will send nothing more.
 */
export function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const gone = (why: string): void => reject(new BodyCut(`request ended before its body did: ${why}`));
    if (req.destroyed && !req.readableEnded) return gone("request already closed");
    const chunks: Buffer[] = [];
    let size = 0;
    const tooLarge = (): HttpError =>
      new HttpError(413, `request body larger than ${max} bytes`, { connection: "close" });
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size <= max) {
        chunks.push(c);
        return;
      }
      chunks.length = 0;
      if (size > max + DISCARD_MAX_BYTES) {
        req.off("data", onData);
        reject(tooLarge());
      }
    };
    req.on("data", onData);
    req.on("end", () => (size > max ? reject(tooLarge()) : resolve(Buffer.concat(chunks))));
    req.on("error", (e) => gone(e.message));
    // closed without "end" nor "error" (a settled promise ignores this after either)
    req.on("close", () => gone("connection closed"));
  });
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}
