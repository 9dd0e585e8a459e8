/**
 * The station simulator's injected faults (docs/station-api.md, "The station simulator"): the modes, and
 * how an /api/* request is answered under each. Switching the mode (and "down", which closes the
 * listener) is the station handle's setFault (./station.ts).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { type ApiResult, type ApiRoutes, sendApiResult } from "./api-routes.js";
import { sendJson } from "./http.js";

export const FAULT_MODES = [
  "none",
  "down",
  "slow",
  "500s",
  "timeouts",
  "reset",
  "ack-lost",
  "record-500",
] as const;
export type FaultMode = (typeof FAULT_MODES)[number];

export function isFaultMode(s: string): s is FaultMode {
  return (FAULT_MODES as readonly string[]).includes(s);
}

/** The longest timer Node keeps (a longer setTimeout fires after 1 ms): the most slowMs and durationMs take. */
export const MAX_FAULT_MS = 2 ** 31 - 1;

/**
 * The trade id "record-500" fails uploads for, as given (it names one record, a string of 1 to 64
 * characters); throws RangeError when it is missing for that mode or not such a string.
 */
export function faultTradeId(mode: FaultMode, v: unknown): string | undefined {
  if (mode !== "record-500") {
    if (v === undefined) return undefined;
    throw new RangeError(`tradeId: only for the record-500 fault, not ${mode}`);
  }
  if (typeof v === "string" && v.length >= 1 && v.length <= 64) return v;
  throw new RangeError(
    `tradeId: the record-500 fault needs the trade id of the record it fails, got ${JSON.stringify(v)}`,
  );
}

/**
 * `slowMs` or `durationMs` (`field`) of a fault as given, undefined when not; throws RangeError naming
 * `field` when it is not a whole number of milliseconds from 0 to MAX_FAULT_MS.
 */
export function faultMs(field: "slowMs" | "durationMs", v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= MAX_FAULT_MS) return v;
  throw new RangeError(
    `${field}: expected a whole number of milliseconds from 0 to ${MAX_FAULT_MS}, got ${shownValue(v)}`,
  );
}

/** A refused option's value as given: a number as itself (JSON.stringify makes NaN and Infinity "null"). */
export function shownValue(v: unknown): string {
  return typeof v === "number" ? String(v) : JSON.stringify(v);
}

/** The current fault and the /api/* requests it holds unanswered. */
export class FaultInjector {
  /** the responses the "timeouts" fault never answers */
  private readonly held = new Set<ServerResponse>();

  /** the record the "record-500" fault fails uploads for */
  tradeId: string | null = null;

  constructor(
    public mode: FaultMode,
    /** delay of the "slow" fault */
    public slowMs: number,
    /** the station's counters (stats()): each request a fault changed is counted */
    private readonly counters: { faultedRequests: number },
  ) {}

  /**
   * Answers an /api/* request (`api` does the work and says the answer) under the mode current as it
   * arrived: "500s" answers 500 without the work, "timeouts" never answers, "slow" waits slowMs once the
   * request's body is read and before the work (`api` calls `hold` between the two, ./api-routes.ts: a
   * client that gives up meanwhile leaves its records stored all the same), "ack-lost" does the work and
   * destroys the socket, "reset" does it and sends half the answer; "record-500" lets the API answer (its
   * upload route asks failUpload).
   */
  async serve(req: IncomingMessage, res: ServerResponse, url: URL, api: ApiRoutes): Promise<void> {
    const m = this.mode;
    if (m === "500s") {
      this.counters.faultedRequests++;
      req.resume();
      return sendJson(res, 500, { error: "INJECTED_500", message: "fault mode 500s" });
    }
    if (m === "timeouts") {
      this.counters.faultedRequests++;
      req.resume();
      this.held.add(res);
      res.on("close", () => this.held.delete(res));
      return; // never answer
    }
    const slowMs = this.slowMs;
    const hold =
      m === "slow" ? () => new Promise<void>((r) => setTimeout(r, slowMs)) : () => Promise.resolve();
    const result = await api(req, url, hold);
    if (m === "ack-lost") {
      this.counters.faultedRequests++;
      req.socket.destroy(); // the work is done, the answer never arrives
      return;
    }
    if (m === "reset") {
      this.counters.faultedRequests++;
      const text = result.raw ?? Buffer.from(JSON.stringify(result.body));
      res.writeHead(result.status, { "content-type": "application/json", "content-length": text.length });
      res.write(text.subarray(0, Math.max(1, Math.floor(text.length / 2))), () => req.socket.destroy());
      return;
    }
    sendApiResult(res, result);
  }

  /**
   * Under "record-500", the answer to an upload that carries the named record (`tradeIds`: those of its
   * well-formed records): 500 without storing anything, as a station whose handler fails on that record
   * while it answers every other request. null: the upload goes on.
   */
  failUpload(tradeIds: readonly string[]): ApiResult | null {
    if (this.mode !== "record-500" || this.tradeId === null || !tradeIds.includes(this.tradeId)) return null;
    this.counters.faultedRequests++;
    return {
      status: 500,
      body: { error: "INJECTED_500", message: `fault mode record-500: record ${this.tradeId}` },
    };
  }

  /** Destroys the responses "timeouts" holds (leaving that mode, or the listener closing). */
  releaseHeld(): void {
    for (const r of this.held) r.destroy();
  }
}
