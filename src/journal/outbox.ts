/**
 * The outbox: which records the station has not acknowledged yet. Every record is in exactly one of three
 * narrow tables keyed by sequence number: `outbox` (queued), `held` (refused by the station, waiting for an
 * operator) and `acks` (acknowledged, with the time). The next batch is a walk of the outbox b-tree plus one
 * primary-key lookup per record, O(batch) at any queue depth; the wide record rows are never rewritten by
 * the upload path. The queue depth and held count are kept in memory (counted once at open).
 *
 * With an audit trail bound to the journal (Journal.bindAudit), each move between the three tables commits
 * its audit entry in its own transaction, as a retention batch does (src/journal/upkeep.ts): the station's
 * acknowledgement `uplink.acked`, a hold `uplink.records-held`, the operator's requeue
 * `uplink.records-requeued`, each naming the journal seqs it moved (docs/audit.md, "Journal binding").
 * The records to move are picked before the transaction (the lane's thread is the journal's only writer,
 * so nothing changes in between): the entry must name them before the transaction writes it.
 *
 * Each queued row keeps when it joined the queue (`queued_at_ms`, the journal's wall clock; schema 7 in
 * ./db.ts): a commit, a settlement of a record no longer queued (acknowledged or held) and an operator's
 * requeue stamp it; a settlement of a record still queued keeps the stamp it has (its data has waited
 * since then). The queue's age (queueAge) counts from it, not from the record's creation.
 */
import type Database from "better-sqlite3";
import { type Observable, Subject } from "rxjs";
import type { AuditEventInput } from "../audit/entry.js";
import {
  uplinkAckedEvent,
  uplinkOrphansDroppedEvent,
  uplinkRecordsHeldEvent,
  uplinkRequeuedEvent,
} from "../audit/events.js";
import type { BoundEntry } from "../audit/records.js";
import { localIso } from "../local-time.js";
import type { AckClock } from "./ack-clock.js";
import { type JournalAudit, seqRanges } from "./audit-binding.js";
import type { JournalDb } from "./db.js";
import type { PendingRecord, RecordKind } from "./types.js";

/** A record the station refused: taken out of the upload queue, kept (never pruned) until requeued. */
export interface HoldItem {
  tradeId: string;
  code: string;
  message: string;
  /**
   * The revision the station refused. When the record has a newer one (it was settled while the refused
   * revision was on its way), it is not held: the newer revision goes to the station in its turn; except
   * for a `CONFLICT` (CONFLICT_CODE), which concerns the trade id, not the revision: the record's current
   * revision is held with it, as a settlement of a record held for a CONFLICT keeps it held.
   */
  revision?: number;
}

/**
 * The station's refusal of a revision it holds with other content (docs/station-api.md "Upload
 * transactions"): another record under the same trade id (a second lane under this lane id, a data
 * directory put back from an older copy). A record held with it stays held when it is settled
 * (requeueInTx): sent again, its higher revision would replace the other record at a station that replaces
 * on a higher revision, and that record would be gone unseen. An operator compares the two and requeues it.
 */
export const CONFLICT_CODE = "CONFLICT";

/**
 * The held message of a record whose settled revision `revision` stays held with a CONFLICT the station
 * answered (`refusal`): held when settled (JournalOutbox.requeueInTx) or settled while the refused revision
 * was on its way (JournalOutbox.hold).
 */
function conflictKeptMessage(revision: number, refusal: string): string {
  return (
    `revision ${revision} (settled) stays held with the conflict: the station holds another record ` +
    `under this trade id (${refusal}); compare the two, then requeue it (etc-lane journal requeue-held --conflicts)`
  );
}

/** What Outbox.requeueHeld did: records back in the queue, and those held for a CONFLICT it left held. */
export interface RequeueHeldResult {
  requeued: number;
  leftConflicts: number;
}

/**
 * The operator's answer to a requeue (`etc-lane journal requeue-held`, with or without a lane running:
 * src/service/runtime-operator.ts, src/cli/stopped-lane-operator.ts): what went back, and how many
 * records held for a CONFLICT stay held and how to release them.
 */
export function requeueHeldAnswer(r: RequeueHeldResult): { message: string; data: Record<string, unknown> } {
  const left =
    r.leftConflicts === 0
      ? ""
      : `; ${r.leftConflicts} record(s) held for a CONFLICT left held: the station holds another record ` +
        "under each one's trade id; compare the two (etc-lane transactions list shows them HELD), then " +
        "release them with etc-lane journal requeue-held --conflicts";
  return {
    message: `${r.requeued} held record(s) back in the upload queue${left}`,
    data: { requeued: r.requeued, leftConflicts: r.leftConflicts },
  };
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
  /** how long the queue has waited, on the wall clock; null when nothing is queued (QueueAge) */
  queueAge(now?: Date): QueueAge | null;
  /**
   * false while the journal records nothing (disk full, write failure: until recover()); it could not record
   * the station's acknowledgement then, so the uplink sends no records (absent: always healthy)
   */
  readonly healthy?: boolean;
  /**
   * true while the outbox writes the audit entries of its moves itself, in their own transactions (a
   * journal bound to the audit trail): the uplink then writes no `uplink.records-held` entry of its own
   */
  readonly bindsAudit?: boolean;
  /**
   * Resolves once the audit entry of every record committed so far is built and written (a journal bound
   * to the trail builds it after the commit, off the lane thread: src/audit/record-queue.ts). The uplink
   * waits for it before it records an acknowledgement or a hold, whose entry would otherwise make the lane
   * thread build those records' entries itself. Absent: at once.
   */
  recordsWritten?(): Promise<void>;
  /**
   * The uplink's answer to a read that found no record while queueDepth() says some wait: the outbox rows
   * whose record row is gone (journal.db edited or damaged; `audit verify` names each deleted row,
   * docs/audit.md) are taken out of the queue, named in the journal's log, and the queue is counted again
   * from the disk. Returns their seqs, in order. Absent: nothing is taken out (the uplink backs off and
   * reads again).
   */
  dropOrphans?(): number[];
  /**
   * emits when records join the queue: after each commit, settlement and requeueHeld (`seq` -1 then); the
   * uplink uses it to wake up
   */
  readonly commits$: Observable<{ seq: number; tradeId: string }>;
}

/**
 * How long the queue has waited, measured on the wall clock at `now` from when each record joined it
 * (`queued_at_ms`); a stamp later than `now` (the clock set back since) counts as 0.
 */
export interface QueueAge {
  /** the record queued earliest: how long it has waited (the age of the queue) */
  oldestMs: number;
  /** the record that goes next (the lowest seq) and how long it has waited */
  head: { seq: number; ageMs: number };
}

/** Where a record is, for a move: picked before the move's transaction. */
type PlaceRow = { seq: number; revision: number; queued: number; held: number };
type Move = { seq: number; from: "outbox" | "held" };

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

/**
 * The queue's head and its earliest stamp: the first row of the outbox b-tree and one probe of the
 * `outbox_queued` index. A journal before schema 7 (`audit verify` opens any version read-only) has no
 * stamp: its head's creation time stands for both, what the age counted from before (and what migration
 * 7 stamps).
 */
const QUEUE_AGE_SQL = {
  stamped:
    "SELECT o.seq, o.queued_at_ms AS head_ms, (SELECT MIN(queued_at_ms) FROM outbox) AS oldest_ms " +
    "FROM outbox o ORDER BY o.seq LIMIT 1",
  unstamped:
    "SELECT o.seq, r.created_at_ms AS head_ms, r.created_at_ms AS oldest_ms " +
    "FROM outbox o JOIN records r ON r.seq = o.seq ORDER BY o.seq LIMIT 1",
} as const;

type QueueAgeRow = { seq: number; head_ms: number | null; oldest_ms: number | null };

/** Read-only outbox figures, on any handle (the CLI's too). */
export class OutboxQueries {
  private readonly stmtQueueAge: Database.Statement<[], QueueAgeRow>;

  constructor(
    protected readonly db: Database.Database,
    protected readonly assertOpen: () => void,
    protected readonly guard: ReadGuard = unguarded,
  ) {
    const stamped = db
      .prepare("SELECT 1 AS x FROM pragma_table_info('outbox') WHERE name = 'queued_at_ms'")
      .get();
    this.stmtQueueAge = db.prepare(
      stamped ? QUEUE_AGE_SQL.stamped : QUEUE_AGE_SQL.unstamped,
    ) as Database.Statement<[], QueueAgeRow>;
  }

  /** How long the queue has waited at `now` (QueueAge), or null when nothing is queued. O(1). */
  queueAge(now: Date = new Date()): QueueAge | null {
    this.assertOpen();
    const r = this.guard("queueAge", () => this.stmtQueueAge.get());
    if (!r) return null;
    const t = now.getTime();
    const age = (ms: number | null): number => (ms === null ? 0 : Math.max(0, t - ms));
    const head = { seq: r.seq, ageMs: age(r.head_ms) };
    return { oldestMs: Math.max(age(r.oldest_ms), head.ageMs), head };
  }

  /** How long the record queued earliest has waited (QueueAge.oldestMs), or null when none is queued. */
  oldestPendingAgeMs(now: Date = new Date()): number | null {
    return this.queueAge(now)?.oldestMs ?? null;
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
  private readonly stmtAckDel: Database.Statement;
  private readonly stmtOutboxAddIfMissing: Database.Statement;
  private readonly stmtOutboxDel: Database.Statement;
  private readonly stmtAckAdd: Database.Statement;
  private readonly stmtHeldDel: Database.Statement;
  private readonly stmtHeldRow: Database.Statement<[number], { code: string; message: string }>;
  private readonly stmtHeldMessage: Database.Statement;
  private readonly stmtPending: Database.Statement<[number], PendingRow>;
  private readonly stmtPlace: Database.Statement<[string], PlaceRow>;
  private readonly stmtHeldPut: Database.Statement;
  private readonly stmtHeldSeqs: Database.Statement<[], { seq: number; code: string }>;
  private readonly stmtOrphans: Database.Statement<[], number>;
  private readonly txDropOrphans: (seqs: readonly number[], bound?: BoundEntry) => void;
  private readonly txAck: (moves: readonly Move[], at: number, bound?: BoundEntry) => void;
  private readonly txHold: (
    moves: readonly { seq: number; item: HoldItem }[],
    at: number,
    bound?: BoundEntry,
  ) => void;
  private readonly txRequeue: (seqs: readonly number[], at: number, bound?: BoundEntry) => number;
  /** runs a move's picking reads in one read transaction (one lock, not one per statement) */
  private readonly inRead: (f: () => unknown) => unknown;

  constructor(
    private readonly h: JournalDb,
    private readonly audit: JournalAudit,
    /** the acknowledgements' stamps (./ack-clock.ts) */
    private readonly clock: AckClock,
  ) {
    super(
      h.db,
      () => h.assertOpen(),
      (op, f) => h.read(op, f),
    );
    const c = this.countOnDisk();
    this.pendingCount = c.queued;
    this.heldCountMem = c.held;
    const db = h.db;
    this.stmtOutboxAdd = db.prepare("INSERT INTO outbox (seq, queued_at_ms) VALUES (?, ?)");
    this.stmtAckDel = db.prepare("DELETE FROM acks WHERE seq = ?");
    // a record still queued keeps its stamp (the class comment says why)
    this.stmtOutboxAddIfMissing = db.prepare(
      "INSERT OR IGNORE INTO outbox (seq, queued_at_ms) VALUES (?, ?)",
    );
    this.stmtOutboxDel = db.prepare("DELETE FROM outbox WHERE seq = ?");
    this.stmtAckAdd = db.prepare("INSERT OR REPLACE INTO acks (seq, at_ms) VALUES (?, ?)");
    this.stmtHeldDel = db.prepare("DELETE FROM held WHERE seq = ?");
    this.stmtHeldRow = db.prepare("SELECT code, message FROM held WHERE seq = ?") as Database.Statement<
      [number],
      { code: string; message: string }
    >;
    this.stmtHeldMessage = db.prepare("UPDATE held SET message = ? WHERE seq = ?");
    this.stmtPending = db.prepare(
      "SELECT r.seq, r.trade_id, r.kind, r.revision, r.created_at_ms, r.record FROM outbox o JOIN records r ON r.seq = o.seq " +
        "ORDER BY o.seq LIMIT ?",
    ) as Database.Statement<[number], PendingRow>;
    this.stmtPlace = db.prepare(
      "SELECT r.seq, r.revision, EXISTS (SELECT 1 FROM outbox o WHERE o.seq = r.seq) AS queued, " +
        "EXISTS (SELECT 1 FROM held h WHERE h.seq = r.seq) AS held FROM records r WHERE r.trade_id = ?",
    ) as Database.Statement<[string], PlaceRow>;
    this.stmtHeldPut = db.prepare(
      "INSERT OR REPLACE INTO held (seq, at_ms, code, message) VALUES (?, ?, ?, ?)",
    );
    this.stmtHeldSeqs = db.prepare("SELECT seq, code FROM held ORDER BY seq") as Database.Statement<
      [],
      { seq: number; code: string }
    >;
    // a scan of the outbox: only when the count and the rows disagree (dropOrphans)
    this.stmtOrphans = db
      .prepare(
        "SELECT o.seq FROM outbox o WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.seq = o.seq) ORDER BY o.seq",
      )
      .pluck() as Database.Statement<[], number>;
    this.inRead = db.transaction((f: () => unknown) => f()).deferred;
    const putEntry = (bound: BoundEntry | undefined): void => {
      if (bound) this.audit.spool.putInTx(bound.spool, bound.head);
    };
    this.txDropOrphans = db.transaction((seqs: readonly number[], bound?: BoundEntry) => {
      for (const seq of seqs) this.stmtOutboxDel.run(seq);
      putEntry(bound);
    }).immediate;
    this.txAck = db.transaction((moves: readonly Move[], at: number, bound?: BoundEntry) => {
      for (const m of moves) {
        (m.from === "outbox" ? this.stmtOutboxDel : this.stmtHeldDel).run(m.seq);
        this.stmtAckAdd.run(m.seq, at);
      }
      putEntry(bound);
    }).immediate;
    this.txHold = db.transaction(
      (moves: readonly { seq: number; item: HoldItem }[], at: number, bound?: BoundEntry) => {
        for (const { seq, item } of moves) {
          this.stmtOutboxDel.run(seq);
          this.stmtHeldPut.run(seq, at, item.code, item.message);
        }
        putEntry(bound);
      },
    ).immediate;
    this.txRequeue = db.transaction((seqs: readonly number[], at: number, bound?: BoundEntry) => {
      let n = 0;
      for (const seq of seqs) {
        n += this.stmtOutboxAddIfMissing.run(seq, at).changes;
        this.stmtHeldDel.run(seq);
      }
      putEntry(bound);
      return n;
    }).immediate;
  }

  /** The reads that pick a move's records, before its transaction (the class comment says why). */
  private picked<T>(op: string, f: () => T): T {
    return this.guard(op, () => this.inRead(f) as T);
  }

  /** An audit trail is bound: each move writes its entry in its own transaction. */
  get bindsAudit(): boolean {
    return this.audit.binder !== null;
  }

  recordsWritten(): Promise<void> {
    return this.audit.binder?.recordsWritten() ?? Promise.resolve();
  }

  /**
   * Runs `tx` inside the trail's bindEvent when a trail is bound (the entry `ev()` commits with it), else
   * alone. A trail that refuses before the transaction (it is closed) is not the journal's failure: its
   * error is thrown as it is, nothing moved; a failure inside the transaction is (as for a commit,
   * src/journal/records.ts).
   */
  private bound<T>(op: string, ev: () => AuditEventInput, tx: (b?: BoundEntry) => T): T {
    const binder = this.audit.binder;
    let inTx = false;
    try {
      if (!binder) {
        inTx = true;
        return tx();
      }
      return binder.bindEvent(ev(), (b) => {
        inTx = true;
        return tx(b);
      });
    } catch (e) {
      if (!inTx) throw e;
      throw this.h.fail(op, e);
    }
  }

  /** Inside the records' commit transaction: queue a new record, committed at `atMs`. */
  enqueueInTx(seq: number, atMs: number): void {
    this.stmtOutboxAdd.run(seq, atMs);
  }

  /** After that transaction committed: count the records and wake the uplink. */
  enqueued(n: number, lastSeq: number, lastTradeId: string): void {
    this.pendingCount += n;
    this.commitSubject.next({ seq: lastSeq, tradeId: lastTradeId });
  }

  /**
   * Inside a settlement's transaction: the changed record must reach the station again, wherever it was
   * (acknowledged, held or still queued), queued at `atMs` unless it still is; but one held for a
   * `CONFLICT` (CONFLICT_CODE) stays held, its message saying that revision `revision` (the settled one)
   * waits with it for an operator's requeue. Returns what moved, for requeued().
   */
  requeueInTx(
    seq: number,
    atMs: number,
    revision: number,
  ): { added: number; fromHeld: number; keptHeld: boolean } {
    const held = this.stmtHeldRow.get(seq);
    if (held?.code === CONFLICT_CODE) {
      this.stmtHeldMessage.run(conflictKeptMessage(revision, held.message), seq);
      return { added: 0, fromHeld: 0, keptHeld: true };
    }
    this.stmtAckDel.run(seq);
    const fromHeld = this.stmtHeldDel.run(seq).changes;
    const added = this.stmtOutboxAddIfMissing.run(seq, atMs).changes;
    return { added, fromHeld, keptHeld: false };
  }

  /** After that transaction committed: count and wake the uplink. */
  requeued(
    moved: { added: number; fromHeld: number; keptHeld: boolean },
    seq: number,
    tradeId: string,
  ): void {
    this.pendingCount += moved.added;
    this.heldCountMem -= moved.fromHeld;
    if (moved.keptHeld)
      this.h.log.warn(
        { seq, tradeId },
        "settled record stays held: the station refused it as CONFLICT (another record under its trade id)",
      );
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
   * The acknowledgement is stamped `ackTime`, or the newest stamp stored when that is later (a clock set
   * back does not backdate it: ./ack-clock.ts). Returns how many records changed from pending to
   * acknowledged.
   */
  markUploaded(acks: readonly UploadAck[], ackTime: Date = this.h.now()): number {
    this.h.assertWritable();
    if (acks.length === 0) return 0;
    const moves = this.picked("markUploaded", () => {
      const out: Move[] = [];
      const seen = new Set<number>();
      for (const ack of acks) {
        const row = this.stmtPlace.get(ack.tradeId);
        // unknown, or settled again since that revision was sent: the new revision still has to go
        if (!row || row.revision > ack.revision || seen.has(row.seq)) continue;
        seen.add(row.seq);
        if (row.queued) out.push({ seq: row.seq, from: "outbox" });
        else if (row.held) out.push({ seq: row.seq, from: "held" });
        // else already acknowledged
      }
      return out;
    });
    if (moves.length === 0) return 0;
    const at = this.clock.stamp(ackTime.getTime());
    this.bound(
      "markUploaded",
      () =>
        uplinkAckedEvent({
          acked: seqRanges(moves.map((m) => m.seq)),
          count: moves.length,
          at: localIso(at, this.h.utcOffsetMinutes),
        }),
      (b) => this.txAck(moves, at, b),
    );
    const fromHeld = moves.filter((m) => m.from === "held").length;
    this.pendingCount -= moves.length - fromHeld;
    this.heldCountMem -= fromHeld;
    return moves.length;
  }

  /**
   * Takes records the station refused out of the upload queue so that the records behind them keep flowing.
   * A held record is still unacknowledged: retention never deletes it, list() shows it with its reason, and
   * requeueHeld() puts it back in the queue (after the station or the record has been fixed). An item whose
   * `revision` is older than the record's stays queued, unless its code is CONFLICT (see HoldItem).
   */
  hold(items: readonly HoldItem[], at: Date = this.h.now()): number {
    this.h.assertWritable();
    const moves = this.picked("hold", () => {
      const out: { seq: number; item: HoldItem }[] = [];
      const seen = new Set<number>();
      for (const it of items) {
        const row = this.stmtPlace.get(it.tradeId);
        if (!row) continue;
        const settledSince = it.revision !== undefined && row.revision > it.revision;
        if (settledSince && it.code !== CONFLICT_CODE) continue;
        if (row.queued && !seen.has(row.seq)) {
          seen.add(row.seq);
          // a CONFLICT concerns the trade id: the settled revision would replace the other record
          const item = settledSince
            ? { ...it, revision: row.revision, message: conflictKeptMessage(row.revision, it.message) }
            : it;
          out.push({ seq: row.seq, item });
        }
      }
      return out;
    });
    const n = moves.length;
    if (n === 0) return 0;
    const first = moves[0]!.item;
    this.bound(
      "hold",
      () =>
        uplinkRecordsHeldEvent(
          {
            tradeIds: moves.slice(0, 50).map((m) => m.item.tradeId),
            codes: [...new Set(moves.map((m) => m.item.code))],
            held: seqRanges(moves.map((m) => m.seq)),
            count: n,
          },
          first,
        ),
      (b) => this.txHold(moves, at.getTime(), b),
    );
    this.pendingCount -= n;
    this.heldCountMem += n;
    this.h.log.warn({ held: n, first: first.tradeId }, "records held out of the upload queue");
    return n;
  }

  /**
   * The operator's action: puts the held records back into the upload queue (in sequence order), queued
   * at `at`: every one held for another code, and those held for a `CONFLICT` (CONFLICT_CODE) only with
   * `conflicts` (`etc-lane journal requeue-held --conflicts`): sent again, such a record's revision
   * replaces the other record under its trade id at a station that replaces on a higher revision, so it
   * goes only once an operator has compared the two. The `uplink.records-requeued` entry names the records
   * moved; the ones left stay held as the trail has them (src/audit/verify-uploads.ts).
   */
  requeueHeld(at: Date = this.h.now(), opts: { conflicts?: boolean } = {}): RequeueHeldResult {
    this.h.assertWritable();
    const rows = this.picked("requeueHeld", () => this.stmtHeldSeqs.all());
    const seqs: number[] = [];
    let leftConflicts = 0;
    for (const r of rows)
      if (r.code === CONFLICT_CODE && !opts.conflicts) leftConflicts++;
      else seqs.push(r.seq);
    if (seqs.length === 0) return { requeued: 0, leftConflicts };
    const n = this.bound(
      "requeueHeld",
      () => uplinkRequeuedEvent({ requeued: seqRanges(seqs), count: seqs.length }),
      (b) => this.txRequeue(seqs, at.getTime(), b),
    );
    this.pendingCount += n;
    this.heldCountMem -= seqs.length;
    if (n > 0) this.commitSubject.next({ seq: -1, tradeId: "" });
    return { requeued: n, leftConflicts };
  }

  /**
   * Outbox rows whose record row is gone (Outbox.dropOrphans): pending() joins each queued seq to its
   * record, so it never returns them, but they stay counted, and the count says records wait that no read
   * returns. A journal row deleted is tampering or damage, which `audit verify` reports by the record's
   * entry in the trail (docs/audit.md, "a row deleted"), not by its outbox row; with no record there is
   * nothing to send, so the row is taken out of the queue rather than left to hold the queue's count and
   * age for ever, and its seq is named in an error of the journal's log (and in the uplink's status) and
   * in an `uplink.orphans-dropped` alarm committed with the drop (a trail bound). Then the queue is counted
   * again from the disk (reload).
   */
  dropOrphans(): number[] {
    this.h.assertWritable();
    const seqs = this.guard("dropOrphans", () => this.stmtOrphans.all());
    if (seqs.length > 0) {
      this.bound(
        "dropOrphans",
        () => uplinkOrphansDroppedEvent({ dropped: seqRanges(seqs), count: seqs.length }),
        (b) => this.txDropOrphans(seqs, b),
      );
      this.h.log.error(
        { seqs: seqRanges(seqs), count: seqs.length },
        "outbox rows whose journal record row is gone (journal.db edited or damaged: audit verify names the deleted rows) taken out of the upload queue",
      );
    }
    this.reload();
    return seqs;
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
