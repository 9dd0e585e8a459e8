/**
 * Upkeep of the journal, all of it off the lane's hot path:
 * - retention: on a schedule, deletes records the station acknowledged more than `retention.days` ago (by
 *   the acknowledgements' stamps, with the lag a step of the wall clock adds: ./ack-clock.ts), in
 *   small transactions (sized to about `batchBudgetMs` of work, at most `batchSize` rows) with a turn of the
 *   event loop between them, only while the lane has no vehicle in flight (the `busy` hook), and without an
 *   fsync of their own (synchronous=NORMAL for the batch: the next durable commit or WAL checkpoint flushes
 *   it). Each batch writes its `journal.retention` audit entry (the deleted seqs) in its own transaction
 *   when a trail is bound; each run is reported (log line, counters, the injected onRetention callback). A
 *   record still queued, held, or an unsettled suspect is never deleted.
 * - recovery: while the journal is unhealthy after a write failure, a probe tries recover() on a timer, so
 *   the journal turns healthy by itself once the cause (a full disk) is gone; health$ tells the lane. Its
 *   durable write also deletes the debit intents withdrawn meanwhile (intents.ts withdraw), before health$
 *   says healthy.
 * - WAL checkpoints: a worker thread with its own connection (checkpointer.ts).
 * - the integrity check after open: SQLite's quick_check in a worker thread (integrity-check.ts).
 */
import type Database from "better-sqlite3";
import type { Subscription } from "rxjs";
import { isEtcError } from "../../firmware-bridge/errors.js";
import { journalRetentionEvent } from "../audit/events.js";
import type { BoundEntry } from "../audit/records.js";
import { localIso } from "../local-time.js";
import type { AckClock } from "./ack-clock.js";
import { type JournalAudit, seqRanges } from "./audit-binding.js";
import { Checkpointer } from "./checkpointer.js";
import { type JournalDb, probeWrite, sqliteCodeOf } from "./db.js";
import { JournalErrorCodes } from "./errors.js";
import { IntegrityCheck, type IntegrityResult } from "./integrity-check.js";
import type { Intents } from "./intents.js";
import type { JournalOutbox } from "./outbox.js";
import type { Records } from "./records.js";

const DAY_MS = 86_400_000;
const DEFAULT_RETENTION_DAYS = 90;
/** the first scheduled run comes this long after open (or after the interval, if that is shorter) */
const FIRST_RUN_MS = 5 * 60_000;
/** the first batch of a run, before a time per record is measured (with a batch budget) */
const FIRST_BATCH = 10;
/**
 * SQLite's own auto-checkpoint threshold on the lane's connection while the checkpoint worker runs: a safety
 * net only (UpkeepOptions.checkpointIntervalMs), in WAL pages.
 */
export const WAL_AUTOCHECKPOINT_PAGES = 10_000;

export interface RetentionOptions {
  /**
   * keep records this long after the station acknowledged them; default 90 days (docs/journal.md, "Retention
   * and the other upkeep")
   */
  days?: number;
  /** run retention this often; default 60 minutes; 0: never on a schedule (runRetention() only) */
  intervalMs?: number;
  /** at most this many records deleted per transaction (one event-loop turn); default 100 */
  batchSize?: number;
  /**
   * the work one batch should take on the lane's thread, ms; default 1. Each batch's size is the budget
   * over the previous batch's measured time per record (the first batch: FIRST_BATCH records), 1 to
   * `batchSize`. 0: every batch is `batchSize` records.
   */
  batchBudgetMs?: number;
  /**
   * true while the lane must not be kept waiting (the lane: a vehicle in flight). Retention checks it
   * before every batch and, while it is true, looks again every `busyRetryMs` without deleting anything.
   */
  busy?: () => boolean;
  /** how often a run waiting for `busy` to turn false looks again, ms; default 10 */
  busyRetryMs?: number;
  /** each run's report (the lane writes a failed run to its audit trail as a journal.error) */
  onRetention?: (report: RetentionReport) => void;
}

export interface UpkeepOptions {
  retention?: RetentionOptions;
  /**
   * While the journal is unhealthy, try recover() this often; default 30 000 ms; 0: never (recover() is
   * then only called by hand).
   */
  recoverProbeMs?: number;
  /**
   * WAL checkpoints run in a worker thread this often (PASSIVE, off the lane's thread), and SQLite's own
   * auto-checkpoint on the lane's connection only past 10,000 pages as a safety net. 0: no worker, SQLite's
   * default auto-checkpoint (every 1,000 pages, inside a commit). Default 1000 ms.
   */
  checkpointIntervalMs?: number;
  /**
   * SQLite's quick_check of the whole file in a worker thread after open (./integrity-check.ts): damage it
   * finds turns the journal unhealthy for good, as a read that meets it does. Default true; false: no
   * check (a one-action CLI session on a stopped lane's journal).
   */
  integrityCheck?: boolean;
}

/** How long records are kept after their acknowledgement, ms (`retention.days`, default 90). */
export function retentionMsOf(opts: UpkeepOptions): number {
  return (opts.retention?.days ?? DEFAULT_RETENTION_DAYS) * DAY_MS;
}

/** What one retention run did. */
export interface RetentionReport {
  /** "schedule", or "now" for runRetention() called directly (an operator, a test) */
  trigger: "schedule" | "now";
  /** ISO 8601 at the lane's UTC offset */
  startedAt: string;
  /**
   * records acknowledged before this instant (ISO 8601, lane offset) were eligible: `retention.days` before
   * the start, and the retention lag before that after a step of the wall clock (./ack-clock.ts)
   */
  cutoff: string;
  deleted: number;
  batches: number;
  /** wall time of the run, including the event-loop turns between batches */
  durationMs: number;
  /** the longest batch: how long the lane's thread was busy with retention in one go */
  longestBatchMs: number;
  /** the most records one batch deleted */
  largestBatch: number;
  /** of durationMs, the time spent waiting for the lane to have no vehicle in flight (the busy hook) */
  waitedMs: number;
  /** why the run stopped early (nothing is deleted past a failure), or null */
  error: { code: string; message: string } | null;
}

export interface RetentionCounters {
  runs: number;
  deleted: number;
  failures: number;
  lastRun: RetentionReport | null;
}

/**
 * The statements of one retention batch. Acknowledged (in `acks`, hence neither queued nor held: the two
 * NOT EXISTS only restate that invariant), acknowledged before the cutoff, and not an unsettled suspect.
 */
export const RETENTION_SQL = {
  pick:
    "SELECT a.seq FROM acks a JOIN records r ON r.seq = a.seq WHERE a.at_ms < ? AND r.kind != 'suspect' " +
    "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.seq = a.seq) " +
    "AND NOT EXISTS (SELECT 1 FROM held h WHERE h.seq = a.seq) ORDER BY a.at_ms LIMIT ?",
  deleteRecord: "DELETE FROM records WHERE seq = ?",
  deleteAck: "DELETE FROM acks WHERE seq = ?",
  /**
   * once a run: the booth's and the card's notes on records no longer kept (deleted by this run or by any
   * before; each is one primary-key probe of records)
   */
  sweepNotes: [
    "DELETE FROM booth_closed WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.seq = booth_closed.seq)",
    "DELETE FROM suspect_evidence WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.seq = suspect_evidence.seq)",
  ],
} as const;

export class Upkeep {
  private readonly intervalMs: number;
  private readonly batchSize: number;
  private readonly batchBudgetMs: number;
  private readonly busy: () => boolean;
  private readonly busyRetryMs: number;
  private readonly onRetention: ((r: RetentionReport) => void) | undefined;
  private readonly recoverProbeMs: number;
  /** the WAL checkpoint worker, unless checkpointIntervalMs is 0 */
  readonly checkpointer: Checkpointer | null;
  /** what the quick_check after open found (null: integrityCheck false); already acted on when it settles */
  readonly integrity: Promise<IntegrityResult> | null;
  private integrityCheck: IntegrityCheck | null = null;
  readonly retentionCounters: RetentionCounters = { runs: 0, deleted: 0, failures: 0, lastRun: null };
  /** the upkeep settings in force (for status pages) */
  readonly settings: {
    retentionDays: number;
    retentionIntervalMs: number;
    batchSize: number;
    batchBudgetMs: number;
    busyRetryMs: number;
    recoverProbeMs: number;
  };
  private running: Promise<RetentionReport> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private probe: NodeJS.Timeout | undefined;
  private readonly healthSub: Subscription;
  private stopped = false;
  private stmts:
    | { pick: Database.Statement; delRecord: Database.Statement; delAck: Database.Statement }
    | undefined;

  constructor(
    private readonly h: JournalDb,
    private readonly records: Records,
    private readonly outbox: JournalOutbox,
    private readonly audit: JournalAudit,
    private readonly intents: Intents,
    /** the acknowledgements' clock: retention's cutoff (./ack-clock.ts) */
    private readonly clock: AckClock,
    opts: UpkeepOptions,
  ) {
    const r = opts.retention ?? {};
    this.intervalMs = r.intervalMs ?? 3_600_000;
    this.batchSize = r.batchSize ?? 100;
    this.batchBudgetMs = r.batchBudgetMs ?? 1;
    this.busy = r.busy ?? (() => false);
    this.busyRetryMs = r.busyRetryMs ?? 10;
    this.onRetention = r.onRetention;
    this.recoverProbeMs = opts.recoverProbeMs ?? 30_000;
    this.settings = {
      retentionDays: r.days ?? DEFAULT_RETENTION_DAYS,
      retentionIntervalMs: this.intervalMs,
      batchSize: this.batchSize,
      batchBudgetMs: this.batchBudgetMs,
      busyRetryMs: this.busyRetryMs,
      recoverProbeMs: this.recoverProbeMs,
    };
    const every = opts.checkpointIntervalMs ?? 1000;
    this.checkpointer = every > 0 ? new Checkpointer(h.path, every, h.log) : null;
    this.integrity = opts.integrityCheck === false ? null : this.checkIntegrity();
    if (this.checkpointer) h.db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
    if (this.intervalMs > 0) this.schedule(Math.min(this.intervalMs, FIRST_RUN_MS));
    this.healthSub = h.health$.subscribe((health) => {
      if (!health.healthy && this.recoverProbeMs > 0 && !this.probe && !this.stopped) {
        this.probe = setInterval(() => this.recover(), this.recoverProbeMs);
        this.probe.unref();
      } else if (health.healthy && this.probe) {
        clearInterval(this.probe);
        this.probe = undefined;
      }
    });
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run("schedule").finally(() => this.schedule(this.intervalMs));
    }, ms);
    this.timer.unref();
  }

  /**
   * Runs retention now (the schedule calls this too): deletes, batch by batch with a turn of the event
   * loop between batches, every record acknowledged before `now - days` that is not an unsettled suspect.
   * A run already under way is joined, not doubled. Never throws: a failure is in the report.
   */
  runRetention(now: Date = this.h.now()): Promise<RetentionReport> {
    return this.run("now", now);
  }

  /**
   * Resolves once no retention run is under way (at once when none is): each batch writes a
   * `journal.retention` entry the trail seals at once, and the lane's background verify starts no walk
   * while such entries keep coming (src/audit/background-verify.ts). A run started meanwhile is not waited for.
   */
  retentionIdle(): Promise<void> {
    return this.running?.then(() => undefined) ?? Promise.resolve();
  }

  private run(trigger: RetentionReport["trigger"], now: Date = this.h.now()): Promise<RetentionReport> {
    this.running ??= this.retain(trigger, now).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /**
   * One batch of at most `limit` records in one transaction, written with synchronous=NORMAL (restored to
   * FULL in a finally): the batch is atomic in the WAL (its commit frame), but it is not fsync'd on its
   * own; the next durable commit or the checkpoint worker's WAL sync flushes it. A power cut before that
   * loses the whole batch and everything after it in the WAL: the rows and their audit binding are then as
   * they were before the batch (docs/journal.md, "Retention and the other upkeep").
   * With an audit trail bound, the batch's `journal.retention` entry (the deleted seqs as ranges) commits
   * in the same transaction: `audit verify` then knows each missing row was deleted by retention. The
   * batch is picked before its transaction (the lane's thread is the journal's only writer, so nothing
   * changes in between): the entry must name the rows before the transaction writes it.
   * The pick is a read of the lane's handle (JournalDb.read) and the transaction a write: a damaged page
   * or an I/O error met by either, and any failure of the transaction, is the journal's failure
   * (JournalDb.fail: unhealthy, the damage note), as for a commit. A trail that refuses before the
   * transaction (it is closed) is not: its error is thrown as it is, nothing deleted.
   */
  private batch(cutoffMs: number, cutoff: string, limit: number): number {
    this.stmts ??= {
      pick: this.h.db.prepare(RETENTION_SQL.pick).pluck(),
      delRecord: this.h.db.prepare(RETENTION_SQL.deleteRecord),
      delAck: this.h.db.prepare(RETENTION_SQL.deleteAck),
    };
    const st = this.stmts;
    const seqs = this.h.read("retention", () => st.pick.all(cutoffMs, limit) as number[]);
    if (seqs.length === 0) return 0;
    const tx = this.h.db.transaction((bound?: BoundEntry): void => {
      for (const seq of seqs) {
        st.delRecord.run(seq);
        st.delAck.run(seq);
      }
      if (bound) this.audit.spool.putInTx(bound.spool, bound.head);
    });
    const binder = this.audit.binder;
    let inTx = false;
    try {
      this.h.withoutOwnFsync(() => {
        if (binder)
          binder.bindEvent(
            journalRetentionEvent({ deleted: seqRanges(seqs), count: seqs.length, cutoff }),
            (b) => {
              inTx = true;
              tx.immediate(b);
            },
          );
        else {
          inTx = true;
          tx.immediate();
        }
      });
    } catch (e) {
      if (!inTx) throw e;
      throw this.h.fail("retention", e);
    }
    return seqs.length;
  }

  /**
   * The notes on records no longer kept, in one small transaction without an fsync of its own (as a
   * batch): the booth's that a case was closed (booth_closed) and the card's evidence on a suspect
   * (suspect_evidence). A record's seq is never given out again (meta.last_seq), so a note can only ever
   * name the record it was written for. A failure is the journal's (JournalDb.fail), as a batch's.
   */
  private sweepNotes(): void {
    const db = this.h.db;
    try {
      this.h.withoutOwnFsync(() =>
        db
          .transaction(() => {
            for (const sql of RETENTION_SQL.sweepNotes) db.prepare(sql).run();
          })
          .immediate(),
      );
    } catch (e) {
      throw this.h.fail("retention (notes)", e);
    }
  }

  /** Resolves once the lane has nothing in flight (at once if it has nothing now); the ms waited. */
  private async idle(): Promise<number> {
    if (!this.busy()) return 0;
    const t0 = performance.now();
    while (this.busy() && !this.h.closed && !this.stopped)
      await new Promise<void>((resolve) => setTimeout(resolve, this.busyRetryMs));
    return performance.now() - t0;
  }

  private async retain(trigger: RetentionReport["trigger"], now: Date): Promise<RetentionReport> {
    const t0 = performance.now();
    const cutoffMs = this.clock.cutoffMs(now.getTime());
    const report: RetentionReport = {
      trigger,
      startedAt: localIso(now.getTime(), this.h.utcOffsetMinutes),
      cutoff: localIso(cutoffMs, this.h.utcOffsetMinutes),
      deleted: 0,
      batches: 0,
      durationMs: 0,
      longestBatchMs: 0,
      largestBatch: 0,
      waitedMs: 0,
      error: null,
    };
    let limit = this.batchBudgetMs > 0 ? Math.min(FIRST_BATCH, this.batchSize) : this.batchSize;
    try {
      for (;;) {
        report.waitedMs += await this.idle(); // a vehicle in flight goes first
        // closing ends the run (it may be waiting for the lane): what it deleted so far is reported, no error
        if (this.h.closed || this.stopped) break;
        if (!this.h.healthy)
          throw Object.assign(new Error("journal unhealthy: retention waits for recover()"), {
            code: JournalErrorCodes.JournalUnhealthy,
          });
        const b0 = performance.now();
        const n = this.batch(cutoffMs, report.cutoff, limit);
        const ms = performance.now() - b0;
        report.longestBatchMs = Math.max(report.longestBatchMs, ms);
        report.largestBatch = Math.max(report.largestBatch, n);
        report.batches++;
        report.deleted += n;
        if (n < limit) break;
        if (this.batchBudgetMs > 0)
          limit = Math.max(
            1,
            Math.min(this.batchSize, Math.floor((this.batchBudgetMs * n) / Math.max(ms, 1e-3))),
          );
        await new Promise<void>((resolve) => setImmediate(resolve)); // the lane's frames go first
      }
      report.waitedMs += await this.idle();
      // the lane went first; the journal may have closed or failed meanwhile
      if (!this.h.closed && !this.stopped && this.h.healthy) this.sweepNotes();
    } catch (e) {
      const code = isEtcError(e) ? String(e.code) : (sqliteCodeOf(e) ?? "ERROR");
      report.error = { code, message: e instanceof Error ? e.message : String(e) };
    }
    report.durationMs = performance.now() - t0;
    this.report(report);
    return report;
  }

  private report(r: RetentionReport): void {
    const c = this.retentionCounters;
    c.runs++;
    c.deleted += r.deleted;
    if (r.error) c.failures++;
    c.lastRun = r;
    const fields = {
      trigger: r.trigger,
      deleted: r.deleted,
      cutoff: r.cutoff,
      batches: r.batches,
      ms: Math.round(r.durationMs),
      longestBatchMs: Math.round(r.longestBatchMs * 100) / 100,
      largestBatch: r.largestBatch,
      waitedMs: Math.round(r.waitedMs),
    };
    if (r.error) this.h.log.error({ ...fields, err: r.error }, "journal retention run failed");
    else this.h.log.info(fields, "journal retention run");
    try {
      this.onRetention?.(r);
    } catch (e) {
      this.h.log.error(
        { err: e instanceof Error ? e.message : String(e) },
        "journal retention report failed",
      );
    }
  }

  /**
   * After a write failure: re-reads the counters from disk and tries a durable write of a record's size. If it works the
   * journal is healthy again (health$ emits) and returns true. Safe to call at any time; the probe calls
   * it while the journal is unhealthy. A journal SQLite reported damaged stays unhealthy: false.
   */
  recover(): boolean {
    if (this.h.closed) return false;
    // SQLite said the file is damaged: no write proves it whole (docs/journal.md, "A damaged journal")
    if (this.h.damage) return false;
    const db = this.h.db;
    try {
      if (db.inTransaction) db.exec("ROLLBACK");
      // a durable write the size of a lane record and more: room for the next commit, not just a byte
      probeWrite(db, this.h.now());
      // intents whose debit was never sent, withdrawn while nothing could be written (intents.ts withdraw)
      this.intents.deleteWithdrawn();
      this.records.reload();
      this.outbox.reload();
    } catch (e) {
      this.h.log.warn({ err: e instanceof Error ? e.message : String(e) }, "journal recover: still failing");
      return false;
    }
    if (!this.h.healthy) this.h.log.info({ lastSeq: this.records.lastSeq() }, "journal healthy again");
    this.h.markHealthy();
    return true;
  }

  /**
   * The quick_check after open, in a worker thread: damage (or an I/O error) it finds goes the way of a
   * read that meets it, the journal's failure path (./db.ts fail()).
   */
  private checkIntegrity(): Promise<IntegrityResult> {
    const check = new IntegrityCheck(this.h.path, this.h.log);
    this.integrityCheck = check;
    return check.result.then((r) => {
      this.integrityCheck = null;
      if (this.h.closed || this.stopped) return r;
      if (r.kind === "ok") this.h.log.info({ ms: Math.round(r.ms) }, "journal quick_check: ok");
      else if (r.kind === "not-run") this.h.log.warn({ err: r.message }, "journal quick_check did not run");
      else this.h.fail("quick_check", Object.assign(new Error(r.message), { code: r.sqliteCode }));
      return r;
    });
  }

  /** Passive WAL checkpoint on the lane's own connection (the worker does this on a timer). */
  checkpoint(): void {
    this.h.assertOpen();
    this.h.db.pragma("wal_checkpoint(PASSIVE)");
  }

  /**
   * Stops the timers, the checkpoint worker and a quick_check under way (resolves when their connections
   * are closed, or 2 s into a quick_check that SQLite has not ended: ./integrity-check.ts); a
   * retention run under way ends after its current batch, or at once while it waits for the lane, and is
   * reported with what it deleted (not as a failure).
   */
  close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.probe) clearInterval(this.probe);
    this.healthSub.unsubscribe();
    return Promise.all([this.checkpointer?.close(), this.integrityCheck?.close()]).then(() => undefined);
  }
}
