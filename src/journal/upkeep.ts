/**
 * Upkeep of the journal: retention (deleting acknowledged records past the retention period), recovery
 * after a write failure, and WAL checkpoints (a worker thread, checkpointer.ts).
 */
import { Checkpointer } from "./checkpointer.js";
import type { JournalDb } from "./db.js";
import type { JournalOutbox } from "./outbox.js";
import type { Records } from "./records.js";

const DAY_MS = 86_400_000;

export interface UpkeepOptions {
  /** keep acknowledged records this long before retention may delete them; default 90 days */
  retentionDays?: number;
  /**
   * WAL checkpoints run in a worker thread this often (PASSIVE, off the lane's thread), and SQLite's own
   * auto-checkpoint on the lane's connection only past 10,000 pages as a safety net. 0: no worker, SQLite's
   * default auto-checkpoint (every 1,000 pages, inside a commit). Default 1000 ms.
   */
  checkpointIntervalMs?: number;
}

export class Upkeep {
  private readonly retentionMs: number;
  /** the WAL checkpoint worker, unless checkpointIntervalMs is 0 */
  readonly checkpointer: Checkpointer | null;

  constructor(
    private readonly h: JournalDb,
    private readonly records: Records,
    private readonly outbox: JournalOutbox,
    opts: UpkeepOptions,
  ) {
    this.retentionMs = (opts.retentionDays ?? 90) * DAY_MS;
    const every = opts.checkpointIntervalMs ?? 1000;
    this.checkpointer = every > 0 ? new Checkpointer(h.path, every, h.log) : null;
    if (this.checkpointer) h.db.pragma("wal_autocheckpoint = 10000");
  }

  /**
   * Deletes acknowledged records older than the retention period (acknowledged before now - retention).
   * Never touches a record the station has not acknowledged. Deletes in chunks; returns how many went.
   */
  prune(now: Date = this.h.now()): number {
    this.h.assertWritable();
    const db = this.h.db;
    const cutoff = now.getTime() - this.retentionMs;
    // an unsettled suspect stays, acknowledged or not: it is what settles the debit later
    const pick = db
      .prepare(
        "SELECT a.seq FROM acks a JOIN records r ON r.seq = a.seq WHERE a.at_ms < ? AND r.kind != 'suspect' LIMIT 5000",
      )
      .pluck();
    const delRecord = db.prepare("DELETE FROM records WHERE seq = ? AND seq NOT IN (SELECT seq FROM outbox)");
    const delAck = db.prepare("DELETE FROM acks WHERE seq = ?");
    const chunk = db.transaction((): number => {
      const seqs = pick.all(cutoff) as number[];
      for (const seq of seqs) {
        delRecord.run(seq);
        delAck.run(seq);
      }
      return seqs.length;
    });
    let total = 0;
    try {
      for (;;) {
        const n = chunk.immediate();
        total += n;
        if (n < 5000) break;
      }
    } catch (e) {
      throw this.h.fail("prune", e);
    }
    if (total > 0)
      this.h.log.info({ deleted: total, cutoff: new Date(cutoff).toISOString() }, "journal pruned");
    return total;
  }

  /**
   * After a write failure: re-reads the counters from disk and tries a small durable write. If it works the
   * journal is healthy again and returns true. Safe to call at any time.
   */
  recover(): boolean {
    this.h.assertOpen();
    const db = this.h.db;
    try {
      if (db.inTransaction) db.exec("ROLLBACK");
      db.prepare(
        "INSERT INTO meta (key, value) VALUES ('health_probe', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      ).run(this.h.now().toISOString());
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

  /** Passive WAL checkpoint on the lane's own connection (the worker does this on a timer). */
  checkpoint(): void {
    this.h.assertOpen();
    this.h.db.pragma("wal_checkpoint(PASSIVE)");
  }

  close(): void {
    void this.checkpointer?.close();
  }
}
