/**
 * The station uplink: drains the journal's outbox to the station in sequence order, in batches, with
 * retries (capped exponential backoff + jitter) and a circuit breaker; sends heartbeats with the lane's
 * status-list versions; has the station polled for status-list bundles (./status-list-poller.ts).
 *
 * Never loses and never double-counts: a record leaves the outbox only when the station's answer names
 * its trade id; re-sends after a lost answer are harmless because the station stores by trade id.
 * One request is in flight at a time, so the upload order is the journal's sequence order.
 *
 * A batch that keeps failing in a way the batch itself may cause (the station refuses the request with
 * 400 or 413, answers something unusable, does not answer within the request timeout, or answers 5xx while
 * it answers the heartbeat sent after each such failure) is halved, down to one record; one record whose
 * request the station keeps refusing, or keeps failing while it answers heartbeats, is held for an
 * operator, as a record the station names in `rejected` is, so that the queue behind it drains
 * (./batch-sizer.ts, batchFailed, docs/station-api.md "A batch the station does not take").
 */
import { tmpdir } from "node:os";
import { filter, firstValueFrom, type Observable } from "rxjs";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { JournalErrorCodes } from "../journal/errors.js";
import type { HoldItem, Outbox, QueueAge } from "../journal/outbox.js";
import type { LaneIdentity, PendingRecord } from "../journal/types.js";
import { sendCheckpoints, type WitnessOutbox } from "./audit-checkpoints.js";
import { type AuditEvent, type AuditSink, appendSafe } from "./audit-sink.js";
import { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from "./backoff.js";
import { BatchSizer } from "./batch-sizer.js";
import { type BreakerOptions, CircuitBreaker, DEFAULT_BREAKER } from "./circuit-breaker.js";
import { StationClient } from "./station-client.js";
import { StatusListPoller, type StatusListSink } from "./status-list-poller.js";
import { type RequestKind, type UplinkState, type UplinkStatus, UplinkStatusBoard } from "./uplink-status.js";

export type { AuditSink } from "./audit-sink.js";
export { BATCH_GROW_AFTER, BATCH_STRIKES } from "./batch-sizer.js";
export type { StatusListSink, StatusListStatus } from "./status-list-poller.js";

export type { UplinkState, UplinkStatus } from "./uplink-status.js";

/**
 * The outbox failed: it could not be read (a damaged journal, an I/O error), or it could not record what
 * the station answered. The journal's failure, not the station's: no E611, nothing for the breaker.
 */
class OutboxFailed extends Error {
  constructor(
    readonly op: string,
    readonly error: unknown,
  ) {
    super(error instanceof Error ? error.message : String(error));
  }
}

export interface UplinkOptions {
  stationUrl: string;
  outbox: Outbox;
  lane: LaneIdentity;
  statusList?: StatusListSink;
  audit?: AuditSink;
  /** the audit trail's checkpoints, sent when no records wait (src/uplink/audit-checkpoints.ts) */
  auditCheckpoints?: WitnessOutbox;
  logger?: Logger;
  /**
   * records per POST, 1..5000; default 500. Halved while the same batch keeps failing in a way it may
   * cause (BATCH_STRIKES), doubled again after BATCH_GROW_AFTER uploads the station answered
   */
  batchSize?: number;
  /** per request, 100..300 000 ms; default 10 000 */
  requestTimeoutMs?: number;
  /** per bundle page; default 60 000 */
  bundleTimeoutMs?: number;
  backoff?: Partial<BackoffOptions>;
  breaker?: Partial<BreakerOptions>;
  /**
   * where status-list bundles are downloaded before they are applied (a full list is about 480 MB: use
   * the lane's data disk, not a RAM-backed /tmp); default the OS temp directory
   */
  downloadDir?: string;
  /**
   * pages of a status-list bundle per poll, 1..10 000 (between two, an upload batch that waits goes first);
   * default 8 (8 MiB in the station's default 1 MiB pages)
   */
  bundlePagesPerStep?: number;
  /** default 10 000 ms; 0 disables heartbeats */
  heartbeatIntervalMs?: number;
  /** status-list manifest poll interval; default 150 000 ms (2.5 min) */
  statusListPollMs?: number;
  /**
   * queue age (`UplinkStatus.oldestPendingAgeMs`) beyond which the state is "degraded" even if the station
   * answers; default 300 000 ms
   */
  staleAfterMs?: number;
  authToken?: string;
  /** app version reported in heartbeats */
  appVersion?: string;
  fetch?: typeof fetch;
  /** the wall clock, for the times the uplink reports and records; default Date.now */
  now?: () => number;
  /**
   * the clock of the breaker's cool-down, of the heartbeat and status-list schedules and of how long the
   * head of the queue has waited, in ms: one that never steps (a wall clock set back an hour would hold them
   * for the hour); default performance.now
   */
  monotonicNow?: () => number;
  random?: () => number;
}

function checkRange(name: string, v: number, min: number, max: number): number {
  if (!Number.isFinite(v) || v < min || v > max) {
    throw new EtcError(ErrorCodes.ConfigInvalid, `uplink option ${name}: expected ${min}..${max}, got ${v}`, {
      option: name,
    });
  }
  return v;
}

export class Uplink {
  private readonly log: Logger;
  private readonly outbox: Outbox;
  private readonly client: StationClient;
  private readonly backoff: Backoff;
  private readonly breaker: CircuitBreaker;
  private readonly now: () => number;
  private readonly mono: () => number;
  /** the records per POST (./batch-sizer.ts) */
  private readonly sizer: BatchSizer;
  private readonly heartbeatMs: number;
  private readonly pollMs: number;
  private readonly staleAfterMs: number;
  private readonly abort = new AbortController();
  private readonly board: UplinkStatusBoard;
  readonly status$: Observable<UplinkStatus>;
  readonly state$: Observable<UplinkState>;
  private loop: Promise<void> | null = null;
  private stopping = false;
  private wake: (() => void) | null = null;
  private wakeOnCommit = false;
  private publishQueued = false;
  private nextHeartbeatAt = 0;
  private nextPollAt = 0;
  /** the last step was a heartbeat or a status-list poll: an upload batch that waits goes next (step) */
  private uploadNext = false;
  /** the kind of request the step under way makes */
  private requestKind: RequestKind | null = null;
  /**
   * The head of the queue this process watches wait (`seq`), and the monotonic instant from which it has
   * waited (queueAgeMs); null while nothing is queued.
   */
  private headSeen: { seq: number; since: number } | null = null;
  private readonly poller: StatusListPoller | null;
  private commitSub: { unsubscribe(): void } | null = null;
  private checkpointUnsub: (() => void) | null = null;

  constructor(private readonly opts: UplinkOptions) {
    this.log = (opts.logger ?? silentLogger).child({ module: "uplink" });
    this.outbox = opts.outbox;
    this.now = opts.now ?? Date.now;
    this.mono = opts.monotonicNow ?? (() => globalThis.performance.now());
    const batchSize = checkRange("batchSize", opts.batchSize ?? 500, 1, 5000);
    const requestTimeoutMs = checkRange("requestTimeoutMs", opts.requestTimeoutMs ?? 10_000, 100, 300_000);
    const bundleTimeoutMs = checkRange("bundleTimeoutMs", opts.bundleTimeoutMs ?? 60_000, 100, 3_600_000);
    this.heartbeatMs = checkRange("heartbeatIntervalMs", opts.heartbeatIntervalMs ?? 10_000, 0, 3_600_000);
    this.pollMs = checkRange("statusListPollMs", opts.statusListPollMs ?? 150_000, 10, 86_400_000);
    this.staleAfterMs = checkRange("staleAfterMs", opts.staleAfterMs ?? 300_000, 1000, 30 * 86_400_000);
    const bo = { ...DEFAULT_BACKOFF, ...opts.backoff };
    checkRange("backoff.initialMs", bo.initialMs, 1, 600_000);
    checkRange("backoff.maxMs", bo.maxMs, bo.initialMs, 3_600_000);
    checkRange("backoff.jitter", bo.jitter, 0, 1);
    const br = { ...DEFAULT_BREAKER, ...opts.breaker };
    checkRange("breaker.failureThreshold", br.failureThreshold, 1, 1000);
    checkRange("breaker.coolDownMs", br.coolDownMs, 1, 3_600_000);
    try {
      const u = new URL(opts.stationUrl);
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("not http(s)");
    } catch {
      throw new EtcError(
        ErrorCodes.ConfigInvalid,
        `uplink option stationUrl: not an http(s) URL: "${opts.stationUrl}"`,
      );
    }
    const pagesPerStep = checkRange("bundlePagesPerStep", opts.bundlePagesPerStep ?? 8, 1, 10_000);
    this.sizer = new BatchSizer(batchSize, this.log);
    this.backoff = new Backoff(bo, opts.random);
    this.breaker = new CircuitBreaker(br, this.mono);
    this.client = new StationClient(
      {
        baseUrl: opts.stationUrl,
        lane: opts.lane,
        requestTimeoutMs,
        bundleTimeoutMs,
        ...(opts.authToken ? { authToken: opts.authToken } : {}),
        ...(opts.fetch ? { fetch: opts.fetch } : {}),
      },
      this.abort.signal,
    );
    this.poller = opts.statusList
      ? new StatusListPoller({
          sink: opts.statusList,
          client: this.client,
          downloadDir: opts.downloadDir ?? tmpdir(),
          pagesPerStep,
          now: this.now,
          log: this.log,
          ...(opts.audit ? { audit: opts.audit } : {}),
        })
      : null;
    this.board = new UplinkStatusBoard({
      outbox: this.outbox,
      breaker: this.breaker,
      now: this.now,
      staleAfterMs: this.staleAfterMs,
      queueAgeMs: (q) => this.queueAgeMs(q),
      batch: () => ({ size: this.sizer.limit, max: this.sizer.max }),
      statusList: () => this.poller?.status() ?? null,
      log: this.log,
      ...(opts.audit ? { audit: opts.audit } : {}),
    });
    this.status$ = this.board.status$;
    this.state$ = this.board.state$;
  }

  /**
   * The queue's age for the status: the outbox's, on the wall clock (QueueAge.oldestMs: from when the
   * record queued earliest joined the queue), or, when larger, how long this process has seen the head of
   * the queue wait on the monotonic clock, so that a wall clock set back does not hide a queue that does
   * not move. The head is first seen at its wall-clock age; a new one is watched once the one watched has
   * left the queue (the head's seq is then higher: the lowest seq queued). A record that joins ahead of it
   * (a settled record queued again under its seq) does not restart the count: the one watched still waits
   * behind it; once it is acknowledged or held (leftQueue), the head is seen anew.
   */
  /**
   * Records of `batch` left the queue (acknowledged or held): the head watched (queueAgeMs), if it was one of them,
   * is no longer watched, so a record queued again ahead of it meanwhile (a settlement) is seen at its own
   * age, not at the time the one that went had waited.
   */
  private leftQueue(batch: readonly { seq: number }[]): void {
    const seen = this.headSeen;
    if (seen !== null && batch.some((r) => r.seq === seen.seq)) this.headSeen = null;
  }

  private queueAgeMs(q: QueueAge | null): number | null {
    if (q === null) {
      this.headSeen = null;
      return null;
    }
    const mono = this.mono();
    if (this.headSeen === null || q.head.seq > this.headSeen.seq)
      this.headSeen = { seq: q.head.seq, since: mono - q.head.ageMs };
    return Math.max(q.oldestMs, mono - this.headSeen.since);
  }

  /** The audit trail must never stop the uplink: a failed append is logged and dropped. */
  private auditSafe(ev: AuditEvent): void {
    appendSafe(this.opts.audit, this.log, ev);
  }

  status(): UplinkStatus {
    return this.board.snapshot();
  }

  start(): void {
    if (this.loop) return;
    // runs inside Journal.commit(): only flag work here, never do it on the lane's commit path
    this.commitSub = this.outbox.commits$.subscribe(() => {
      if (this.wakeOnCommit) this.wake?.();
      if (!this.publishQueued) {
        this.publishQueued = true;
        setImmediate(() => {
          this.publishQueued = false;
          if (!this.stopping) this.board.publish();
        });
      }
    });
    // a checkpoint queued while the loop sleeps: wake it as a commit would
    this.checkpointUnsub =
      this.opts.auditCheckpoints?.onQueued?.(() => {
        if (this.wakeOnCommit) this.wake?.();
      }) ?? null;
    this.loop = this.run().catch((e: unknown) => {
      this.log.error({ err: e instanceof Error ? e.message : String(e) }, "uplink loop died");
    });
  }

  /** Stops the loop; an in-flight request is aborted (its records stay queued and are re-sent later). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    this.wake?.();
    this.commitSub?.unsubscribe();
    this.checkpointUnsub?.();
    await this.loop;
    this.loop = null;
    this.board.complete();
  }

  /** Resolves when the outbox is empty (or rejects after timeoutMs). */
  async whenDrained(timeoutMs = 60_000): Promise<void> {
    if (this.outbox.queueDepth() === 0) return;
    if (!this.loop) throw new Error("uplink not started");
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        firstValueFrom(this.status$.pipe(filter(() => this.outbox.queueDepth() === 0))),
        new Promise((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(`outbox not drained within ${timeoutMs} ms (${this.outbox.queueDepth()} left)`),
              ),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private sleep(ms: number, wakeOnCommit: boolean): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.wake = null;
        this.wakeOnCommit = false;
        resolve();
      };
      const t = setTimeout(done, Math.max(0, ms));
      this.wake = done;
      this.wakeOnCommit = wakeOnCommit;
      if (wakeOnCommit && (this.recordsToSend() || this.opts.auditCheckpoints?.due())) done();
    });
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      if (!this.breaker.tryAcquire()) {
        this.board.publish();
        await this.sleep(this.breaker.msUntilProbe(), false);
        continue;
      }
      let worked: boolean;
      try {
        worked = await this.step();
      } catch (e) {
        if (this.stopping) break;
        if (e instanceof OutboxFailed) {
          // the journal's failure, not the station's: it could not be read, or could not record the answer
          // the station gave (it turns unhealthy: no records go until it recovers, and the station stores
          // a re-send once by trade id). Not counted, not for the breaker.
          this.breaker.release();
          // a read's failure is in the status already (nextBatch)
          if (e.op !== "pending")
            this.log.error({ err: e.message }, "the journal failed to record the station's answer");
          this.board.publish();
          await this.sleep(this.backoff.next(), false);
          continue;
        }
        this.onFailure(e);
        this.board.publish();
        await this.sleep(this.backoff.next(), false);
        continue;
      }
      if (worked) {
        // the station answers other requests: a 5xx or a timeout of an upload after this says something
        // about the batch (./batch-sizer.ts)
        if (this.requestKind !== "upload") this.sizer.stationAnswered();
        this.breaker.onSuccess();
        this.backoff.reset();
        this.board.answered(this.requestKind);
      } else {
        this.breaker.release(); // nothing was sent: no evidence either way
      }
      this.board.publish();
      if (!worked) {
        const now = this.mono();
        const due = Math.min(
          this.heartbeatMs > 0 ? this.nextHeartbeatAt : Number.POSITIVE_INFINITY,
          this.poller ? this.nextPollAt : Number.POSITIVE_INFINITY,
          now + 60_000,
        );
        await this.sleep(due - now, true);
      }
    }
  }

  /** A station request failed: in the status (the last error), for the breaker, logged. */
  private onFailure(e: unknown): void {
    const { code, message } = this.board.failed(e, this.requestKind);
    const before = this.breaker.opens;
    this.breaker.onFailure();
    const level = this.breaker.opens > before ? "error" : "warn";
    this.log[level](
      { code, err: message, failures: this.breaker.consecutiveFailures, breaker: this.breaker.state },
      "station request failed",
    );
  }

  /**
   * One unit of work. Returns false when nothing was sent (nothing to do). Throws on station failure.
   * Nothing the station fails at holds up the uploads: while records wait, an upload batch goes after each
   * heartbeat and each status-list poll (one bundle each), whatever they met, so neither a heartbeat
   * endpoint that fails or never answers nor a failing or long bundle chain starves the uploads, and an
   * upload backlog starves neither of them; a heartbeat's next one is due an interval after it ended. While
   * records wait, the breaker's probe is an upload batch: what the station does with heartbeats or
   * status lists says nothing about whether it takes records.
   */
  private async step(): Promise<boolean> {
    const now = this.mono();
    const { batch, unread } = this.nextBatch();
    const uploadFirst = batch.length > 0 && (this.uploadNext || this.breaker.state === "half-open");
    this.requestKind = null;
    if (this.heartbeatMs > 0 && now >= this.nextHeartbeatAt && !uploadFirst) {
      this.uploadNext = true;
      this.requestKind = "heartbeat";
      try {
        await this.sendHeartbeat();
      } finally {
        this.nextHeartbeatAt = this.mono() + this.heartbeatMs;
      }
      return true;
    }
    if (this.poller && now >= this.nextPollAt && !uploadFirst) {
      this.uploadNext = true;
      this.requestKind = "status-list";
      // throws when the station cannot be reached (then polled again after the backoff)
      const more = await this.poller.poll();
      this.nextPollAt = more ? 0 : this.mono() + this.pollMs;
      return true;
    }
    this.uploadNext = false;
    if (batch.length > 0) {
      this.requestKind = "upload";
      try {
        await this.uploadBatch(batch);
      } catch (e) {
        throw e instanceof OutboxFailed ? e : await this.batchFailed(batch, e);
      }
      this.sizer.went();
      return true;
    }
    // records wait that could not be read: after the heartbeat and the poll that were due, the backoff
    if (unread) throw unread;
    const cps = this.opts.auditCheckpoints;
    if (cps?.due()) {
      this.requestKind = "checkpoints";
      await sendCheckpoints(this.client, cps);
      return true;
    }
    return false;
  }

  /**
   * The records to send next, if any may go. An outbox that cannot be read gives none and the failure
   * (`unread`, noted in the status at once): heartbeats and polls go on meanwhile.
   */
  private nextBatch(): { batch: PendingRecord[]; unread: OutboxFailed | null } {
    if (!this.recordsToSend()) return { batch: [], unread: null };
    try {
      const batch = this.outbox.pending(this.sizer.limit);
      this.board.outboxRead("pending");
      return { batch, unread: null };
    } catch (e) {
      this.board.outboxFailed("pending", e);
      return { batch: [], unread: new OutboxFailed("pending", e) };
    }
  }

  /**
   * Records wait and may go: not while the journal is unhealthy (it could not record the acknowledgement,
   * and the same batch would go again and again); they go once it has recovered.
   */
  private recordsToSend(): boolean {
    return this.outbox.healthy !== false && this.outbox.queueDepth() > 0;
  }

  /** An outbox read or write; its failure is the journal's, not the station's. */
  private fromOutbox<T>(op: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      throw new OutboxFailed(op, e);
    }
  }

  private async sendHeartbeat(): Promise<void> {
    const s = this.board.snapshot();
    const sentAt = this.now();
    const answer = await this.client.heartbeat({
      lane: this.client.lane,
      time: new Date(this.now()).toISOString(),
      appVersion: this.opts.appVersion ?? null,
      uplink: { state: s.state, queueDepth: s.queueDepth, oldestPendingAgeMs: s.oldestPendingAgeMs },
      statusList: this.opts.statusList
        ? {
            ...this.opts.statusList.versions(),
            confirmedAt: s.statusList?.confirmedAt ?? null,
            lastError: s.statusList?.lastError ?? null,
          }
        : null,
    });
    this.board.counters.heartbeats++;
    if (answer.serverTimeMs !== null) {
      const back = this.now();
      this.board.clock = {
        skewMs: answer.serverTimeMs - (sentAt + back) / 2,
        roundTripMs: back - sentAt,
        measuredAt: new Date(back).toISOString(),
      };
    }
  }

  private async uploadBatch(batch: ReturnType<Outbox["pending"]>): Promise<void> {
    const res = await this.client.upload(batch);
    this.board.counters.batches++;
    this.board.counters.bytesSent += res.bytes;
    // each acknowledgement is for the revision this batch carried (a record settled meanwhile stays queued)
    const sent = new Map(batch.map((r) => [r.tradeId, r.revision]));
    const acked = res.accepted
      .filter((a) => sent.has(a.tradeId))
      .map((a) => ({ tradeId: a.tradeId, revision: sent.get(a.tradeId)! }));
    // the acknowledgement's audit entry follows the records' own: let their lines land first (built off
    // the lane thread, within about TAKE_EVERY_MS, at most about LATE_MS + TAKE_EVERY_MS in
    // src/audit/record-queue.ts), so that the entry does not make the lane thread build them. A crash
    // meanwhile loses only this answer: the batch is sent again and the station answers duplicate.
    if (acked.length > 0 || res.rejected.length > 0) await this.outbox.recordsWritten?.();
    // the station's answer is durable at the station; record it durably here before anything else
    const n =
      acked.length > 0
        ? this.fromOutbox("markUploaded", () => this.outbox.markUploaded(acked, new Date(this.now())))
        : 0;
    this.board.counters.recordsAcked += n;
    this.board.counters.duplicatesAcked += res.accepted.filter((a) => a.status === "duplicate").length;
    this.board.counters.updatesAcked += res.accepted.filter((a) => a.status === "updated").length;
    const ackedIds = new Set(acked.map((a) => a.tradeId));
    const refused = res.rejected.filter(
      (r) => r.tradeId !== null && sent.has(r.tradeId) && !ackedIds.has(r.tradeId),
    );
    if (refused.length > 0) {
      // keep the queue moving: the refused records are held (kept, never pruned) for an operator
      // each refusal is of the revision this batch carried: a record settled meanwhile stays queued
      this.holdRefused(
        refused.map((r) => ({
          tradeId: r.tradeId!,
          code: r.code,
          message: r.message ?? "",
          revision: sent.get(r.tradeId!)!,
        })),
      );
    }
    if (acked.length > 0 || refused.length > 0) this.leftQueue(batch);
    if (acked.length === 0 && refused.length === 0) {
      throw new EtcError(
        JournalErrorCodes.StationProtocol,
        `station acknowledged none of ${batch.length} records`,
      );
    }
  }

  /**
   * Holds records the station refused (kept, never pruned, out of the queue until an operator requeues
   * them): E613 as the last error, logged, and an `uplink.records-held` alarm. Returns how many were held:
   * none when each refused revision has been replaced meanwhile (a settlement; the new one goes next).
   */
  private holdRefused(items: HoldItem[]): number {
    const held = this.fromOutbox("hold", () => this.outbox.hold(items, new Date(this.now())));
    this.board.counters.rejected += held;
    const first = items[0]!;
    if (held === 0) {
      this.log.warn(
        { refused: items.slice(0, 10) },
        "station refused revisions the records have since replaced: nothing held",
      );
      return 0;
    }
    this.board.held(
      `station refused ${items.length} record(s), first ${first.tradeId}: ${first.code} ${first.message}`,
    );
    this.log.error({ refused: items.slice(0, 10), held }, "station refused records: held out of the queue");
    // a journal bound to the trail wrote the entry in the hold's own transaction, naming the seqs it held
    if (!this.outbox.bindsAudit)
      this.auditSafe({
        type: "uplink.records-held",
        severity: "alarm",
        message: `station refused ${items.length} record(s); held for an operator (first ${first.tradeId}: ${first.code})`,
        data: {
          tradeIds: items.slice(0, 50).map((r) => r.tradeId),
          codes: [...new Set(items.map((r) => r.code))],
        },
      });
    return held;
  }

  /**
   * An upload failed (not the outbox: the station, or no answer): the sizer (./batch-sizer.ts) decides
   * whether the batch is halved or its one record held; a hold is done here, as a record the station names
   * in `rejected` is held, so that the queue behind it drains. Returns the error to report: E613 naming
   * the record it held, else `e`.
   */
  private async batchFailed(batch: readonly PendingRecord[], e: unknown): Promise<unknown> {
    const d = this.sizer.failed(batch, e);
    // a 5xx or a timeout: is the station up? A heartbeat goes before the batch goes again
    if (d.askStation && this.heartbeatMs > 0) this.nextHeartbeatAt = 0;
    if (!d.hold) return e;
    const head = batch[0]!;
    const err = e as EtcError;
    const status = err.details?.status;
    await this.outbox.recordsWritten?.(); // as before any hold (uploadBatch)
    const held = this.holdRefused([
      { tradeId: head.tradeId, code: d.code, message: err.message, revision: head.revision },
    ]);
    if (held === 0) return e;
    return new EtcError(
      JournalErrorCodes.StationRejected,
      `station ${d.verb} the request of record ${head.tradeId} (seq ${head.seq}) alone ${d.count} times` +
        `${d.verb === "failed" ? " while answering other requests" : ""}: held for an operator (${err.message})`,
      { ...(status !== undefined ? { status } : {}), tradeId: head.tradeId, seq: head.seq },
      { cause: e },
    );
  }
}
