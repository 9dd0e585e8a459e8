/**
 * The uplink's status (docs/journal.md "Uplink (src/uplink)"): what it reports (UplinkStatus), its state
 * (computeState), the outbox's figures and the outbox error, the last station failure and when what it
 * reports is over (failed, answered, the E613 rule), and the publication of each status with an
 * `uplink.state` audit entry at every change of state. The uplink (./uplink.ts) tells it what happened.
 */
import { BehaviorSubject, distinctUntilChanged, map, type Observable } from "rxjs";
import { isEtcError } from "../../firmware-bridge/errors.js";
import type { Logger } from "../../firmware-bridge/log.js";
import { JournalErrorCodes } from "../journal/errors.js";
import type { Outbox, QueueAge } from "../journal/outbox.js";
import { type AuditSink, appendSafe } from "./audit-sink.js";
import type { BreakerState, CircuitBreaker } from "./circuit-breaker.js";
import type { StatusListStatus } from "./status-list-poller.js";

export type UplinkState = "online" | "degraded" | "offline";

/** What a station request is for (a step makes one). */
export type RequestKind = "upload" | "heartbeat" | "status-list" | "checkpoints";

export interface UplinkStatus {
  state: UplinkState;
  breaker: BreakerState;
  queueDepth: number;
  /** records the station refused, held out of the queue for an operator (see Journal.requeueHeld) */
  held: number;
  /**
   * how long the queue has waited: since the record queued earliest joined the queue (a settled record
   * joins it again when settled), on the wall clock, and never less than the time this process has seen
   * the head of the queue waiting on the monotonic clock (a wall clock set back hides nothing); null when
   * nothing is queued. Beyond `staleAfterMs` the state is "degraded".
   */
  oldestPendingAgeMs: number | null;
  /**
   * records per upload: `size`, the batch size in use; `max`, the configured `batchSize`. Below `max` after
   * failures the batch may cause (halved down to 1, BATCH_STRIKES in ./batch-sizer.ts), doubled back after BATCH_GROW_AFTER
   * uploads the station answered (docs/station-api.md, "A batch the station does not take")
   */
  batch: { size: number; max: number };
  consecutiveFailures: number;
  lastSuccessAt: string | null;
  /**
   * the last station request that failed, while what it reports stands: E611 (the station could not be
   * reached, or did not answer in time) until the station answers a request; E612 (it answered something
   * the lane could not use, or refused the request) until it answers a request of the same kind (an
   * upload, a heartbeat) usably; E613 (records held) until no record is held, and whenever records are
   * held and no other failure is current (after one that is over, and from the start of a process that
   * finds records held). null: none, or it is over.
   */
  lastError: { code: string; message: string; at: string } | null;
  /**
   * the outbox could not be read (a damaged journal, an I/O error: the journal turns unhealthy and says
   * so), at the last attempt: the journal's failure, never in `lastError` nor counted against the station;
   * null once a read works again. The figures it could not read are the last known (the age null).
   */
  outboxError: { message: string; at: string } | null;
  counters: {
    batches: number;
    recordsAcked: number;
    duplicatesAcked: number;
    /** records the station replaced with a higher revision (a settled suspect) */
    updatesAcked: number;
    rejected: number;
    failures: number;
    breakerOpens: number;
    bytesSent: number;
    heartbeats: number;
  };
  /**
   * The station's clock against the lane's at the last heartbeat the station answered with its time:
   * `skewMs` = station time - the lane's clock at the middle of the exchange (the one-way delay is taken
   * as half the round trip, so the error is at most half of `roundTripMs`). null until measured.
   */
  clock: { skewMs: number; roundTripMs: number; measuredAt: string } | null;
  /** the status-list polls (./status-list-poller.ts); null without a status-list sink */
  statusList: StatusListStatus | null;
}

export interface UplinkStatusDeps {
  outbox: Outbox;
  breaker: Pick<CircuitBreaker, "state" | "consecutiveFailures" | "opens">;
  /** the wall clock, for the times reported */
  now: () => number;
  /** beyond this queue age the state is "degraded" */
  staleAfterMs: number;
  /** the queue's age for the status from the outbox's (./queue-age.ts QueueAgeWatch.ageMs) */
  queueAgeMs: (q: QueueAge | null) => number | null;
  /** the batch size in use and the configured one */
  batch: () => { size: number; max: number };
  /** the status-list view; null without a status-list sink */
  statusList: () => StatusListStatus | null;
  log: Logger;
  audit?: AuditSink;
}

export class UplinkStatusBoard {
  private readonly statusSubject: BehaviorSubject<UplinkStatus>;
  readonly status$: Observable<UplinkStatus>;
  readonly state$: Observable<UplinkState>;
  /** the station answered a request once (until then the state is "offline") */
  private contacted = false;
  private lastSuccessAt: string | null = null;
  private lastError: UplinkStatus["lastError"] = null;
  /** the kind of request whose failure `lastError` reports (answered) */
  private lastErrorKind: RequestKind | null = null;
  /** lastError is an E611 for a request that timed out (answered() clears it only for its kind) */
  private lastErrorTimedOut = false;
  /**
   * The E613 that stands while records are held: the last hold's (held), or, for records held before
   * this process started, one naming how many (outboxFigures); the last error whenever no other is.
   */
  private heldError: UplinkStatus["lastError"] = null;
  /**
   * How many records were held when heldError was last made or confirmed (null: made by a hold, its count
   * not read yet): a status that finds another count (a requeue that left the CONFLICT holds) says the new one.
   */
  private heldErrorFor: number | null = null;
  private outboxError: UplinkStatus["outboxError"] = null;
  private outboxErrorOp: "status" | "pending" | null = null;
  /** the outbox figures of the last status (what a status shows when the outbox cannot be read) */
  private lastFigures = { queueDepth: 0, held: 0 };
  /** the last heartbeat's clock measurement */
  clock: UplinkStatus["clock"] = null;
  readonly counters: UplinkStatus["counters"] = {
    batches: 0,
    recordsAcked: 0,
    duplicatesAcked: 0,
    updatesAcked: 0,
    rejected: 0,
    failures: 0,
    breakerOpens: 0,
    bytesSent: 0,
    heartbeats: 0,
  };

  constructor(private readonly d: UplinkStatusDeps) {
    this.statusSubject = new BehaviorSubject(this.snapshot());
    this.status$ = this.statusSubject.asObservable();
    this.state$ = this.status$.pipe(
      map((s) => s.state),
      distinctUntilChanged(),
    );
  }

  private computeState(f: { held: number; oldestPendingAgeMs: number | null }): UplinkState {
    const b = this.d.breaker.state;
    if (b !== "closed" || !this.contacted) return "offline";
    if (this.d.breaker.consecutiveFailures > 0) return "degraded";
    if (f.held > 0) return "degraded";
    const age = f.oldestPendingAgeMs;
    if (age !== null && age > this.d.staleAfterMs) return "degraded";
    return "online";
  }

  /**
   * The outbox's figures for a status. Never throws: a status is built inside the commit's wake-up and on
   * every step, and an outbox that cannot be read (a damaged journal) must not end the loop or the
   * process; what it could not read is the last known figure (the age null), and `outboxError` says why.
   */
  private outboxFigures(now: Date): { queueDepth: number; held: number; oldestPendingAgeMs: number | null } {
    const f = { ...this.lastFigures, oldestPendingAgeMs: null as number | null };
    try {
      f.queueDepth = this.d.outbox.queueDepth();
      f.held = this.d.outbox.heldCount();
      f.oldestPendingAgeMs = this.d.queueAgeMs(this.d.outbox.queueAge(now));
    } catch (e) {
      this.outboxFailed("status", e);
      return f;
    }
    this.lastFigures = { queueDepth: f.queueDepth, held: f.held };
    this.outboxRead("status");
    if (f.held === 0) {
      // no record is held any more (an operator requeued them, or a settlement queued them again): the
      // station's refusal no longer stands as the last error
      this.heldError = null;
      if (this.lastError?.code === JournalErrorCodes.StationRejected) this.lastError = null;
    } else if (this.lastError === null || this.lastError === this.heldError) {
      // records are held and no other failure is current (it is over, or this process started with them
      // held): E613 stands, with the count as it is now (a requeue that left the CONFLICT holds changes it)
      if (this.heldError !== null && this.heldErrorFor === null) this.heldErrorFor = f.held;
      if (this.heldError === null || this.heldErrorFor !== f.held) {
        this.heldError = {
          code: JournalErrorCodes.StationRejected,
          message: `${f.held} record(s) held for an operator (etc-lane journal requeue-held; --conflicts too for those held for a CONFLICT, once compared)`,
          at: now.toISOString(),
        };
        this.heldErrorFor = f.held;
      }
      this.lastError = this.heldError;
      this.lastErrorKind = null;
    }
    return f;
  }

  /** The outbox could not be read: noted for the status, logged when it starts or its reason changes. */
  outboxFailed(op: "status" | "pending", e: unknown): void {
    const message = e instanceof Error ? e.message : String(e);
    if (this.outboxError?.message !== message)
      this.d.log.error(
        { op, err: message },
        "the outbox cannot be read: the journal's failure, not the station's",
      );
    this.outboxError = { message, at: new Date(this.d.now()).toISOString() };
    this.outboxErrorOp = op;
  }

  /** A read of the kind that failed worked: the outbox error is over. */
  outboxRead(op: "status" | "pending"): void {
    if (this.outboxErrorOp !== op) return;
    this.outboxError = null;
    this.outboxErrorOp = null;
  }

  /** The status now. Never throws (outboxFigures). */
  snapshot(): UplinkStatus {
    const now = new Date(this.d.now());
    const f = this.outboxFigures(now);
    return {
      state: this.computeState(f),
      breaker: this.d.breaker.state,
      queueDepth: f.queueDepth,
      held: f.held,
      oldestPendingAgeMs: f.oldestPendingAgeMs,
      batch: this.d.batch(),
      consecutiveFailures: this.d.breaker.consecutiveFailures,
      lastSuccessAt: this.lastSuccessAt,
      lastError: this.lastError,
      outboxError: this.outboxError,
      counters: { ...this.counters, breakerOpens: this.d.breaker.opens },
      clock: this.clock,
      statusList: this.d.statusList(),
    };
  }

  /** Publishes the status (and an audit entry when the state changed). Never throws (snapshot). */
  publish(): void {
    try {
      this.publishNow();
    } catch (e) {
      this.d.log.error({ err: e instanceof Error ? e.message : String(e) }, "uplink status not published");
    }
  }

  private publishNow(): void {
    const prev = this.statusSubject.value;
    const next = this.snapshot();
    if (prev.state !== next.state) {
      const severity = next.state === "offline" ? "alarm" : next.state === "degraded" ? "warn" : "info";
      this.d.log[severity === "info" ? "info" : "warn"](
        { from: prev.state, to: next.state, queueDepth: next.queueDepth, lastError: next.lastError?.message },
        "uplink state",
      );
      appendSafe(this.d.audit, this.d.log, {
        type: "uplink.state",
        severity,
        message: `station uplink ${prev.state} -> ${next.state}`,
        data: {
          from: prev.state,
          to: next.state,
          queueDepth: next.queueDepth,
          oldestPendingAgeMs: next.oldestPendingAgeMs,
          breaker: next.breaker,
          lastError: next.lastError,
        },
      });
    }
    this.statusSubject.next(next);
  }

  /** No status follows (the uplink stopped). */
  complete(): void {
    this.statusSubject.complete();
  }

  /**
   * A station request of `kind` failed (`e`, an E613 for a record held alone): counted, and the last error
   * until what it reports is over (answered, outboxFigures). Returns its code and message.
   */
  failed(e: unknown, kind: RequestKind | null): { code: string; message: string } {
    const code = isEtcError(e) ? String(e.code) : "E611_STATION_UNREACHABLE";
    const message = e instanceof Error ? e.message : String(e);
    this.counters.failures++;
    this.lastError = { code, message, at: new Date(this.d.now()).toISOString() };
    this.lastErrorKind = kind;
    // a request that timed out reached the station, which then did not answer that request in time: over
    // only once a request of its kind is answered (a heartbeat says nothing of a batch that times out)
    this.lastErrorTimedOut = isEtcError(e) && e.details?.timeout === true;
    return { code, message };
  }

  /** The station refused records, held for an operator: E613 (`message`) is the last error. */
  held(message: string): void {
    this.heldError = {
      code: JournalErrorCodes.StationRejected,
      message,
      at: new Date(this.d.now()).toISOString(),
    };
    this.heldErrorFor = null;
    this.lastError = this.heldError;
  }

  /**
   * The station answered the step's request, of `kind` (it worked): the station is contacted, and the
   * failure `lastError` reports is over when it is E611 (the station is reached again) but a timeout, or a
   * timeout or an E612 of a request of this kind (it now answers that request usably). An E613 stays until
   * no record is held (outboxFigures), a timeout or an E612 of another kind of request until that kind is
   * answered.
   */
  answered(kind: RequestKind | null): void {
    this.contacted = true;
    this.lastSuccessAt = new Date(this.d.now()).toISOString();
    const code = this.lastError?.code;
    const sameKind = this.lastErrorKind === kind;
    if (
      (code === JournalErrorCodes.StationUnreachable && (!this.lastErrorTimedOut || sameKind)) ||
      (code === JournalErrorCodes.StationProtocol && sameKind)
    ) {
      this.lastError = null;
      this.lastErrorKind = null;
    }
  }
}
