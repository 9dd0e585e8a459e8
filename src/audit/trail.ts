/**
 * The lane's tamper-evident audit trail (docs/audit.md): one hash chain of JSON lines across segment
 * files, bound to the journal, with signed checkpoints that the station witnesses.
 *
 * On the lane thread an event's append is: build the line, one SHA-256, one write(2) (no fsync). A
 * journal record's commit only stores the seq and time its entry is given (bindRecord); its line is built
 * afterwards, by the record-line worker in the lane (./record-queue.ts, ./record-lines.ts). Everything
 * slow runs elsewhere: Ed25519 signing of checkpoints and fdatasync of the file run in libuv's thread pool
 * (but for one fdatasync per rotation: ./segment-writer.ts); the spool (lines not yet known fsynced + the
 * head copy) is written in batches, or inside a journal transaction for an entry committed with it
 * (bindEvent). Nothing durable names an entry the spool or the file cannot give back after a power cut:
 * a record's commit or settlement that comes before the batch of the event lines waiting for it spools
 * them in its transaction (bindRecord).
 *
 * A write that fails (disk full, I/O error) never throws at the caller: the line stays in memory and in the
 * spool, an AUDIT_WRITE alarm is raised once, and the trail writes the backlog when the disk accepts it.
 * The segment file itself (writes, fdatasync, that backlog, rotation) is ./segment-writer.ts's.
 */
import { fstatSync, mkdirSync, openSync } from "node:fs";
import { unlink } from "node:fs/promises";
import { join } from "node:path";
import { EtcError } from "../../firmware-bridge/errors.js";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { trailAlarmCode } from "./alarm-codes.js";
import type { BindingMark } from "./binding-mark.js";
import {
  CHECKPOINT_TYPE,
  type CheckpointStatement,
  checkpointHash,
  laneIdOf,
  type SignedCheckpoint,
  signStatement,
  signStatementNow,
} from "./checkpoint.js";
import { type AuditEventInput, type BuiltLine, buildLine } from "./entry.js";
import { AuditErrorCodes } from "./errors.js";
import { LaneEvents } from "./events.js";
import { FileShare } from "./file-share.js";
import { type LaneKey, loadOrCreateLaneKey, priorKeyInTrail } from "./lane-key.js";
import { RecordLineWorker } from "./record-lines.js";
import { type RecordChain, RecordLineQueue, type RecordQueueCounts } from "./record-queue.js";
import type { BoundEntry, RecordBinding, RecordSlot } from "./records.js";
import { type LastCheckpoint, recoverTrail, SEAL_AT_ONCE } from "./recovery.js";
import type { JournalBehind } from "./recovery-journal-seqs.js";
import { planRetention, type RetentionResult } from "./retention.js";
import { SegmentWriter, syncDir } from "./segment-writer.js";
import { auditDir } from "./segments.js";
import { isRegularFile, nameRecorded } from "./side-files.js";
import type { AuditSpool, SpooledLine } from "./spool.js";
import { EntryTimes } from "./time.js";
import { CheckpointWitness } from "./witness.js";

export interface AuditTrailOptions {
  dataDir: string;
  lane: { network: string; station: string; lane: number };
  /** the lane's offset from UTC (the configured utcOffsetMinutes): entry times are written in it */
  utcOffsetMinutes: number;
  spool: AuditSpool;
  /** a checkpoint after this many entries (config audit.checkpointEvery); default 1000 */
  checkpointEvery?: number;
  /** and at least this often, also when idle (config audit.checkpointIntervalSeconds); default 60 000 ms */
  checkpointIntervalMs?: number;
  /** a new segment file after the checkpoint that takes the current one past this; default 16 MiB */
  segmentMaxBytes?: number;
  /** fdatasync of the segment file this often when something was written; default 1000 ms */
  syncIntervalMs?: number;
  /** event lines reach the spool within this; default 100 ms */
  spoolBatchMs?: number;
  /** segment files whose last entry is older than this may be deleted (config audit.retentionDays) */
  retentionDays?: number;
  /** how often retention runs; default 1 h; 0: only when runRetention() is called */
  retentionCheckMs?: number;
  /**
   * The journal's lowest audit seq still referenced by a kept row or a suspect or intent kept from the trail
   * (null: none): retention never deletes a segment holding an entry a kept journal row is bound to, nor a
   * kept suspect's commit entry or a kept intent's alarms.
   */
  boundFloor?: () => number | null;
  /** false when the lane has no station: checkpoints are not queued for it; default true */
  witness?: boolean;
  /**
   * how many checkpoints are queued for the station at most (newer ones wait in the segment files and are
   * read again once the queue drained: ./witness.ts); default 50 000
   */
  witnessQueueMax?: number;
  /** after the station refused a checkpoint with 409, send again this much later; default 600 000 ms */
  witnessConflictRetryMs?: number;
  /** after any other refusal, send again this much later; default 60 000 ms */
  witnessRetryMs?: number;
  logger?: Logger;
  /** wall clock, ms since the epoch */
  now?: () => number;
  /**
   * a clock that never steps (ms), to notice a step of the wall clock (CLOCK_STEP_MS); default
   * performance.now(), or `now` itself when only `now` is given (a test's clock: then no step is seen)
   */
  monotonicNow?: () => number;
  /** lane alarms: AUDIT_WRITE, AUDIT_GAP, AUDIT_HEAD_MISMATCH, AUDIT_DAMAGED, AUDIT_JOURNAL_BEHIND, AUDIT_ROLLBACK */
  onAlarm?: (code: string, message: string) => void;
  /**
   * build journal records' lines in a worker thread that reads each committed row from this journal file
   * (./record-lines.ts), as the lane does; default none: on the lane thread, on the next turn of the event
   * loop (the operator commands, tests)
   */
  recordLineWorker?: {
    journalFile: string;
    /**
     * a record whose line the worker has not written this long after a landing first found it waiting (up
     * to 25 ms after its commit) is built and written on the lane thread; default 100 ms
     */
    lateMs?: number;
    /** for tests only: the worker's writes fail once a segment would pass this many bytes */
    testSegmentLimit?: number;
  };
}

/**
 * A wall-clock step (NTP, an RTC reset) larger than this between two entries, against the monotonic
 * clock, makes the lane seal at once: `audit verify` limits how much entry time an unsealed tail spans
 * (src/audit/verify-guards.ts), and a step inside the tail would otherwise show as time that passed.
 */
export const CLOCK_STEP_MS = 5000;

/**
 * Alarm entries kept for the next onAlarmEntry listener while there is none (the lane's start, before its
 * status service subscribes); past this many the oldest are dropped, with a log line.
 */
export const HELD_ALARMS_MAX = 1000;

export interface AppendResult {
  seq: number;
  hash: string;
}

/** An entry of alarm severity, as AuditTrail.onAlarmEntry hands it on. */
export interface AlarmEntryNote {
  seq: number;
  type: string;
  /** the entry's `data.code` (lane.alarm, status-list.refused, journal.error...), else its type */
  code: string;
  message: string;
  /** wall ms */
  at: number;
}

export interface AuditTrailStatus {
  lastSeq: number;
  /** `at`: when it was sealed, wall ms */
  lastCheckpoint: { n: number; to: number; seq: number; at: number | null } | null;
  /** entries after the last checkpoint's range */
  unsealed: number;
  /** lines waiting for the disk after a write failure */
  unwritten: number;
  /** journal records' lines: built by the worker, on the lane thread, and waiting (./record-queue.ts) */
  recordLines: RecordQueueCounts;
  writeError: string | null;
  segment: string;
  witness: ReturnType<CheckpointWitness["status"]>;
}

export class AuditTrail {
  readonly dir: string;
  readonly key: LaneKey;
  readonly laneId: string;
  readonly events: LaneEvents;
  readonly witness: CheckpointWitness;
  /**
   * what the start found: journal.db's last record seq below the trail's newest commit (./recovery.ts,
   * recorded as `audit.journal-behind`); the journal is then refused (./journal-trail.ts)
   */
  readonly journalBehind: JournalBehind | null;
  private readonly log: Logger;
  private readonly spool: AuditSpool;
  private readonly now: () => number;
  private readonly monotonicNow: () => number;
  /** wall and monotonic ms of the previous entry (NaN before the first), to notice a wall-clock step */
  private lastWall = Number.NaN;
  private lastMono = Number.NaN;
  /** the wall clock stepped: seal at once (CLOCK_STEP_MS) */
  private clockStepped = false;
  /** the entry times, formatted once per second */
  private readonly times: EntryTimes;
  private readonly cpEvery: number;
  private readonly spoolBatchMs: number;
  private readonly retentionMs: number;
  private readonly timers: NodeJS.Timeout[] = [];
  /** the current segment file: writes, fdatasync, the backlog of a failed write, rotation */
  private readonly file: SegmentWriter;
  /** the next seq to give out: records waiting for their line hold the ones below it */
  private nextSeq: number;
  /** the newest entry whose line is built (the records waiting come after it), and its hash */
  private builtSeq: number;
  private head: string;
  /** journal records whose line is not built yet */
  private readonly records: RecordLineQueue;
  private lastCp: LastCheckpoint;
  private cpInFlight: Promise<SignedCheckpoint | null> | null = null;
  private pendingSpool: SpooledLine[] = [];
  private spoolTimer: NodeJS.Timeout | null = null;
  private spoolError: string | null = null;
  /**
   * a record's transaction spooled the waiting event lines (bindRecord): their batch still comes, and
   * writes the head copy as of then, as it would have
   */
  private headBehind = false;
  /** a write failure to record as a `disk.error` entry once the entry that met it is in the chain */
  private diskError: { path: string; message: string; code?: string } | null = null;
  private retentionRunning: Promise<RetentionResult | null> | null = null;
  /** a seal under way for an entry that must be sealed at once (SEAL_AT_ONCE), and up to which seq */
  private sealing: Promise<void> | null = null;
  private sealTarget = 0;
  /** the journal's binding as the trail states it (./binding-mark.ts), carried on by audit.retention */
  private binding: BindingMark | null = null;
  private readonly alarmListeners = new Set<(e: AlarmEntryNote) => void>();
  /** alarm entries appended while nobody listened, for the next listener (at most HELD_ALARMS_MAX) */
  private heldAlarms: AlarmEntryNote[] = [];
  /**
   * checkpoints signed and in the chain whose line no fdatasync has covered yet: the station gets one only
   * once it is durable here (else a power cut could leave the station holding a checkpoint the lane lost,
   * and the lane's next one would be refused as a rollback)
   */
  private undurable: { seq: number; cp: SignedCheckpoint }[] = [];
  /**
   * side files of damaged bytes recovery kept aside (`<file>.damaged-<hash>.unrecorded`, ./recovery.ts
   * ./side-files.ts keepAside) and the seq of the last entry at open that records them: renamed without `.unrecorded` once
   * an fdatasync covered it (nameRecordedSideFiles), never before
   */
  private unrecorded: { names: string[]; seq: number } | null = null;
  /** the directory fsync after that rename; close waits for it */
  private sideFilesNamed: Promise<void> = Promise.resolve();
  /**
   * side files a sealed `audit.retention` entry of this trail named and its run could not delete
   * (runRetention): every later run tries the unlink again without naming them again (that entry covers
   * them) and without a new warning; a name leaves the set once its file is deleted, gone (ENOENT) or no
   * longer a regular file. In memory only: after a restart the first run that deletes a file names it again
   */
  private readonly sideFilesNamedLeft = new Set<string>();
  private state: "open" | "closing" | "closed" = "open";
  /**
   * open writes what recovery found and its seal: no checkpoint starts on the count or a clock step
   * meanwhile (it would sign a range open is sealing or a head open has not chained yet); open starts
   * the one over its notes itself
   */
  private recording = true;

  private constructor(
    private readonly opts: AuditTrailOptions,
    key: LaneKey,
    rec: ReturnType<typeof recoverTrail>,
    fd: number,
    size: number,
  ) {
    this.dir = auditDir(opts.dataDir);
    this.key = key;
    this.journalBehind = rec.journalBehind;
    this.laneId = laneIdOf(opts.lane);
    this.log = (opts.logger ?? silentLogger).child({ module: "audit" });
    this.spool = opts.spool;
    this.now = opts.now ?? Date.now;
    this.monotonicNow = opts.monotonicNow ?? (opts.now ? opts.now : () => performance.now());
    this.times = new EntryTimes(opts.utcOffsetMinutes);
    this.cpEvery = opts.checkpointEvery ?? 1000;
    this.spoolBatchMs = opts.spoolBatchMs ?? 100;
    this.retentionMs = (opts.retentionDays ?? 400) * 86_400_000;
    this.file = new SegmentWriter({
      dir: this.dir,
      segment: rec.segment,
      fd,
      size,
      writtenSeq: rec.nextSeq - 1,
      segmentMaxBytes: opts.segmentMaxBytes ?? 16 * 1024 * 1024,
      logger: this.log,
      onWriteFailed: (path, msg, code) => {
        const message = `the audit trail cannot be written (${msg}); entries are kept in memory and in the spool`;
        this.diskError = { path, message, ...(code !== undefined ? { code } : {}) };
        this.alarm(
          "AUDIT_WRITE",
          `audit trail ${path} cannot be written (${msg}); entries are kept in memory and in the spool`,
        );
      },
    });
    this.nextSeq = rec.nextSeq;
    this.builtSeq = rec.nextSeq - 1;
    this.head = rec.head;
    this.lastCp = rec.lastCheckpoint;
    const chain: RecordChain = {
      builtSeq: () => this.builtSeq,
      head: () => this.head,
      land: (seq, hash, line) => {
        this.file.defer(seq, line);
        this.builtSeq = seq;
        this.head = hash;
      },
      landAfterFailure: (seq, hash, line, f) => {
        // the head moves first: the failure's alarm must not find this line still waiting
        this.builtSeq = seq;
        this.head = hash;
        this.file.takeOver(seq, line, f);
      },
      adopt: (seq, hash, bytes) => {
        if (seq > this.builtSeq) {
          this.builtSeq = seq;
          this.head = hash;
        }
        this.file.adoptEnd(seq, bytes);
      },
      landed: () => {
        this.file.writeDeferred();
        this.afterEntry();
      },
      flush: () => this.file.writeDeferred(),
      bytes: () => this.file.size,
      segmentFirstSeq: () => this.file.segment.firstSeq,
      canGrant: () => this.file.unwrittenCount === 0 && this.state === "open",
    };
    const share = opts.recordLineWorker ? new FileShare() : null;
    this.records = new RecordLineQueue(
      chain,
      opts.utcOffsetMinutes,
      opts.recordLineWorker && share
        ? RecordLineWorker.start({
            share,
            journalFile: opts.recordLineWorker.journalFile,
            dir: this.dir,
            utcOffsetMinutes: opts.utcOffsetMinutes,
            logger: this.log,
            ...(opts.recordLineWorker.testSegmentLimit !== undefined
              ? { testSegmentLimit: opts.recordLineWorker.testSegmentLimit }
              : {}),
          })
        : null,
      share,
      this.monotonicNow,
      this.log,
      opts.recordLineWorker?.lateMs,
    );
    this.events = new LaneEvents(this);
    this.witness = new CheckpointWitness({
      dir: this.dir,
      spool: this.spool,
      publicKeyPem: key.publicKeyPem,
      now: this.now,
      max: opts.witnessQueueMax ?? 50_000,
      durableSeq: () => this.file.syncedSeq,
      enabled: opts.witness ?? true,
      ...(opts.witnessConflictRetryMs !== undefined ? { conflictRetryMs: opts.witnessConflictRetryMs } : {}),
      ...(opts.witnessRetryMs !== undefined ? { failRetryMs: opts.witnessRetryMs } : {}),
      onConflict: (message, data) => {
        this.append({
          type: "audit.rollback",
          severity: "alarm",
          message,
          data: { code: "AUDIT_ROLLBACK", ...data },
        });
        this.alarm("AUDIT_ROLLBACK", message);
      },
      onBehind: (message, data) => {
        this.append({
          type: "audit.rollback",
          severity: "alarm",
          message,
          data: { code: "AUDIT_ROLLBACK", ...data },
        });
        this.alarm("AUDIT_ROLLBACK", message);
      },
      onStationBehind: (message, data) => {
        // the lane's trail is intact: a warning, which audit verify does not count as a failure
        this.append({ type: "audit.station-behind", severity: "warn", message, data });
        this.log.warn({ station: data.station }, message);
      },
    });
  }

  /**
   * Opens (creating on first start) the trail in `<dataDir>/audit`, with the lane's key in the data
   * directory. Repairs a torn tail, fills the file from the spool, records gaps (./recovery.ts), then
   * starts the checkpoint, sync and retention timers.
   */
  static open(opts: AuditTrailOptions): AuditTrail {
    const dir = auditDir(opts.dataDir);
    let rec: ReturnType<typeof recoverTrail>;
    let fd: number;
    let size: number;
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new EtcError(
        AuditErrorCodes.AuditWrite,
        `audit trail ${dir}: cannot create: ${(e as Error).message}`,
        {
          dir,
        },
      );
    }
    // a missing key beside one the trail, the public key file or the station shows is refused (E623)
    const key = loadOrCreateLaneKey(opts.dataDir, () => priorKeyInTrail(dir, opts.spool));
    try {
      rec = recoverTrail(dir, opts.spool, opts.utcOffsetMinutes);
      fd = openSync(rec.segment.path, "a", 0o640);
      size = fstatSync(fd).size; // O_APPEND: where the next write lands
    } catch (e) {
      if (e instanceof EtcError) throw e;
      throw new EtcError(
        AuditErrorCodes.AuditWrite,
        `audit trail ${dir}: cannot open: ${(e as Error).message}`,
        {
          dir,
        },
      );
    }
    const t = new AuditTrail(opts, key, rec, fd, size);
    for (const f of rec.sideFileSyncFailed)
      t.log.error(
        { err: f.err, file: f.file },
        "audit: fdatasync of a side file of damaged bytes at open failed; kept all the same, the start goes on",
      );
    for (const f of rec.notRemoved)
      t.log.error(
        { err: f.err, file: f.file },
        "audit: a temporary file a start cut short left cannot be removed; left as it is, the start goes on",
      );
    if (rec.syncFailed !== null)
      t.log.error(
        { err: rec.syncFailed, segment: rec.segment.path },
        "audit: fdatasync of the newest segment at open failed; what it holds counts as synced",
      );
    void t.witness.recover(t.lastCp);
    let lastNote = 0;
    // an audit.gap note is the entry right after the entries it names missing (src/audit/verify-walk.ts);
    // an audit.rollback entry the witness's recover above wrote (onBehind) is before it too: the seal
    // below covers both
    const gapFirst = rec.notes[0]?.type === "audit.gap" ? 1 : 0;
    for (const n of rec.notes.slice(0, gapFirst)) lastNote = t.append(n).seq;
    // what the last run left unsealed is sealed next, on this thread, before any entry stamped after the
    // restart: a kill right after this open then leaves an unsealed tail of this start's entries only, which
    // `audit verify` accepts (src/audit/verify-guards.ts tailProblem), not one spanning the downtime
    // the last entry the crash left (the notes come after it): an unsealed entry verify excuses only sealed
    // is in that stretch, which the seal below covers (not the seal's own entry, which needs no checkpoint)
    const leftEnd = t.nextSeq - 1;
    if (t.unsealedCount() > 0) t.sealLeftTail();
    for (const n of rec.notes.slice(gapFirst)) lastNote = t.append(n).seq;
    t.recording = false;
    if (rec.unrecorded.length > 0) t.unrecorded = { names: rec.unrecorded, seq: lastNote };
    for (const a of rec.alarms) t.alarm(a.code, a.message);
    if (rec.filled > 0 || rec.notes.length > 0) t.flushSpool();
    // the notes (and what the crash left, when its seal above failed) are sealed now, not an interval
    // later: `audit verify` limits the unsealed tail to what a running lane leaves (src/audit/verify-guards.ts)
    if (t.unsealedCount() > 0) void t.startCheckpoint().catch(() => undefined);
    t.startTimers();
    // an entry verify accepts only sealed, written just before the lane died: sealed now, not at the timer
    if (rec.unsealedExcuse) void t.sealThrough(leftEnd);
    t.log.info(
      {
        dir,
        nextSeq: t.nextSeq,
        lastCheckpoint: t.lastCp.n,
        filledFromSpool: rec.filled - rec.rebuilt,
        rebuiltFromJournal: rec.rebuilt,
        notes: rec.notes.length,
      },
      "audit trail open",
    );
    return t;
  }

  private startTimers(): void {
    const every = (ms: number, f: () => void): void => {
      if (ms <= 0) return;
      const t = setInterval(f, ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.opts.checkpointIntervalMs ?? 60_000, () => void this.startCheckpoint().catch(() => undefined));
    every(this.opts.syncIntervalMs ?? 1000, () => {
      this.retryUnwritten();
      if (this.file.unsynced()) void this.sync();
    });
    every(this.opts.retentionCheckMs ?? 3_600_000, () => {
      void this.runRetention().catch((e: unknown) =>
        this.log.warn(
          { err: e instanceof Error ? e.message : String(e) },
          "audit retention: nothing deleted this hour",
        ),
      );
    });
  }

  private alarm(code: string, message: string): void {
    this.log.error({ code }, message);
    try {
      this.opts.onAlarm?.(code, message);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, "audit alarm callback failed");
    }
  }

  private assertOpen(): void {
    if (this.state === "closed")
      throw new EtcError(AuditErrorCodes.AuditClosed, `audit trail ${this.dir} is closed`);
  }

  private build(ev: AuditEventInput): BuiltLine {
    // records waiting for their line come first: only records are ever late, and always the newest
    this.records.settle();
    const t = this.times;
    t.set(this.wallNow());
    return buildLine(this.nextSeq, t.local, t.utc, ev, this.head);
  }

  /** The wall clock for an entry's time; notes a step of it against the monotonic clock (CLOCK_STEP_MS). */
  private wallNow(): number {
    const wall = this.now();
    const mono = this.monotonicNow();
    // NaN before the first entry: no step
    if (Math.abs(wall - this.lastWall - (mono - this.lastMono)) > CLOCK_STEP_MS) this.clockStepped = true;
    this.lastWall = wall;
    this.lastMono = mono;
    return wall;
  }

  /**
   * Appends one entry: on the lane thread, one SHA-256 and one write(2). Never throws for an I/O failure
   * (see the file comment); throws E624 when the trail is closed and a TypeError for a malformed type.
   */
  append(ev: AuditEventInput): AppendResult {
    this.assertOpen();
    const b = this.build(ev);
    this.commit(b, false);
    if (ev.severity === "alarm") this.noteAlarm(ev, b.seq);
    if (SEAL_AT_ONCE.has(ev.type)) void this.sealThrough(b.seq);
    return { seq: b.seq, hash: b.hash };
  }

  /**
   * Calls `f` with every entry of alarm severity appended from now on (append and bindEvent: records are
   * never alarms), once it is in the chain, on the appender's thread: keep `f` to a push into a buffer.
   * Every alarm the lane raises is such an entry (the controller's, the booth's, the trail's own, a
   * refused status list, the journal's and the disk's errors, the service's HTTP side...): the status
   * service counts and shows alarms from here (src/service/runtime-feed.ts). The alarm entries appended
   * while nobody listened (those of the lane's start: a gap or rollback found at open, a journal
   * recovered, a list refused, a link down, before the service subscribes) are handed to `f` first, in
   * order, and to no later listener. Returns the unsubscribe.
   */
  onAlarmEntry(f: (e: AlarmEntryNote) => void): () => void {
    const held = this.heldAlarms;
    this.heldAlarms = [];
    for (const note of held) this.tell(f, note);
    this.alarmListeners.add(f);
    return () => {
      this.alarmListeners.delete(f);
    };
  }

  private noteAlarm(ev: AuditEventInput, seq: number): void {
    const code = (ev.data as { code?: unknown } | undefined)?.code;
    const note: AlarmEntryNote = {
      seq,
      type: ev.type,
      // the trail's own alarm entries written before they carried their code: the code from the type
      code: typeof code === "string" && code !== "" ? code : (trailAlarmCode(ev.type) ?? ev.type),
      message: ev.message,
      at: this.now(),
    };
    if (this.alarmListeners.size === 0) {
      if (this.heldAlarms.length >= HELD_ALARMS_MAX) {
        const dropped = this.heldAlarms.shift()!;
        this.log.warn(
          { seq: dropped.seq, code: dropped.code, held: HELD_ALARMS_MAX },
          "alarm entries held for the status service: the oldest dropped (it is in the trail)",
        );
      }
      this.heldAlarms.push(note);
      return;
    }
    for (const f of this.alarmListeners) this.tell(f, note);
  }

  private tell(f: (e: AlarmEntryNote) => void, note: AlarmEntryNote): void {
    try {
      f(note);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, "audit alarm listener failed");
    }
  }

  /**
   * The journal's hook: runs `tx` (its commit or settle transaction) with the seq and time it reserves
   * for this record's entry, which the row stores (./records.ts RecordSlot). When `tx` returns the entry
   * is the chain's (its seq is taken) and its line is built afterwards (./record-queue.ts), from the
   * committed row; when it throws nothing changed in the chain. A settlement first settles the waiting records: the commit entry of the
   * record it settles must be built before the row it is built from changes. Event lines still waiting
   * for their spool batch are spooled in `tx` (RecordSlot.spool), with a settled record's commit line.
   */
  bindRecord<T>(b: RecordBinding, tx: (slot: RecordSlot) => T): T {
    this.assertOpen();
    let superseded: SpooledLine | null = null;
    if (b.op === "settle") {
      this.records.settle();
      superseded = this.supersededLine(b.supersedes);
    }
    // Event lines whose spool batch is not written yet: the row this transaction makes durable names the
    // entry after them, and the chain through it needs their lines, so they are spooled in it (a power cut
    // before their batch, or before an fdatasync of the file, would otherwise leave a gap the rows name).
    // Nothing when none waits: one length read.
    const pending = this.pendingSpool.length;
    const spool = pending > 0 || superseded !== null ? this.recordSpool(superseded) : undefined;
    const seq = this.nextSeq;
    const ms = this.wallNow();
    // before the commit: after it (the fsync's wait) the lane thread does nothing more for the entry
    this.records.add(seq, ms, b);
    let result: T;
    try {
      result = tx(spool ? { seq, ms, spool } : { seq, ms });
    } catch (e) {
      this.records.cancel(seq);
      // its row committed after all and the worker wrote its line: the seq is taken
      this.nextSeq = Math.max(seq, this.builtSeq + 1);
      throw e;
    }
    this.nextSeq = seq + 1;
    if (pending > 0) this.spooledWith(pending);
    return result;
  }

  /**
   * A settlement changes the row its record's commit entry was built from: if that entry's line is not
   * known fsynced (a power cut could still lose it), it is spooled in the settlement's transaction, so
   * the next start can put it back (./recovery.ts). Read back from the file (or the backlog of a failed
   * write), where the settle before it has just put it. A line in a segment a rotation closed is on the
   * disk, though no sync has reported back since (./segment-writer.ts durable).
   */
  private supersededLine(seq: number | null | undefined): SpooledLine | null {
    if (seq === null || seq === undefined || this.file.durable(seq)) return null;
    const line = this.file.lineAt(seq);
    if (line === null) {
      this.log.error({ seq }, "audit: the line of a settled record's commit entry was not found to spool");
      return null;
    }
    return { seq, line };
  }

  /**
   * What a record's transaction spools (RecordSlot.spool): the event lines waiting for their batch, a
   * settled record's commit line, and the head copy, as the batch would write it.
   */
  private recordSpool(superseded: SpooledLine | null): NonNullable<RecordSlot["spool"]> {
    const lines = this.pendingSpool.slice();
    if (superseded !== null) {
      lines.push(superseded);
      lines.sort((a, b) => a.seq - b.seq);
    }
    return { lines, head: { seq: this.builtSeq, hash: this.head } };
  }

  /**
   * The first `n` waiting event lines were spooled with a record's transaction. Their batch (already
   * scheduled) still writes the head copy, then naming the records built since too.
   */
  private spooledWith(n: number): void {
    this.pendingSpool = n >= this.pendingSpool.length ? [] : this.pendingSpool.slice(n);
    this.headBehind = true;
    this.scheduleSpool();
  }

  /** Resolves once every record committed so far has its line built and written (at once when so). */
  recordsWritten(): Promise<void> {
    return this.records.whenSettled();
  }

  /** As bindRecord, for an event that must commit with a journal transaction (journal.retention). */
  bindEvent<T>(ev: AuditEventInput, tx: (bound: BoundEntry) => T): T {
    this.assertOpen();
    const built = this.build(ev);
    const result = this.bindBuilt(built, tx);
    if (ev.severity === "alarm") this.noteAlarm(ev, built.seq);
    if (SEAL_AT_ONCE.has(ev.type)) void this.sealThrough(built.seq);
    return result;
  }

  /**
   * The journal's binding as the trail states it: set by src/audit/journal-trail.ts once it wrote the
   * journal.bound entry or found it (or a restatement) in the kept files; each audit.retention entry
   * restates it.
   */
  get bindingMark(): BindingMark | null {
    return this.binding;
  }

  set bindingMark(m: BindingMark | null) {
    this.binding = m;
  }

  private bindBuilt<T>(built: BuiltLine, tx: (bound: BoundEntry) => T): T {
    const line = { seq: built.seq, line: built.line };
    const pending = this.pendingSpool;
    const spooled = pending.length === 0 ? [line] : [...pending, line];
    const result = tx({
      seq: built.seq,
      hash: built.hash,
      spool: spooled,
      head: { seq: built.seq, hash: built.hash },
    });
    this.pendingSpool = [];
    this.headBehind = false;
    if (this.spoolTimer) {
      clearTimeout(this.spoolTimer);
      this.spoolTimer = null;
    }
    this.commit(built, true);
    return result;
  }

  private commit(b: BuiltLine, spooled: boolean): void {
    // a line spooled with its journal transaction: its write waits for the next turn (SegmentWriter.defer);
    // an event line is only in memory until its spool batch: it goes to the file now, behind those
    if (spooled) this.file.defer(b.seq, b.line);
    else this.file.write(b.seq, b.line);
    this.nextSeq = b.seq + 1;
    this.builtSeq = b.seq;
    this.head = b.hash;
    if (!spooled) {
      this.pendingSpool.push({ seq: b.seq, line: b.line });
      this.scheduleSpool();
    }
    this.afterEntry();
  }

  /** After an entry is in the chain: a disk error it met becomes the next entry; a checkpoint by count. */
  private afterEntry(): void {
    if (this.diskError !== null) {
      // the write that failed is in the chain now; the failure itself is the next entry (kept in memory
      // and in the spool like it, and in the file once the disk takes writes again)
      const d = this.diskError;
      this.diskError = null;
      this.events.diskError(d);
    }
    if (
      (this.builtSeq - this.lastCp.to >= this.cpEvery || this.clockStepped) &&
      this.cpInFlight === null &&
      this.state === "open" &&
      !this.recording
    ) {
      void this.startCheckpoint().catch(() => undefined);
    }
  }

  private scheduleSpool(): void {
    if (this.spoolTimer !== null || this.state === "closed") return;
    this.spoolTimer = setTimeout(() => {
      this.spoolTimer = null;
      this.flushSpool();
    }, this.spoolBatchMs);
    this.spoolTimer.unref();
  }

  /**
   * Puts pending event lines and the head copy into the spool now (one transaction); the head copy alone
   * when a record's transaction took the lines (bindRecord).
   */
  flushSpool(): void {
    if (this.pendingSpool.length === 0 && !this.headBehind) return;
    try {
      this.spool.put(this.pendingSpool, { seq: this.builtSeq, hash: this.head });
      this.pendingSpool = [];
      this.headBehind = false;
      this.spoolError = null;
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (this.spoolError === null) this.log.error({ err: msg }, "audit spool write failed; retrying");
      this.spoolError = msg;
      this.scheduleSpool();
    }
  }

  /** Writes the backlog a failed write left, holding the file (the record-line worker appends too). */
  private retryUnwritten(): void {
    if (this.file.unwrittenCount === 0 && this.file.writeError === null) return;
    this.records.hold();
    this.file.retryUnwritten();
  }

  /** fdatasync of the segment file in the thread pool; then spooled lines up to what it covered go. */
  sync(): Promise<void> {
    return this.file.sync((upTo) => {
      try {
        this.spool.syncedUpTo(upTo);
      } catch (e) {
        this.log.warn({ err: (e as Error).message }, "audit spool cleanup failed");
      }
      while (this.undurable.length > 0 && this.undurable[0]!.seq <= upTo)
        this.witness.add(this.undurable.shift()!.cp);
      this.nameRecordedSideFiles();
    });
  }

  /**
   * Once the entries recording the side files recovery kept aside are on the disk (an fdatasync covered
   * them), each loses its `.unrecorded` (./side-files.ts nameRecorded) and the directory is fsynced: `audit
   * verify` fails on a `.unrecorded` file, and the next start records one (a start cut short before its
   * entries reached the disk). A rename that fails, or whose name is taken (never renamed over), leaves it
   * for the next start to record again.
   */
  private nameRecordedSideFiles(): void {
    const u = this.unrecorded;
    if (u === null || !this.file.durable(u.seq)) return;
    this.unrecorded = null;
    this.sideFilesNamed = nameRecorded(this.dir, u.names, (file, err) =>
      this.log.warn(
        { file, err },
        "audit: a side file of damaged bytes, recorded, keeps its .unrecorded; the next start records it again",
      ),
    );
  }

  /**
   * Starts a checkpoint over everything appended since the last one (also when that is only the previous
   * checkpoint: idle intervals are sealed too) and resolves when its entry is in the chain. Signing runs
   * in the thread pool; entries appended meanwhile fall into the next checkpoint's range.
   */
  checkpointNow(): Promise<SignedCheckpoint | null> {
    this.assertOpen();
    this.records.settle();
    // one in flight (the timer's, the seal at open) may have started before the latest entries: then
    // another one follows it
    const upTo = this.nextSeq - 1;
    const inFlight = this.cpInFlight;
    if (inFlight === null) return this.startCheckpoint();
    return inFlight.then((cp) => (this.lastCp.to >= upTo ? cp : this.startCheckpoint()));
  }

  /**
   * Seals everything through `seq` as soon as it can: a checkpoint now, or right after the one in flight
   * (whose range ends before it). Resolves once a checkpoint covers `seq`, or when signing failed or the
   * trail is closing (the timer, or the last checkpoint at close, seals it then).
   */
  private sealThrough(seq: number): Promise<void> {
    this.sealTarget = Math.max(this.sealTarget, seq);
    if (this.sealing) return this.sealing;
    if (this.state !== "open" || this.lastCp.to >= this.sealTarget) return Promise.resolve();
    const run = async (): Promise<void> => {
      try {
        while (this.state === "open" && this.lastCp.to < this.sealTarget) {
          const cp = await this.startCheckpoint();
          if (cp === null && this.lastCp.to < this.sealTarget) break;
        }
      } finally {
        // in the same turn as the last look at the target: a later call starts a new run
        this.sealing = null;
      }
    };
    this.sealing = run();
    return this.sealing;
  }

  /** The statement of the next checkpoint, over everything built since the last one: null when nothing is. */
  private nextStatement(): CheckpointStatement | null {
    // the records still waiting for their line fall into the next checkpoint's range
    const to = this.builtSeq;
    if (to < 1 || to <= this.lastCp.to) return null;
    // this checkpoint seals a wall-clock step noted so far; one noted while it is signed starts the next
    this.clockStepped = false;
    return {
      v: 1,
      lane: this.laneId,
      keyId: this.key.keyId,
      n: this.lastCp.n + 1,
      from: this.lastCp.to + 1,
      to,
      head: this.head,
      prev: this.lastCp.hash,
      time: new Date(this.now()).toISOString(),
    };
  }

  /** Appends a signed checkpoint's entry, starts a new file when this one is full, and an fdatasync. */
  private landCheckpoint(stmt: CheckpointStatement, sig: string): SignedCheckpoint {
    const cp: SignedCheckpoint = { checkpoint: stmt, sig };
    const built = this.build({
      type: CHECKPOINT_TYPE,
      severity: "info",
      message: `checkpoint #${stmt.n} over seq ${stmt.from}..${stmt.to}`,
      data: cp,
    });
    this.commit(built, false);
    this.lastCp = {
      n: stmt.n,
      to: stmt.to,
      hash: checkpointHash(stmt),
      seq: built.seq,
      line: built.line,
      at: Date.parse(stmt.time),
    };
    this.undurable.push({ seq: built.seq, cp });
    this.file.rotate(this.nextSeq, built.line);
    void this.sync();
    return cp;
  }

  /**
   * At open, before anything stamped after the restart is appended (an audit.gap note only comes first):
   * seals what the last run left unsealed with a checkpoint signed on this thread (one Ed25519 signature,
   * once per start, before the lane trades). A signing failure is logged; the seal open starts after its
   * notes (in the thread pool) covers the tail then.
   */
  private sealLeftTail(): void {
    const stmt = this.nextStatement();
    if (stmt === null) return;
    let sig: string;
    try {
      sig = signStatementNow(stmt, this.key.privateKey);
    } catch (e) {
      this.log.error({ err: e instanceof Error ? e.message : String(e) }, "audit checkpoint signing failed");
      return;
    }
    this.landCheckpoint(stmt, sig);
  }

  private startCheckpoint(): Promise<SignedCheckpoint | null> {
    if (this.cpInFlight) return this.cpInFlight;
    if (this.state === "closed") return Promise.resolve(null);
    const stmt = this.nextStatement();
    if (stmt === null) return Promise.resolve(null);
    const p = signStatement(stmt, this.key.privateKey)
      .then(async (sig) => {
        // its line lands behind the records committed meanwhile: let the worker build them first
        await this.records.whenCaughtUp();
        if (this.state === "closed") return null;
        return this.landCheckpoint(stmt, sig);
      })
      .catch((e: unknown) => {
        this.log.error(
          { err: e instanceof Error ? e.message : String(e) },
          "audit checkpoint signing failed",
        );
        return null;
      })
      .finally(() => {
        this.cpInFlight = null;
        if (this.clockStepped && this.state === "open") void this.startCheckpoint().catch(() => undefined);
      });
    this.cpInFlight = p;
    return p;
  }

  /**
   * Deletes whole segment files past retention, oldest first, never the current one and never one that
   * holds an entry a kept journal row is bound to (./retention.ts). The `audit.retention` entry naming
   * them, and restating the journal's binding (the newest the deleted files state, else the trail's),
   * is written, sealed by a checkpoint, and that seal known on the disk (an fdatasync of the segment file
   * covered it, and no line waits in the backlog of a failed write) before any file is deleted.
   * Resolves null when nothing is due (or the trail closed meanwhile); rejects E625 when its entry cannot
   * be sealed (signing failed), its seal is not on the disk (a full disk, an I/O error) or `boundFloor`
   * cannot be read (an unhealthy journal): nothing is deleted then. The side files the entry names
   * (`sideFiles`) are deleted after the segments, with those an earlier run named and could not delete
   * (tried again, not named again); the result says which were deleted (`sideFilesDeleted`) and which are
   * still there (`sideFilesLeft`: logged with a warning the first time only). A run with nothing due tries
   * those of earlier runs too (logged only; it resolves null: sideFilesLeft() says which are still left).
   */
  runRetention(): Promise<RetentionResult | null> {
    if (this.retentionRunning) return this.retentionRunning;
    const p = (async () => {
      if (this.state !== "open") return null;
      let floor: number | null;
      try {
        floor = this.opts.boundFloor?.() ?? null;
      } catch (e) {
        throw new EtcError(
          AuditErrorCodes.AuditRetention,
          `audit retention: the lowest entry a kept journal row is bound to cannot be read (${e instanceof Error ? e.message : String(e)}); nothing deleted`,
        );
      }
      const found = await planRetention(this.dir, this.now() - this.retentionMs, floor);
      if (this.state !== "open") return null;
      if (found === null) {
        // an earlier run's sealed entry named them: tried again, whatever is due
        if ((await this.deleteSideFiles([])).deleted.length > 0) await syncDir(this.dir);
        return null;
      }
      const { bound: inFiles, ...planned } = found;
      // one an earlier run named and could not delete is still there: its entry covers it, it is not named
      // again (it is tried again below)
      const plan = {
        ...planned,
        sideFiles: planned.sideFiles.filter((f) => !this.sideFilesNamedLeft.has(f)),
      };
      const bound = inFiles ?? this.binding;
      if (
        inFiles &&
        this.binding &&
        (inFiles.boundFrom !== this.binding.boundFrom || inFiles.seq !== this.binding.seq)
      )
        this.log.error(
          { deleted: inFiles, kept: this.binding },
          "audit retention: the deleted files state another journal binding than the trail's; the deleted files' is carried on",
        );
      if (bound) this.binding = bound;
      const at = this.append({
        type: "audit.retention",
        severity: "info",
        message: `retention deletes ${plan.files.length} segment file(s), entries ${plan.files[0]!.from}..${plan.deletedThrough}`,
        // the retention in force, which audit verify judges this cut by (never a later config's)
        data: { ...(bound ? { ...plan, bound } : plan), retentionDays: this.retentionMs / 86_400_000 },
      });
      await this.sealThrough(at.seq);
      if (this.lastCp.to < at.seq) {
        if (this.state !== "open") return null;
        throw new EtcError(
          AuditErrorCodes.AuditRetention,
          `audit retention: its entry (seq ${at.seq}) could not be sealed by a checkpoint (signing failed: see the log); nothing deleted`,
        );
      }
      this.flushSpool();
      await this.sync();
      if (this.state !== "open") return null;
      // a disk that refuses writes leaves the seal in the backlog (a failed write does not throw) and an
      // fdatasync that failed resolves too: a crash or a power cut after the deletion would then leave the
      // entry unsealed with its files gone, which the next start records as not the lane's
      // (./recovery-retention.ts). The spool is no substitute: its write is not fsynced on its own, while
      // the deletion is (syncDir below). So nothing is deleted unless an fdatasync covered the seal in the
      // segment file and nothing waits to be written; the next hourly run tries again
      const sealSeq = this.lastCp.seq;
      if (this.file.unwrittenCount > 0 || !this.file.durable(sealSeq)) {
        const why = this.file.writeError ?? "its fdatasync failed: see the log";
        throw new EtcError(
          AuditErrorCodes.AuditRetention,
          `audit retention: its entry (seq ${at.seq}) and its seal (seq ${sealSeq}) are not on the disk yet (${why}; ` +
            `${this.file.unwrittenCount} line(s) wait to be written); nothing deleted`,
        );
      }
      for (const f of plan.files) await unlink(join(this.dir, f.file));
      const side = await this.deleteSideFiles(plan.sideFiles);
      await syncDir(this.dir);
      this.log.info({ files: plan.files.length, deletedThrough: plan.deletedThrough }, "audit retention");
      return { ...plan, bound, sideFilesDeleted: side.deleted, sideFilesLeft: side.left };
    })().finally(() => {
      this.retentionRunning = null;
    });
    this.retentionRunning = p;
    return p;
  }

  /**
   * Unlinks the side files a sealed `audit.retention` entry named: `named`, this run's (just sealed), then
   * those earlier runs named and could not delete (sideFilesNamedLeft). One whose unlink fails is kept in
   * that set and logged with a warning the first time; one gone (ENOENT) is no failure; one an earlier run
   * named that is no longer a regular file (replaced by a link...) is not the lane's to delete: dropped.
   * The caller fsyncs the directory.
   */
  private async deleteSideFiles(named: readonly string[]): Promise<{ deleted: string[]; left: string[] }> {
    const deleted: string[] = [];
    const left: string[] = [];
    const earlier = [...this.sideFilesNamedLeft].sort();
    for (const f of [...named, ...earlier]) {
      const path = join(this.dir, f);
      const retry = this.sideFilesNamedLeft.has(f);
      if (retry && !isRegularFile(path)) {
        this.sideFilesNamedLeft.delete(f);
        continue;
      }
      try {
        await unlink(path);
        deleted.push(f);
        this.sideFilesNamedLeft.delete(f);
        if (retry) this.log.info({ file: f }, "audit retention: a side file left by an earlier run deleted");
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") {
          // removed meanwhile (by the operator): what the entry set out to do is done
          this.sideFilesNamedLeft.delete(f);
          continue;
        }
        left.push(f);
        if (retry) continue; // warned when its run first failed
        this.sideFilesNamedLeft.add(f);
        this.log.warn(
          { file: f, err: e instanceof Error ? e.message : String(e) },
          "audit retention: a side file of a deleted segment was not deleted; remove it by hand",
        );
      }
    }
    return { deleted, left };
  }

  /**
   * The side files a sealed `audit.retention` entry named that are still left after the latest try
   * (deleteSideFiles): those whose unlink failed and were neither deleted nor found gone since, sorted.
   * A run with nothing due (runRetention resolving null) tries them too, so the operator's
   * `journal retention --now` asks here after its run (src/service/retention-now.ts) rather than
   * relying on its run's `sideFilesLeft`.
   */
  sideFilesLeft(): string[] {
    return [...this.sideFilesNamedLeft].sort();
  }

  /**
   * Resolves once no retention run (runRetention) is under way, also when it failed; at once when none is.
   * Its deletions are what the lane's background verify waits for before a walk
   * (./background-verify.ts retentionIdleOf). A run started meanwhile is not waited for.
   */
  retentionIdle(): Promise<void> {
    return (
      this.retentionRunning?.then(
        () => undefined,
        () => undefined,
      ) ?? Promise.resolve()
    );
  }

  status(): AuditTrailStatus {
    return {
      lastSeq: this.nextSeq - 1,
      lastCheckpoint:
        this.lastCp.n > 0
          ? { n: this.lastCp.n, to: this.lastCp.to, seq: this.lastCp.seq, at: this.lastCp.at }
          : null,
      unsealed: this.unsealedCount(),
      unwritten: this.file.unwrittenCount,
      recordLines: this.records.counts(),
      writeError: this.file.writeError,
      segment: this.file.segment.name,
      witness: this.witness.status(),
    };
  }

  /** Entries after the last checkpoint's range, other than that checkpoint's own entry. */
  private unsealedCount(): number {
    const after = this.nextSeq - 1 - this.lastCp.to;
    return this.lastCp.seq > this.lastCp.to ? after - 1 : after;
  }

  /**
   * Resolves once the seal under way for entries sealed at once (SEAL_AT_ONCE: a retention entry) is done,
   * also when it failed; at once when none is. The lane's background verify waits for it before it runs
   * again (./background-verify.ts).
   */
  sealPending(): Promise<void> {
    return this.sealing?.catch(() => undefined) ?? Promise.resolve();
  }

  /**
   * Waits for a seal under way (an entry sealed at once), a checkpoint in flight, the spool batch and an
   * fdatasync of everything written.
   */
  async flush(): Promise<void> {
    this.records.settle();
    if (this.sealing) await this.sealing;
    if (this.cpInFlight) await this.cpInFlight;
    this.retryUnwritten();
    this.flushSpool();
    await this.sync();
  }

  /** Seals what is unsealed with a last checkpoint, syncs and closes. */
  async close(): Promise<void> {
    if (this.state !== "open") return;
    this.state = "closing";
    for (const t of this.timers) clearInterval(t);
    if (this.retentionRunning) await this.retentionRunning.catch(() => undefined);
    await this.witness.ready;
    if (this.cpInFlight) await this.cpInFlight;
    this.records.settle();
    if (this.unsealedCount() > 0) await this.startCheckpoint();
    await this.flush();
    await this.file.retired();
    await this.sideFilesNamed;
    if (this.spoolTimer) clearTimeout(this.spoolTimer);
    // a record committed while the last checkpoint was signed is written, unsealed (the next start seals it)
    await this.records.close();
    this.records.settle(); // and one committed while the worker stopped
    this.state = "closed";
    this.file.close();
    this.log.info({ lastSeq: this.nextSeq - 1, lastCheckpoint: this.lastCp.n }, "audit trail closed");
  }
}
