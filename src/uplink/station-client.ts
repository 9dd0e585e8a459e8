/**
 * HTTP(S) client for the station API (docs/station-api.md). Every request, with the reading of its answer,
 * has a timeout (a timer that aborts it: see request).
 * Failures are EtcErrors: E611 when the station cannot be reached or fails (network, timeout, 5xx, 429),
 * `details.timeout` true for a timeout; E612 when it answers with something unusable (other 4xx, with
 * `details.status`, a malformed body, or one over MAX_ANSWER_BYTES) or redirects (3xx: never followed,
 * redirected). A bundle's pages are put
 * together and checked by ./bundle-download.ts (E614 for a bad bundle; a page longer than the manifest
 * gives it is E614 here, before more of it than that is read).
 *
 * No answer is read whole before its size is known to be sane: each body is read through its stream and
 * given up at the first byte over its cap (MAX_ANSWER_BYTES for a JSON answer, the page's length for a
 * page), or before any byte when its content-length says it is over; a manifest's pageSize is at most
 * MAX_PAGE_BYTES. A station, proxy or captive portal that answers with gigabytes so costs the lane a
 * bounded buffer, not its heap.
 */
import { z } from "zod";
import { EtcError } from "../../firmware-bridge/errors.js";
import { JournalErrorCodes } from "../journal/errors.js";
import { canonicalLane, laneKey } from "../journal/trade-id.js";
import type { LaneIdentity, PendingRecord } from "../journal/types.js";

export interface StationClientOptions {
  baseUrl: string;
  lane: LaneIdentity;
  requestTimeoutMs: number;
  /** per page of a status-list bundle */
  bundleTimeoutMs: number;
  authToken?: string;
  /** injectable for tests; default global fetch */
  fetch?: typeof fetch;
}

/**
 * The largest JSON answer the lane reads (an upload's, a heartbeat's, a manifest, a checkpoint answer, an
 * error body): 4 MiB. The largest legitimate one is an upload's answer to the largest batch (`batchSize`
 * up to 5000, ./uplink-options.ts): an `accepted` entry is about 60 bytes (a 30-character trade id and a
 * status), a `rejected` one with its message a few hundred; 4 MiB leaves over 800 bytes per record.
 */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;
/** The largest bundle page a manifest may name (`pageSize`): 16 MiB, one page is one buffer. */
export const MAX_PAGE_BYTES = 16 * 1024 * 1024;

const UploadResponse = z.object({
  accepted: z.array(z.object({ tradeId: z.string(), status: z.enum(["stored", "updated", "duplicate"]) })),
  rejected: z
    .array(z.object({ tradeId: z.string().nullable(), code: z.string(), message: z.string().optional() }))
    .default([]),
});
export type UploadResult = z.infer<typeof UploadResponse>;

const BundleInfoSchema = z.object({
  name: z.string().regex(/^(full|delta)-[0-9A-Za-z_.-]+\.bundle$/),
  kind: z.enum(["full", "delta"]),
  base: z.string().nullable(),
  version: z.string(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  pageSize: z
    .number()
    .int()
    .positive()
    .max(MAX_PAGE_BYTES, `pageSize over the lane's limit of ${MAX_PAGE_BYTES} bytes per page`),
  pages: z.number().int().positive(),
});
export type BundleInfo = z.infer<typeof BundleInfoSchema>;

const ManifestSchema = z.object({
  full: BundleInfoSchema.nullable(),
  deltas: z.array(BundleInfoSchema),
  latest: z.object({ full: z.string().nullable(), delta: z.string().nullable() }),
});
export type Manifest = z.infer<typeof ManifestSchema>;

const CheckpointAccepted = z.object({
  accepted: z.array(z.object({ n: z.number().int(), status: z.enum(["stored", "duplicate"]) })).min(1),
});
/** a 409: `accepted`, the checkpoints of the request the station stored (or held) before the one it refused */
const CheckpointConflict = z.object({
  message: z.string(),
  current: z.unknown(),
  accepted: CheckpointAccepted.shape.accepted.element.array().default([]),
});

export class StationClient {
  private readonly base: string;
  private readonly f: typeof fetch;
  /** src/journal/trade-id.ts laneKey: hex in upper case whatever the config's case, as trade ids have it */
  readonly laneId: string;
  /** the lane identity the station is told, in the case of laneId */
  readonly lane: LaneIdentity;

  constructor(
    private readonly opts: StationClientOptions,
    private readonly stopSignal: AbortSignal,
  ) {
    this.base = opts.baseUrl.replace(/\/+$/, "");
    this.f = opts.fetch ?? fetch;
    this.lane = canonicalLane(opts.lane);
    this.laneId = laneKey(opts.lane);
  }

  /**
   * One exchange with the station: the request and the reading of its answer (`read`) under one deadline.
   * The deadline is a plain timer that aborts our own controller, cleared once `read` is done; it is not
   * AbortSignal.timeout: on Node 20 a timeout signal that only AbortSignal.any refers to can be garbage
   * collected before it fires (nodejs/node#57736), and a station that accepts and never answers then holds
   * the request until undici's own headers timeout (300 s). The pending timer keeps the controller alive.
   */
  private async request<T>(
    what: string,
    path: string,
    init: { method: "GET" | "POST"; body?: string; timeoutMs?: number; pass?: number[] },
    read: (res: Response) => Promise<T>,
  ): Promise<T> {
    const timeoutMs = init.timeoutMs ?? this.opts.requestTimeoutMs;
    const ctrl = new AbortController();
    const onStop = (): void => ctrl.abort(this.stopSignal.reason);
    const timer = setTimeout(
      () => ctrl.abort(new DOMException(`no answer within ${timeoutMs} ms`, "TimeoutError")),
      timeoutMs,
    );
    if (this.stopSignal.aborted) onStop();
    else this.stopSignal.addEventListener("abort", onStop, { once: true });
    const signal = ctrl.signal;
    const headers: Record<string, string> = { accept: "application/json", "x-lane-id": this.laneId };
    if (init.body !== undefined) headers["content-type"] = "application/json";
    if (this.opts.authToken) headers.authorization = `Bearer ${this.opts.authToken}`;
    try {
      let res: Response;
      try {
        // a redirect is not followed (fetch's default would: a 301 or 302 turns the POST into a GET, and the
        // station's answer to that would be what the lane reports): redirected names it
        res = await this.f(`${this.base}${path}`, {
          method: init.method,
          headers,
          body: init.body,
          signal,
          redirect: "manual",
        });
      } catch (e) {
        throw this.networkError(what, e, timeoutMs);
      }
      if (res.status >= 300 && res.status < 400) {
        await res.body?.cancel().catch(() => undefined);
        throw this.redirected(what, path, res);
      }
      if (res.status >= 500 || res.status === 429 || res.status === 408) {
        await res.body?.cancel().catch(() => undefined);
        throw new EtcError(JournalErrorCodes.StationUnreachable, `station ${what}: HTTP ${res.status}`, {
          status: res.status,
        });
      }
      if (res.status >= 400 && !init.pass?.includes(res.status)) {
        const text = await this.readText(what, res, timeoutMs).catch(() => "");
        throw new EtcError(
          JournalErrorCodes.StationProtocol,
          `station ${what}: HTTP ${res.status} ${cutBody(text, 200)}`,
          {
            status: res.status,
          },
        );
      }
      return await read(res);
    } finally {
      clearTimeout(timer);
      this.stopSignal.removeEventListener("abort", onStop);
    }
  }

  /**
   * E612 for a 3xx answer: the lane follows no redirect (a station that moved, or http redirected to
   * https, is a station.url to change). Names the status and where it points; when that ends with the
   * request's own path, the base before it is the station.url to set.
   */
  private redirected(what: string, path: string, res: Response): EtcError {
    const location = res.headers.get("location");
    let where = "without a Location";
    let fix = "station.url names a station that redirects: set it to the station's own address";
    if (location !== null) {
      const to = URL.canParse(location, `${this.base}${path}`)
        ? new URL(location, `${this.base}${path}`).href
        : location;
      where = `to ${cutBody(to, 300)}`;
      fix = to.endsWith(path)
        ? `set station.url to ${cutBody(to.slice(0, to.length - path.length), 300)}`
        : "set station.url to the station's base URL there";
    }
    return new EtcError(
      JournalErrorCodes.StationProtocol,
      `station ${what}: HTTP ${res.status} redirect ${where}: the lane follows no redirect; ${fix}`,
      { status: res.status, ...(location !== null ? { location } : {}) },
    );
  }

  /**
   * E611 for a request that got no answer: names the station's host:port and what failed, the cause's
   * message with its code (fetch's own error is only "fetch failed"): "station heartbeat at
   * 127.0.0.1:8640: connect ECONNREFUSED 127.0.0.1:8640", "... at st:8640: other side closed
   * (UND_ERR_SOCKET)".
   */
  private networkError(what: string, e: unknown, timeoutMs: number): EtcError {
    const err = e as { name?: string; message?: string; cause?: unknown };
    const timeout = err?.name === "TimeoutError";
    let why: string;
    if (timeout) why = `no answer within ${timeoutMs} ms`;
    else if (err?.name === "AbortError") why = "aborted (uplink stopping)";
    else why = causeText(err?.cause, this.port) ?? err?.message ?? String(e);
    // `timeout`: the request's own deadline passed (the uplink halves a batch that keeps missing it)
    return new EtcError(
      JournalErrorCodes.StationUnreachable,
      `station ${what} at ${this.hostPort}: ${why}`,
      { cause: why, station: this.hostPort, ...(timeout ? { timeout: true } : {}) },
      { cause: e },
    );
  }

  /** the station's host:port, the scheme's default port written out */
  private get hostPort(): string {
    return `${new URL(this.base).hostname}:${this.port}`;
  }

  private get port(): string {
    const u = new URL(this.base);
    return u.port !== "" ? u.port : u.protocol === "https:" ? "443" : "80";
  }

  /**
   * The body of `res`, read through its stream, at most `max` bytes: a content-length over `max` gives up
   * before any byte is read, and the read stops at the first chunk that goes over it; either throws
   * `over(contentLength or null)`. A reset or a timeout while the body arrives is the network's failure
   * (networkError).
   */
  private async readCapped(
    what: string,
    res: Response,
    timeoutMs: number,
    max: number,
    over: (contentLength: number | null) => EtcError,
  ): Promise<Buffer> {
    const declared = res.headers.get("content-length")?.trim();
    // a compressed answer's content-length counts the compressed bytes, which fetch inflates: only the bytes
    // read below count then (a page that compresses badly can be a few bytes longer compressed)
    const encoding = res.headers.get("content-encoding")?.trim().toLowerCase();
    const plain = !encoding || encoding === "identity";
    if (plain && declared && /^\d+$/.test(declared) && Number(declared) > max) {
      await res.body?.cancel().catch(() => undefined);
      throw over(Number(declared));
    }
    if (!res.body) return Buffer.alloc(0);
    const reader = res.body.getReader();
    const chunks: Uint8Array[] = [];
    let n = 0;
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (e) {
        // a reset or a timeout while the body was arriving: the station's answer is lost
        throw this.networkError(`${what} (reading the response)`, e, timeoutMs);
      }
      if (chunk.done) break;
      n += chunk.value.byteLength;
      if (n > max) {
        await reader.cancel().catch(() => undefined);
        throw over(null);
      }
      chunks.push(chunk.value);
    }
    return Buffer.concat(chunks, n);
  }

  /** A JSON answer's text: at most MAX_ANSWER_BYTES (E612 beyond), decoded as res.text() does. */
  private async readText(what: string, res: Response, timeoutMs: number): Promise<string> {
    const buf = await this.readCapped(what, res, timeoutMs, MAX_ANSWER_BYTES, (declared) => {
      return new EtcError(
        JournalErrorCodes.StationProtocol,
        `station ${what}: answer over the lane's limit of ${MAX_ANSWER_BYTES} bytes` +
          `${declared !== null ? ` (content-length ${declared})` : ""}: not read`,
        { limit: MAX_ANSWER_BYTES, ...(declared !== null ? { contentLength: declared } : {}) },
      );
    });
    return new TextDecoder().decode(buf);
  }

  private async readJson<T>(what: string, res: Response, schema: z.ZodType<T>): Promise<T> {
    const text = await this.readText(what, res, this.opts.requestTimeoutMs);
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new EtcError(
        JournalErrorCodes.StationProtocol,
        `station ${what}: response is not JSON (${text.length} bytes)`,
      );
    }
    const r = schema.safeParse(data);
    if (!r.success) {
      throw new EtcError(
        JournalErrorCodes.StationProtocol,
        `station ${what}: unexpected response: ${r.error.message}`,
      );
    }
    return r.data;
  }

  /** POST /api/v1/transactions with the records' stored JSON passed through unchanged, and their revision. */
  async upload(records: readonly PendingRecord[]): Promise<UploadResult & { bytes: number }> {
    const lane = JSON.stringify(this.lane);
    const parts = records.map(
      (r) =>
        `{"tradeId":${JSON.stringify(r.tradeId)},"seq":${r.seq},"kind":"${r.kind}","revision":${r.revision},` +
        `"record":${r.json}}`,
    );
    const body = `{"lane":${lane},"records":[${parts.join(",")}]}`;
    const out = await this.request("upload", "/api/v1/transactions", { method: "POST", body }, (res) =>
      this.readJson("upload", res, UploadResponse),
    );
    return { ...out, bytes: Buffer.byteLength(body) };
  }

  /**
   * The station's clock from its answer (`{ "serverTime": ISO }`), or null when it gave none we can read.
   * An answer that is not a JSON object (a proxy's or captive portal's page answered 200) is E612: the
   * station was not heard from.
   */
  async heartbeat(body: unknown): Promise<{ serverTimeMs: number | null }> {
    const text = await this.request(
      "heartbeat",
      `/api/v1/lanes/${this.laneId}/heartbeat`,
      { method: "POST", body: JSON.stringify(body) },
      (res) => this.readText("heartbeat", res, this.opts.requestTimeoutMs),
    );
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
    if (data === null || typeof data !== "object" || Array.isArray(data)) {
      throw new EtcError(
        JournalErrorCodes.StationProtocol,
        `station heartbeat: answer is not a JSON object (${text.length} bytes: ${JSON.stringify(cutBody(text, 80))})`,
      );
    }
    const t = (data as { serverTime?: unknown }).serverTime;
    const ms = typeof t === "string" ? Date.parse(t) : Number.NaN;
    return { serverTimeMs: Number.isFinite(ms) ? ms : null };
  }

  /**
   * POST /api/v1/lanes/{laneId}/audit-checkpoints: the station keeps the last checkpoint per lane and
   * answers 409 with it when ours does not extend it (docs/audit.md, "The station as witness").
   */
  async auditCheckpoints(body: { publicKeyPem: string; checkpoints: unknown[] }): Promise<
    | { status: "accepted"; accepted: { n: number; status: "stored" | "duplicate" }[] }
    | {
        status: "conflict";
        current: unknown;
        message: string;
        accepted: { n: number; status: "stored" | "duplicate" }[];
      }
  > {
    const what = "audit checkpoints";
    return this.request(
      what,
      `/api/v1/lanes/${this.laneId}/audit-checkpoints`,
      {
        method: "POST",
        body: JSON.stringify({ publicKey: body.publicKeyPem, checkpoints: body.checkpoints }),
        pass: [409],
      },
      async (res) => {
        if (res.status === 409) {
          const c = await this.readJson(what, res, CheckpointConflict);
          return {
            status: "conflict" as const,
            current: c.current,
            message: c.message,
            accepted: c.accepted,
          };
        }
        const ok = await this.readJson(what, res, CheckpointAccepted);
        return { status: "accepted" as const, accepted: ok.accepted };
      },
    );
  }

  async manifest(held: { full: string | null; delta: string | null }): Promise<Manifest> {
    const q = new URLSearchParams({ full: held.full ?? "", delta: held.delta ?? "" });
    return this.request(
      "status-list manifest",
      `/api/v1/status-list/manifest?${q}`,
      { method: "GET" },
      (res) => this.readJson("status-list manifest", res, ManifestSchema),
    );
  }

  /**
   * Page `p` of a bundle: bytes [p * pageSize, (p + 1) * pageSize) (./bundle-download.ts puts the pages
   * together and checks them against the manifest). Never more of it than that length is read: a longer
   * one (its content-length, else its bytes as they come) is E614; a shorter one is returned as it is
   * (./bundle-download.ts refuses it).
   */
  async bundlePage(info: BundleInfo, p: number): Promise<Buffer> {
    const what = `status-list bundle ${info.name} page ${p + 1}/${info.pages}`;
    const want = Math.max(0, Math.min(info.pageSize, info.bytes - p * info.pageSize));
    return this.request(
      what,
      `/api/v1/status-list/bundles/${encodeURIComponent(info.name)}?page=${p}`,
      { method: "GET", timeoutMs: this.opts.bundleTimeoutMs },
      (res) =>
        this.readCapped(
          what,
          res,
          this.opts.bundleTimeoutMs,
          want,
          (declared) =>
            new EtcError(
              JournalErrorCodes.StatusListBundle,
              `status-list bundle ${info.name}: page ${p + 1}/${info.pages} is longer than the ${want} bytes ` +
                `the manifest's ${info.bytes} bytes in pages of ${info.pageSize} give it` +
                `${declared !== null ? ` (content-length ${declared})` : ""}: not read further`,
              { name: info.name, page: p },
            ),
        ),
    );
  }
}

/**
 * What a fetch failure's cause says: its message, with its code when the message does not carry it (a
 * socket closed: "other side closed (UND_ERR_SOCKET)"), the messages of an AggregateError's errors (every
 * address of a name refused), or null when it says nothing. A port fetch refuses to connect to gets the
 * hint (src/config/station-url.ts refuses it in the lane config).
 */
function causeText(cause: unknown, port: string): string | null {
  if (cause === null || typeof cause !== "object") return null;
  const c = cause as { code?: unknown; message?: unknown; errors?: unknown };
  const code = typeof c.code === "string" ? c.code : "";
  let message = typeof c.message === "string" ? c.message : "";
  if (message === "" && Array.isArray(c.errors))
    message = [...new Set(c.errors.map((x) => String((x as { message?: unknown })?.message ?? x)))].join(
      "; ",
    );
  if (message === "bad port")
    return `bad port: fetch refuses to connect to port ${port} (a port the Fetch Standard blocks): give station.url another port`;
  if (message === "") return code === "" ? null : code;
  return code === "" || message.includes(code) ? message : `${message} (${code})`;
}

const ALNUM = /^[0-9A-Za-z]$/;

/**
 * At most `max` characters of a station's error body for a message, never ending inside a run of letters
 * and digits: a card number cut there would leave up to 19 of its 20 digits, which the masking of the
 * outputs (src/service/format.ts maskCardIds: whole card numbers only) would not recognise. A body cut
 * short ends with "…".
 */
export function cutBody(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max;
  while (end > 0 && ALNUM.test(text.charAt(end - 1)) && ALNUM.test(text.charAt(end))) end--;
  return `${text.slice(0, end)}…`;
}
