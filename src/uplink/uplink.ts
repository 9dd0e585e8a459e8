/**
 * The station uplink: drains the journal's outbox to the station in sequence order, in batches, with
 * retries (capped exponential backoff + jitter) and a circuit breaker; sends heartbeats with the lane's
 * status-list versions; has the station polled for status-list bundles. This file is the scheduler: the
 * loop (run), the turn order of a step, sleeping and waking, start/stop/whenDrained, the breaker and the
 * backoff. The rest: ./uplink-options.ts (options, ranges, defaults), ./record-upload.ts (an upload and
 * its answer, holds), ./batch-sizer.ts (the batch size), ./heartbeat.ts, ./status-list-poller.ts,
 * ./queue-age.ts, ./uplink-status.ts (the status, the last error, the uplink.state entries).
 *
 * Never loses and never double-counts: a record leaves the outbox only when the station's answer names
 * its trade id; re-sends after a lost answer are harmless because the station stores by trade id.
 * One request is in flight at a time, so the upload order is the journal's sequence order.
 *
 * A batch that keeps failing in a way the batch itself may cause (the station refuses the request with
 * 400 or 413, answers something unusable, does not answer within the request timeout, or answers 500 while
 * it answers the heartbeat sent after each such failure) is halved, down to one record; one record whose
 * request the station keeps refusing, or keeps failing while it answers heartbeats, is held for an
 * operator, as a record the station names in `rejected` is, so that the queue behind it drains
 * (./batch-sizer.ts, batchFailed, docs/station-api.md "A batch the station does not take").
 */
import { tmpdir } from "node:os";
import { filter, firstValueFrom, type Observable } from "rxjs";
import { EtcError } from "../../firmware-bridge/errors.js";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { JournalErrorCodes } from "../journal/errors.js";
import type { Outbox } from "../journal/outbox.js";
import type { PendingRecord } from "../journal/types.js";
import { sendCheckpoints } from "./audit-checkpoints.js";
import { Backoff, type BackoffOptions } from "./backoff.js";
import { BatchSizer } from "./batch-sizer.js";
import { CircuitBreaker } from "./circuit-breaker.js";
import { sendHeartbeat } from "./heartbeat.js";
import { QueueAgeWatch } from "./queue-age.js";
import { OutboxFailed, RecordUpload } from "./record-upload.js";
import { StationClient } from "./station-client.js";
import { StatusListPoller } from "./status-list-poller.js";
import { checkedOptions, type UplinkOptions } from "./uplink-options.js";
import { type RequestKind, type UplinkState, type UplinkStatus, UplinkStatusBoard } from "./uplink-status.js";

export type { AuditSink } from "./audit-sink.js";
export { BATCH_GROW_AFTER, BATCH_STRIKES } from "./batch-sizer.js";
export type { StatusListSink, StatusListStatus } from "./status-list-poller.js";
export type { UplinkOptions } from "./uplink-options.js";
export type { UplinkState, UplinkStatus } from "./uplink-status.js";

export class Uplink {
  private readonly log: Logger;
  private readonly outbox: Outbox;
  private readonly client: StationClient;
  /**
   * the backoff per kind of request (backoffOf): a failure defers its kind alone by its kind's next delay
   * (deferredUntil), and only a success of the same kind starts it again, so that a station answering
   * heartbeats while it fails every upload does not keep the uploads' retries at the first delay
   */
  private readonly backoffs = new Map<RequestKind, Backoff>();
  /**
   * when a kind of request that failed may go again (monotonic ms; absent: now). The loop keeps serving
   * the other kinds meanwhile (turn): a failing heartbeat, status-list or checkpoint endpoint never holds up
   * the uploads, nor do failing uploads hold up the rest.
   */
  private readonly deferredUntil = new Map<RequestKind, number>();
  private readonly backoffOptions: BackoffOptions;
  private readonly breaker: CircuitBreaker;
  private readonly now: () => number;
  private readonly mono: () => number;
  /** an upload and its answer (./record-upload.ts) */
  private readonly records: RecordUpload;
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
  /** the sleep under way ends when the status list's apply settles (not a backoff's: sleep) */
  private wakeOnApplied = false;
  private publishQueued = false;
  private nextHeartbeatAt = 0;
  private nextPollAt = 0;
  /** the last step was a heartbeat or a status-list poll: an upload batch that waits goes next (turn) */
  private uploadNext = false;
  /**
   * an upload got a 500 or no answer in time, and the sizer asks whether the station is up: the heartbeat
   * goes next, before the batch goes again, as the breaker's probe too when it opened (turn; heartbeats on
   * only; cleared when a heartbeat goes)
   */
  private askStation = false;
  /** the kind of request the step under way makes */
  private requestKind: RequestKind | null = null;
  /** how long the queue has waited (./queue-age.ts) */
  private readonly queueAge: QueueAgeWatch;
  private readonly poller: StatusListPoller | null;
  private commitSub: { unsubscribe(): void } | null = null;
  private checkpointUnsub: (() => void) | null = null;

  constructor(private readonly opts: UplinkOptions) {
    this.log = (opts.logger ?? silentLogger).child({ module: "uplink" });
    this.outbox = opts.outbox;
    this.now = opts.now ?? Date.now;
    this.mono = opts.monotonicNow ?? (() => globalThis.performance.now());
    const { batchSize, requestTimeoutMs, bundleTimeoutMs, bo, br, pagesPerStep, ...o } = checkedOptions(opts);
    this.heartbeatMs = o.heartbeatMs;
    this.pollMs = o.pollMs;
    this.staleAfterMs = o.staleAfterMs;
    this.sizer = new BatchSizer(batchSize, this.log);
    this.queueAge = new QueueAgeWatch(this.mono);
    this.backoffOptions = bo;
    // only the uploads' failures open it (a failed probe of any kind reopens it): ./circuit-breaker.ts
    this.breaker = new CircuitBreaker(br, this.mono, (kind) => kind === "upload");
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
      queueAgeMs: (q) => this.queueAge.ageMs(q),
      batch: () => ({ size: this.sizer.limit, max: this.sizer.max }),
      statusList: () => this.poller?.status() ?? null,
      log: this.log,
      ...(opts.audit ? { audit: opts.audit } : {}),
    });
    this.records = new RecordUpload({
      client: this.client,
      outbox: this.outbox,
      board: this.board,
      queueAge: this.queueAge,
      now: this.now,
      log: this.log,
      ...(opts.audit ? { audit: opts.audit } : {}),
    });
    this.status$ = this.board.status$;
    this.state$ = this.board.state$;
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

  /**
   * Stops the loop; an in-flight request is aborted (its records stay queued and are re-sent later). A
   * status-list apply under way (a full list's build: tens of seconds) is not waited for and goes on:
   * `statusListApplied()` resolves once its outcome is recorded (the lane's close abandons it first,
   * src/lane/runtime.ts). No other apply starts.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.poller?.stop();
    this.abort.abort();
    this.wake?.();
    this.commitSub?.unsubscribe();
    this.checkpointUnsub?.();
    await this.loop;
    this.loop = null;
    this.board.complete();
  }

  /** A status-list apply is under way (./status-list-poller.ts `applying`). */
  get applyingStatusList(): boolean {
    return this.poller?.applying != null;
  }

  /** Resolves once the status-list apply under way, if any, has settled and its outcome is recorded. */
  async statusListApplied(): Promise<void> {
    await this.poller?.applying;
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

  /**
   * Sleeps `ms`; a commit or a checkpoint queued ends it (`wakeOnCommit`: the loop is idle), as does the
   * status-list apply settling unless it is a backoff's sleep (`wakeOnApplied`). Work that is there
   * already (records to send, a checkpoint due) ends it too, but never at once: through a macrotask
   * (setImmediate), so that a loop whose step finds nothing to do while the figures say there is (an
   * outbox count its rows do not match) still lets timers and I/O run between its steps.
   */
  private sleep(ms: number, wakeOnCommit: boolean, wakeOnApplied = true): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      let settled = false;
      const done = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(t);
        // a later sleep's wake-up is its own (the setImmediate below may fire after a commit woke this one)
        if (this.wake === done) {
          this.wake = null;
          this.wakeOnCommit = false;
          this.wakeOnApplied = false;
        }
        resolve();
      };
      const t = setTimeout(done, Math.max(0, ms));
      this.wake = done;
      this.wakeOnCommit = wakeOnCommit;
      this.wakeOnApplied = wakeOnApplied;
      if (wakeOnCommit && (this.uploadReady() || this.checkpointsReady())) setImmediate(done);
    });
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      if (!this.breaker.tryAcquire()) {
        // open: no upload and no heartbeat until the cool-down ends; a status-list poll keeps its schedule
        if (this.pollDue(this.mono())) await this.pollBesideBreaker();
        this.board.publish();
        await this.sleep(this.msUntilProbeOrPoll(), false);
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
          // the records' path: the uploads' backoff, started again by an upload that goes
          this.defer("upload");
          continue;
        }
        this.onFailure(e);
        this.board.publish();
        // that kind alone waits its backoff; the others go on (turn)
        this.defer(this.requestKind ?? "upload");
        continue;
      }
      if (worked) {
        // the station answers other requests: a 500, 502, 504 or a timeout of an upload after this says something
        // about the batch (./batch-sizer.ts)
        if (this.requestKind !== "upload") this.sizer.stationAnswered();
        // its own kind's count and backoff only (a heartbeat answered says nothing of the uploads), or, the
        // breaker's probe, every count
        this.breaker.onSuccess(this.requestKind ?? "");
        this.backoffOf(this.requestKind).reset();
        this.deferredUntil.delete(this.requestKind ?? "upload");
        this.board.answered(this.requestKind);
      } else {
        this.breaker.release(); // nothing was sent: no evidence either way
      }
      this.board.publish();
      if (!worked) {
        const now = this.mono();
        const cpsDue = this.opts.auditCheckpoints?.due() === true;
        const due = Math.min(
          this.heartbeatMs > 0
            ? Math.max(this.nextHeartbeatAt, this.readyAt("heartbeat"))
            : Number.POSITIVE_INFINITY,
          this.poller ? Math.max(this.nextPollAt, this.readyAt("status-list")) : Number.POSITIVE_INFINITY,
          this.recordsToSend() ? this.readyAt("upload") : Number.POSITIVE_INFINITY,
          cpsDue ? this.readyAt("checkpoints") : Number.POSITIVE_INFINITY,
          now + 60_000,
        );
        await this.sleep(due - now, true);
      }
    }
  }

  /**
   * A status-list poll while the breaker is open, beside it: a failing upload endpoint must not stop list
   * updates (docs/station-api.md "Status lists"). Neither the breaker's probe nor counted by it (the probe
   * is what reopens or closes it, turn); its answer witnesses the station for the sizer (a 500 of the next
   * upload counts, ./batch-sizer.ts) and is in the status, as its failure is (the next poll due an interval
   * later, poll).
   */
  private async pollBesideBreaker(): Promise<void> {
    try {
      await this.poll(true);
    } catch (e) {
      if (this.stopping) return;
      const { code, message } = this.board.failed(e, "status-list");
      this.log.warn({ code, err: message, breaker: this.breaker.state }, "station request failed");
      return;
    }
    this.sizer.stationAnswered();
    this.board.answered("status-list");
  }

  /** A status-list poll is due (there is a status list to poll, and no failure defers it). */
  private pollDue(now: number): boolean {
    return this.poller !== null && now >= this.nextPollAt && this.ready("status-list", now);
  }

  /** When `kind` may go again after its failures (deferredUntil; 0: now). */
  private readyAt(kind: RequestKind): number {
    return this.deferredUntil.get(kind) ?? 0;
  }

  /** No failure defers `kind` at `now`. */
  private ready(kind: RequestKind, now = this.mono()): boolean {
    return now >= this.readyAt(kind);
  }

  /** `kind` failed: it alone may go again after its backoff's next delay. */
  private defer(kind: RequestKind): void {
    this.deferredUntil.set(kind, this.mono() + this.backoffOf(kind).next());
  }

  /** While the breaker is open: ms until its probe may go or the next status-list poll is due. */
  private msUntilProbeOrPoll(): number {
    const probe = this.breaker.msUntilProbe();
    return this.poller ? Math.min(probe, this.nextPollAt - this.mono()) : probe;
  }

  /** The backoff of a kind of request (an upload's also for the outbox's failures, run). */
  private backoffOf(kind: RequestKind | null): Backoff {
    const k = kind ?? "upload";
    let b = this.backoffs.get(k);
    if (!b) {
      b = new Backoff(this.backoffOptions, this.opts.random);
      this.backoffs.set(k, b);
    }
    return b;
  }

  /** A station request failed: in the status (the last error), for the breaker (its kind's count), logged. */
  private onFailure(e: unknown): void {
    const { code, message } = this.board.failed(e, this.requestKind);
    const before = this.breaker.opens;
    this.breaker.onFailure(this.requestKind ?? "");
    const level = this.breaker.opens > before ? "error" : "warn";
    this.log[level](
      { code, err: message, failures: this.breaker.consecutiveFailures, breaker: this.breaker.state },
      "station request failed",
    );
  }

  /**
   * One unit of work. Returns false when nothing was sent (nothing to do). Throws on station failure.
   * What goes is `turn`'s choice.
   */
  private async step(): Promise<boolean> {
    const { batch, unread } = this.nextBatch();
    this.requestKind = null;
    const turn = this.turn(this.mono(), batch.length > 0);
    if (turn === "heartbeat") {
      this.uploadNext = true;
      this.askStation = false;
      this.requestKind = "heartbeat";
      try {
        const s = this.board.snapshot();
        const clock = await sendHeartbeat(
          this.client,
          s,
          this.opts.statusList,
          this.opts.appVersion,
          this.now,
        );
        this.board.counters.heartbeats++;
        if (clock !== null) this.board.clock = clock;
      } finally {
        this.nextHeartbeatAt = this.mono() + this.heartbeatMs;
      }
      return true;
    }
    if (turn === "status-list") return this.poll(false);
    this.uploadNext = false;
    if (turn === "upload") {
      this.requestKind = "upload";
      try {
        await this.records.upload(batch);
      } catch (e) {
        throw e instanceof OutboxFailed ? e : await this.batchFailed(batch, e);
      }
      this.sizer.went();
      return true;
    }
    // records wait that could not be read: after the heartbeat and the poll that were due, the backoff
    if (unread) throw unread;
    const cps = this.opts.auditCheckpoints;
    if (cps?.due() && this.ready("checkpoints")) {
      this.requestKind = "checkpoints";
      await sendCheckpoints(this.client, cps);
      return true;
    }
    return false;
  }

  /**
   * What this step sends (the breaker closed or half-open; open, only a poll goes, run). Nothing the station
   * fails at holds up the uploads: while records wait, an upload batch goes after each heartbeat and each
   * status-list poll (one bundle each), whatever they met, so neither a heartbeat endpoint that fails or
   * never answers nor a failing or long bundle chain starves the uploads, and an upload backlog starves
   * neither of them; a heartbeat's next one is due an interval after it ended, or at once after an upload's
   * 500, 502, 504 or timeout (`askStation`: is the station up? Its answer witnesses it, ./batch-sizer.ts).
   * While records wait, the breaker's probe is that heartbeat when an upload's failure asked for it, else an
   * upload batch: the probes alternate while both fail so, and neither a heartbeat endpoint that keeps
   * failing nor an upload that keeps failing holds up the other (a station that refuses or rate-limits
   * uploads, 400, 413, 429, or is overloaded or in maintenance, 503, is asked nothing and gets one
   * upload per cool-down: its answered heartbeats neither close the breaker nor start the uploads' count or
   * backoff again, run). Heartbeats off, the probe is the upload. A kind a failure defers (defer) is not
   * chosen until its backoff is over; the others are (an upload's 500 asks the station once the uploads'
   * backoff is over).
   */
  private turn(now: number, records: boolean): "heartbeat" | "status-list" | "upload" | null {
    const heartbeat = this.heartbeatMs > 0 && this.ready("heartbeat", now);
    if (records) {
      if (this.breaker.state === "half-open") return this.askStation && heartbeat ? "heartbeat" : "upload";
      if (this.uploadNext) return "upload";
      if (this.askStation && heartbeat) return "heartbeat";
    }
    if (heartbeat && now >= this.nextHeartbeatAt) return "heartbeat";
    if (this.pollDue(now)) return "status-list";
    return records ? "upload" : null;
  }

  /**
   * One status-list poll (one bundle, or a few pages of it). Throws when the station cannot be reached:
   * tried again after the backoff, or, the poll having gone while the breaker was open (`breakerOpen`), at
   * its interval. A poll that hands a downloaded bundle to the sink does not wait for the apply (a full
   * list's build takes tens of seconds): uploads, heartbeats and checkpoints go on meanwhile, no poll is
   * due until it settles (one apply at a time), and then the next is due as its answer says (applied).
   */
  private async poll(breakerOpen: boolean): Promise<boolean> {
    const poller = this.poller!;
    this.uploadNext = true;
    this.requestKind = "status-list";
    let more: boolean;
    try {
      more = await poller.poll();
    } catch (e) {
      if (breakerOpen) this.nextPollAt = this.mono() + this.pollMs;
      throw e;
    }
    const applying = poller.applying;
    if (applying === null) this.pollNext(more);
    else {
      this.nextPollAt = Number.POSITIVE_INFINITY;
      void applying.then((more) => this.applied(more));
    }
    return true;
  }

  /** The next status-list poll: at once when more bundles may wait, else an interval from now. */
  private pollNext(more: boolean): void {
    this.nextPollAt = more ? 0 : this.mono() + this.pollMs;
  }

  /** The status list's apply settled (its outcome recorded): the next poll is due as its answer says. */
  private applied(more: boolean): void {
    if (this.stopping) return;
    this.pollNext(more);
    this.board.publish();
    if (this.wakeOnApplied) this.wake?.();
  }

  /**
   * The records to send next, if any may go. An outbox that cannot be read gives none and the failure
   * (`unread`, noted in the status at once): heartbeats and polls go on meanwhile. So does a read that
   * finds none while the count says records wait (orphansSkipped).
   */
  private nextBatch(): { batch: PendingRecord[]; unread: OutboxFailed | null } {
    if (!this.recordsToSend() || !this.ready("upload")) return { batch: [], unread: null };
    try {
      const batch = this.outbox.pending(this.sizer.limit);
      if (batch.length === 0) return { batch, unread: this.orphansSkipped() };
      this.board.outboxRead("pending");
      return { batch, unread: null };
    } catch (e) {
      this.board.outboxFailed("pending", e);
      return { batch: [], unread: new OutboxFailed("pending", e) };
    }
  }

  /**
   * The outbox counts records waiting, but its read found none: outbox rows whose record row is gone
   * (journal.db edited or damaged; `audit verify` names each deleted row, docs/audit.md "a row deleted").
   * The read skips them, the count does not: left so, the loop would find records to send and none to
   * read at every step. It is the outbox's failure, named in the status and the log with the seqs
   * (outboxFailed), and the step backs off as for any other; the journal takes those rows out of the queue
   * (logging their seqs, and in an uplink.orphans-dropped alarm with a trail bound) and counts it again from the disk (Outbox.dropOrphans), so the queue's count, age
   * and drain no longer wait on them, and the records behind them went and go on going.
   */
  private orphansSkipped(): OutboxFailed {
    const counted = this.outbox.queueDepth();
    let seqs: number[];
    try {
      seqs = this.outbox.dropOrphans?.() ?? [];
    } catch (e) {
      this.board.outboxFailed("pending", e);
      return new OutboxFailed("pending", e);
    }
    const shown = seqs.slice(0, 20).join(", ") + (seqs.length > 20 ? `, … (${seqs.length} in all)` : "");
    const err = new Error(
      seqs.length > 0
        ? `outbox rows with no journal record (seq ${shown}): the record rows are gone (journal.db edited or ` +
            "damaged: audit verify names the deleted rows); skipped, taken out of the upload queue"
        : `the outbox counts ${counted} record(s) waiting but its read found none`,
    );
    this.board.outboxFailed("pending", err);
    return new OutboxFailed("pending", err);
  }

  /**
   * Records wait and may go: not while the journal is unhealthy (it could not record the acknowledgement,
   * and the same batch would go again and again); they go once it has recovered.
   */
  private recordsToSend(): boolean {
    return this.outbox.healthy !== false && this.outbox.queueDepth() > 0;
  }

  /** Records wait and may go now: no upload failure defers them (defer). */
  private uploadReady(): boolean {
    return this.recordsToSend() && this.ready("upload");
  }

  /** Audit checkpoints are due and no failure of theirs defers them. */
  private checkpointsReady(): boolean {
    return this.opts.auditCheckpoints?.due() === true && this.ready("checkpoints");
  }

  /**
   * An upload failed (not the outbox: the station, or no answer): the sizer (./batch-sizer.ts) decides
   * whether the batch is halved or its one record held; a hold is done here, as a record the station names
   * in `rejected` is held, so that the queue behind it drains. Returns the error to report: E613 naming
   * the record it held, else `e`.
   */
  private async batchFailed(batch: readonly PendingRecord[], e: unknown): Promise<unknown> {
    const d = this.sizer.failed(batch, e);
    // a 500, 502, 504 or a timeout: is the station up? A heartbeat goes before the batch goes again
    if (d.askStation && this.heartbeatMs > 0) this.askStation = true;
    if (!d.hold) return e;
    const head = batch[0]!;
    const err = e as EtcError;
    const status = err.details?.status;
    await this.outbox.recordsWritten?.(); // as before any hold (uploadBatch)
    const held = this.records.hold([
      { tradeId: head.tradeId, code: d.code, message: err.message, revision: head.revision },
    ]);
    if (held === 0) return e;
    const what = `record ${head.tradeId} (seq ${head.seq})`;
    const said =
      d.verb === "refused"
        ? `station refused the request of ${what} alone ${d.count} times`
        : d.code === "TIMEOUT"
          ? `the request of ${what} alone timed out ${d.count} times while the station answered other requests`
          : `station failed the request of ${what} alone ${d.count} times while answering other requests`;
    return new EtcError(
      JournalErrorCodes.StationRejected,
      `${said}: held for an operator (${err.message})`,
      { ...(status !== undefined ? { status } : {}), tradeId: head.tradeId, seq: head.seq },
      { cause: e },
    );
  }
}
