/**
 * The records per upload (docs/station-api.md "A batch the station does not take"): a batch that keeps
 * failing in a way the batch itself may cause is halved, down to one record, and one record whose request
 * the station keeps refusing is to be held for an operator (the uplink holds it, ./uplink.ts batchFailed);
 * answered uploads double the size back. Pure: what a failure says, and the counts, no HTTP, no outbox.
 */
import { type EtcError, isEtcError } from "../../firmware-bridge/errors.js";
import type { Logger } from "../../firmware-bridge/log.js";
import { JournalErrorCodes } from "../journal/errors.js";

/**
 * Failures of the batch's kind (batchFault), for the same head of the queue at the same batch size, that
 * halve the batch; at one record, the station's refusals of the request (400, 413) that hold it.
 */
export const BATCH_STRIKES = 2;

/**
 * At one record, the station's failures of the request (500, 502, 504, or no answer in time) while it
 * answers other requests (each failure counted only after another request of the lane was answered since
 * the one before: `stationAnswered`; a 502 or 504 only after an upload answered since the record first met
 * one) that hold it: a record the station cannot take (its handler crashes on it), which would otherwise
 * block the queue for ever.
 */
export const BATCH_ERROR_STRIKES = 3;

/**
 * Uploads the station answers at a batch size batchFailed lowered, with no failure of the batch's kind
 * between (batchFault), before the size doubles again (up to `batchSize`). Not at once: a link too slow
 * for the configured size would time out twice after every batch that passes, each failed request a whole
 * timeout with its bytes sent for nothing.
 */
export const BATCH_GROW_AFTER = 16;

/**
 * What an upload's failure says about its batch. "refused": the station refused the request itself (HTTP
 * 400 or 413), as it will refuse the same records again. "unusable": it answered in a way the batch may
 * cause (an answer that is not JSON, not of the shape or naming none of the batch). "timeout": no answer
 * within the request timeout (a large batch on a slow link, or a station whose handler hangs on a record).
 * "server": HTTP 500 (the station is away, or its handler fails on a record of the batch: only the station
 * answering other requests tells which, BatchSizer.failed). "gateway": HTTP 502 or 504 (a gateway with no
 * station behind it, or one whose station failed or hung on a record of the batch): halves as a 500 does,
 * but holds a record only when an upload was answered since its first 502 or 504 (BatchSizer.failed).
 * null: it says nothing about the batch (a refused or reset connection, 408, 429, 503 and every 5xx but
 * 500, 502, 504: a station overloaded or in maintenance, away; another 4xx, as a bad token, refuses any
 * request alike; the uplink stopping).
 */
export function batchFault(e: unknown): "refused" | "unusable" | "timeout" | "server" | "gateway" | null {
  if (!isEtcError(e)) return null;
  const status = e.details?.status;
  if (e.code === JournalErrorCodes.StationProtocol) {
    if (status === undefined) return "unusable";
    return status === 400 || status === 413 ? "refused" : null;
  }
  if (e.code === JournalErrorCodes.StationUnreachable) {
    if (e.details?.timeout === true) return "timeout";
    if (status === 500) return "server";
    if (status === 502 || status === 504) return "gateway";
  }
  return null;
}

/** What the sizer needs of a queued record: the head of a batch. */
export interface BatchHead {
  seq: number;
  revision: number;
  tradeId: string;
}

/**
 * What to do after a failed upload. `hold`: hold the one record of the batch (`code`, as `HTTP_400` or
 * `TIMEOUT`; `count`: the failures that decided it; `verb`: the station "refused" the request, or
 * "failed" it while answering others). `askStation`: the failure is one
 * the station answering another request would make count (500, timeout): ask it (a heartbeat) before the
 * batch goes again.
 */
export type BatchDecision =
  | { hold: false; askStation: boolean }
  | { hold: true; askStation: boolean; code: string; count: number; verb: "refused" | "failed" };

export class BatchSizer {
  /** the records per POST now: `max`, halved by failed, doubled back by went */
  private size: number;
  /** below `max`: uploads answered since the last failure of the batch's kind (went, failed) */
  private answeredAtLimit = 0;
  /** the failures of the batch's kind at this head of the queue and batch limit (failed) */
  private strikes: {
    seq: number;
    revision: number;
    limit: number;
    failures: number;
    refusals: number;
    /** 500s and timeouts counted while the station answered other requests */
    errors: number;
  } | null = null;
  /** the station answered a request other than an upload since the last upload's 500, 502, 504 or timeout */
  private witness = false;
  /** uploads answered so far (went) */
  private answered = 0;
  /**
   * The records a 502 or 504 met, as seq ranges, each with `answered` when it first met them, in the
   * order met; the ranges below the head of the queue are dropped (failed): an upload answered since a
   * record's first 502 or 504 (the earlier halves of its batch got through) is what lets one hold it.
   */
  private gatewayMet: { from: number; to: number; answered: number }[] = [];

  constructor(
    /** the configured `batchSize` */
    readonly max: number,
    private readonly log: Logger,
  ) {
    this.size = max;
  }

  /** the records per POST now */
  get limit(): number {
    return this.size;
  }

  /** The station answered a request other than an upload (a heartbeat, a status-list poll, checkpoints). */
  stationAnswered(): void {
    this.witness = true;
  }

  /**
   * An upload of `batch` failed with `e` (the station, or no answer; not the outbox). A failure of the
   * batch's kind (batchFault) counts against the head of the queue at this batch limit: at BATCH_STRIKES
   * of them a batch of more than one record is halved; a batch of one record whose request the station
   * refused (400, 413) BATCH_STRIKES times, or failed (500, timeout) BATCH_ERROR_STRIKES times while
   * answering other requests, is to be held. A 500, 502 or 504 counts only when the station answered
   * another request since the upload's last 500, 502, 504 or timeout (`stationAnswered`): otherwise the
   * station is away, as it is for a failure of no kind of the batch's, which neither counts nor resets
   * the count. A 502 or 504 of one record counts towards its hold only when an upload was answered since
   * the record first met a 502 or 504 (in this batch or a larger one): a record at the head from the
   * first 502 or 504 with no upload answered since is never held for them, as nothing tells it from a
   * station away behind its gateway (the queue waits, backing off, its age alarmed).
   */
  failed(batch: readonly BatchHead[], e: unknown): BatchDecision {
    const fault = batchFault(e);
    if (fault === null) return { hold: false, askStation: false };
    const askStation = fault === "server" || fault === "timeout" || fault === "gateway";
    const witnessed = askStation && this.witness;
    if (askStation) this.witness = false;
    const evidence = fault === "gateway" && this.gatewayMeet(batch);
    if ((fault === "server" || fault === "gateway") && !witnessed) return { hold: false, askStation };
    this.answeredAtLimit = 0; // the answers that double the size must come with no such failure between
    const head = batch[0]!;
    let s = this.strikes;
    // a settled suspect comes back at the head as another revision: its refusals start again
    if (s === null || s.seq !== head.seq || s.revision !== head.revision || s.limit !== this.size) {
      s = { seq: head.seq, revision: head.revision, limit: this.size, failures: 0, refusals: 0, errors: 0 };
      this.strikes = s;
    }
    s.failures++;
    if (fault === "refused") s.refusals++;
    if (witnessed && (fault !== "gateway" || evidence)) s.errors++;
    const err = e as EtcError;
    if (batch.length > 1) {
      if (s.failures < BATCH_STRIKES) return { hold: false, askStation };
      this.size = Math.floor(batch.length / 2);
      this.answeredAtLimit = 0;
      this.strikes = null;
      this.log.warn(
        { head: head.tradeId, seq: head.seq, from: batch.length, to: this.size, err: err.message },
        "the same upload batch failed again: halved",
      );
      return { hold: false, askStation };
    }
    const status = err.details?.status;
    const code = fault === "timeout" ? "TIMEOUT" : `HTTP_${status}`;
    if (s.refusals >= BATCH_STRIKES) {
      this.heldHead();
      return { hold: true, askStation, code, count: s.refusals, verb: "refused" };
    }
    if (s.errors >= BATCH_ERROR_STRIKES) {
      this.heldHead();
      return { hold: true, askStation, code, count: s.errors, verb: "failed" };
    }
    return { hold: false, askStation };
  }

  /**
   * The head record is held: its strikes end, and so does the evidence the uploads answered before it
   * gave: the records after it that met a 502 or 504 with it need an upload answered from now on (else an
   * upload path that went down after a few answers would hold the rest of their range one by one, with no
   * new answer between them).
   */
  private heldHead(): void {
    this.strikes = null;
    for (const r of this.gatewayMet) r.answered = this.answered;
  }

  /**
   * A 502 or 504 met `batch`: notes the records it met first, drops the ranges below its head. Returns
   * whether an upload was answered since the head first met one.
   */
  private gatewayMeet(batch: readonly BatchHead[]): boolean {
    const head = batch[0]!.seq;
    const last = batch[batch.length - 1]!.seq;
    this.gatewayMet = this.gatewayMet.filter((r) => r.to >= head);
    // the earliest range that met it (a record requeued below the ranges kept is met afresh)
    const firstMet = () => this.gatewayMet.find((r) => r.from <= head && head <= r.to);
    const top = this.gatewayMet.reduce((m, r) => Math.max(m, r.to), head - 1);
    if (firstMet() === undefined) this.gatewayMet.push({ from: head, to: last, answered: this.answered });
    else if (last > top) this.gatewayMet.push({ from: top + 1, to: last, answered: this.answered });
    return this.answered > firstMet()!.answered;
  }

  /**
   * The station answered an upload about its records. Below the configured size, BATCH_GROW_AFTER answers
   * with no failure of the batch's kind between double the batch size (up to `max`); a batch that fails
   * again is halved again.
   */
  went(): void {
    this.strikes = null;
    this.answered++;
    if (this.size >= this.max) return;
    if (++this.answeredAtLimit < BATCH_GROW_AFTER) return;
    const to = Math.min(this.max, this.size * 2);
    this.log.info({ from: this.size, to }, "upload batch size doubled");
    this.size = to;
    this.answeredAtLimit = 0;
  }
}
