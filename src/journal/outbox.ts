/**
 * The outbox: which records the station has not acknowledged yet. Every record is in exactly one of three
 * narrow tables keyed by sequence number: `outbox` (queued), `held` (refused by the station, waiting for an
 * operator) and `acks` (acknowledged, with the time). The next batch is a walk of the outbox b-tree plus one
 * primary-key lookup per record, O(batch) at any queue depth; the wide record rows are never rewritten by
 * the upload path. The queue depth and held count are kept in memory (counted once at open).
 */
import type Database from "better-sqlite3";
import { type Observable, Subject } from "rxjs";
import type { JournalDb } from "./db.js";
import type { PendingRecord, RecordKind } from "./types.js";

/** A record the station refused: taken out of the upload queue, kept (never pruned) until requeued. */
export interface HoldItem {
  tradeId: string;
  code: string;
  message: string;
  /**
   * The revision the station refused. When the record has a newer one (it was settled while the refused
   * revision was on its way), it is not held: the newer revision goes to the station in its turn.
   */
  revision?: number;
}

/** The station stored this revision of this record (or a newer one). */
export interface UploadAck {
  tradeId: string;
  revision: number;
}

/** Where the uplink reads the outbox. Journal implements it; tests may fake it. */
export interface Outbox {
  pending(limit: number): PendingRecord[];
  markUploaded(acks: readonly UploadAck[], ackTime: Date): number;
  hold(items: readonly HoldItem[], at: Date): number;
  queueDepth(): number;
  heldCount(): number;
  oldestPendingAgeMs(now?: Date): number | null;
  /**
   * false while the journal records nothing (disk full, write failure: until recover()); it could not record
   * the station's acknowledgement then, so the uplink sends no records (absent: always healthy)
   */
  readonly healthy?: boolean;
  /**
   * emits when records join the queue: after each commit, settlement and requeueHeld (`seq` -1 then); the
   * uplink uses it to wake up
   */
  readonly commits$: Observable<{ seq: number; tradeId: string }>;
}

type PendingRow = {
  seq: number;
  trade_id: string;
  kind: string;
  revision: number;
  created_at_ms: number;
  record: string;
};

/**
 * How a read runs: on the lane's handle through JournalDb.read (a damaged file or an I/O error is the
 * journal's failure), on a read-only handle as it is.
 */
export type ReadGuard = <T>(op: string, f: () => T) => T;
export const unguarded: ReadGuard = (_op, f) => f();

/** Read-only outbox figures, on any handle (the CLI's too). */
export class OutboxQueries {
  private readonly stmtOldest: Database.Statement<[], { created_at_ms: number }>;

  constructor(
    protected readonly db: Database.Database,
    protected readonly assertOpen: () => void,
    protected readonly guard: ReadGuard = unguarded,
  ) {
    this.stmtOldest = db.prepare(
      "SELECT r.created_at_ms FROM outbox o JOIN records r ON r.seq = o.seq ORDER BY o.seq LIMIT 1",
    ) as Database.Statement<[], { created_at_ms: number }>;
  }

  /** Age of the oldest record waiting in the queue, or null if none. One index probe. */
  oldestPendingAgeMs(now: Date = new Date()): number | null {
    this.assertOpen();
    const r = this.guard("oldestPendingAgeMs", () => this.stmtOldest.get());
    return r ? Math.max(0, now.getTime() - r.created_at_ms) : null;
  }

  /** Counted on disk (a scan of the narrow tables): for open, recover() and the CLI. */
  countOnDisk(): { queued: number; held: number } {
    return this.guard("countOnDisk", () => {
      const queued = (this.db.prepare("SELECT COUNT(*) AS n FROM outbox").get() as { n: number }).n;
      const held = (this.db.prepare("SELECT COUNT(*) AS n FROM held").get() as { n: number }).n;
      return { queued, held };
    });
  }
}

export class JournalOutbox extends OutboxQueries implements Outbox {
  private pendingCount: number;
  private heldCountMem: number;
  private readonly commitSubject = new Subject<{ seq: number; tradeId: string }>();
  readonly commits$: Observable<{ seq: number; tradeId: string }> = this.commitSubject.asObservable();
  private readonly stmtOutboxAdd: Database.Statement;
  private readonly stmtRevisionOf: Database.Statement<[string], { seq: number; revision: number }>;
  private readonly stmtAckDel: Database.Statement;
  private readonly stmtOutboxAddIfMissing: Database.Statement;
  private readonly stmtOutboxDel: Database.Statement;
  private readonly stmtAckAdd: Database.Statement;
  private readonly stmtHeldDel: Database.Statement;
  private readonly stmtPending: Database.Statement<[number], PendingRow>;
  private readonly txAck: (
    acks: readonly UploadAck[],
    at: number,
  ) => { fromOutbox: number; fromHeld: number };

  constructor(private readonly h: JournalDb) {
    super(
      h.db,
      () => h.assertOpen(),
      (op, f) => h.read(op, f),
    );
    const c = this.countOnDisk();
    this.pendingCount = c.queued;
    this.heldCountMem = c.held;
    const db = h.db;
    this.stmtOutboxAdd = db.prepare("INSERT INTO outbox (seq) VALUES (?)");
    this.stmtRevisionOf = db.prepare(
      "SELECT seq, revision FROM records WHERE trade_id = ?",
    ) as Database.Statement<[string], { seq: number; revision: number }>;
    this.stmtAckDel = db.prepare("DELETE FROM acks WHERE seq = ?");
    this.stmtOutboxAddIfMissing = db.prepare("INSERT OR IGNORE INTO outbox (seq) VALUES (?)");
    this.stmtOutboxDel = db.prepare("DELETE FROM outbox WHERE seq = ?");
    this.stmtAckAdd = db.prepare("INSERT OR REPLACE INTO acks (seq, at_ms) VALUES (?, ?)");
    this.stmtHeldDel = db.prepare("DELETE FROM held WHERE seq = ?");
    this.stmtPending = db.prepare(
      "SELECT r.seq, r.trade_id, r.kind, r.revision, r.created_at_ms, r.record FROM outbox o JOIN records r ON r.seq = o.seq " +
        "ORDER BY o.seq LIMIT ?",
    ) as Database.Statement<[number], PendingRow>;
    this.txAck = db
      .transaction((acks: readonly UploadAck[], at: number) => {
        const r = { fromOutbox: 0, fromHeld: 0 };
        for (const ack of acks) {
          const row = this.stmtRevisionOf.get(ack.tradeId);
          // unknown, or settled again since that revision was sent: the new revision still has to go
          if (!row || row.revision > ack.revision) continue;
          if (this.stmtOutboxDel.run(row.seq).changes === 1) r.fromOutbox++;
          else if (this.stmtHeldDel.run(row.seq).changes === 1) r.fromHeld++;
          else continue; // already acknowledged
          this.stmtAckAdd.run(row.seq, at);
        }
        return r;
      })
      .immediate.bind(null) as (
      acks: readonly UploadAck[],
      at: number,
    ) => { fromOutbox: number; fromHeld: number };
  }

  /** Inside the records' commit transaction: queue a new record. */
  enqueueInTx(seq: number): void {
    this.stmtOutboxAdd.run(seq);
  }

  /** After that transaction committed: count the records and wake the uplink. */
  enqueued(n: number, lastSeq: number, lastTradeId: string): void {
    this.pendingCount += n;
    this.commitSubject.next({ seq: lastSeq, tradeId: lastTradeId });
  }

  /**
   * Inside a settlement's transaction: the changed record must reach the station again, wherever it was
   * (acknowledged, held or still queued). Returns what moved, for requeued().
   */
  requeueInTx(seq: number): { added: number; fromHeld: number } {
    this.stmtAckDel.run(seq);
    const fromHeld = this.stmtHeldDel.run(seq).changes;
    const added = this.stmtOutboxAddIfMissing.run(seq).changes;
    return { added, fromHeld };
  }

  /** After that transaction committed: count and wake the uplink. */
  requeued(moved: { added: number; fromHeld: number }, seq: number, tradeId: string): void {
    this.pendingCount += moved.added;
    this.heldCountMem -= moved.fromHeld;
    this.commitSubject.next({ seq, tradeId });
  }

  /** Re-counts from disk (recover()). */
  reload(): void {
    const c = this.countOnDisk();
    this.pendingCount = c.queued;
    this.heldCountMem = c.held;
  }

  /** The next `limit` records waiting for the station, oldest first (sequence order). O(limit). */
  pending(limit: number): PendingRecord[] {
    this.assertOpen();
    return this.guard("pending", () => this.stmtPending.all(limit)).map((r) => ({
      seq: r.seq,
      tradeId: r.trade_id,
      kind: r.kind as RecordKind,
      revision: r.revision,
      createdAtMs: r.created_at_ms,
      json: r.record,
    }));
  }

  /**
   * Marks records the station has acknowledged, each with the revision that was sent. Unknown or already
   * acknowledged trade ids are ignored, and so is the acknowledgement of a revision older than the record's
   * current one (it was settled while the older revision was on its way): the record stays queued.
   * Returns how many records changed from pending to acknowledged.
   */
  markUploaded(acks: readonly UploadAck[], ackTime: Date = this.h.now()): number {
    this.h.assertWritable();
    if (acks.length === 0) return 0;
    let r: { fromOutbox: number; fromHeld: number };
    try {
      r = this.txAck(acks, ackTime.getTime());
    } catch (e) {
      throw this.h.fail("markUploaded", e);
    }
    this.pendingCount -= r.fromOutbox;
    this.heldCountMem -= r.fromHeld;
    return r.fromOutbox + r.fromHeld;
  }

  /**
   * Takes records the station refused out of the upload queue so that the records behind them keep flowing.
   * A held record is still unacknowledged: retention never deletes it, list() shows it with its reason, and
   * requeueHeld() puts it back in the queue (after the station or the record has been fixed). An item whose
   * `revision` is older than the record's stays queued (see HoldItem).
   */
  hold(items: readonly HoldItem[], at: Date = this.h.now()): number {
    this.h.assertWritable();
    const put = this.h.db.prepare(
      "INSERT OR REPLACE INTO held (seq, at_ms, code, message) VALUES (?, ?, ?, ?)",
    );
    const tx = this.h.db.transaction(() => {
      let n = 0;
      for (const it of items) {
        const row = this.stmtRevisionOf.get(it.tradeId);
        if (!row || (it.revision !== undefined && row.revision > it.revision)) continue;
        if (this.stmtOutboxDel.run(row.seq).changes === 1) {
          put.run(row.seq, at.getTime(), it.code, it.message);
          n++;
        }
      }
      return n;
    });
    let n: number;
    try {
      n = tx.immediate();
    } catch (e) {
      throw this.h.fail("hold", e);
    }
    this.pendingCount -= n;
    this.heldCountMem += n;
    if (n > 0) this.h.log.warn({ held: n, first: items[0]?.tradeId }, "records held out of the upload queue");
    return n;
  }

  /** The operator's action: puts every held record back into the upload queue (in sequence order). */
  requeueHeld(): number {
    this.h.assertWritable();
    const tx = this.h.db.transaction(() => {
      const n = this.h.db.prepare("INSERT OR IGNORE INTO outbox (seq) SELECT seq FROM held").run().changes;
      this.h.db.prepare("DELETE FROM held").run();
      return n;
    });
    let n: number;
    try {
      n = tx.immediate();
    } catch (e) {
      throw this.h.fail("requeueHeld", e);
    }
    this.pendingCount += n;
    this.heldCountMem = 0;
    if (n > 0) this.commitSubject.next({ seq: -1, tradeId: "" });
    return n;
  }

  /** Records taken out of the queue by hold(), waiting for an operator. O(1). */
  heldCount(): number {
    return this.heldCountMem;
  }

  /** Records the station has not acknowledged yet (queued, not held). O(1). */
  queueDepth(): number {
    return this.pendingCount;
  }

  close(): void {
    this.commitSubject.complete();
  }
}
