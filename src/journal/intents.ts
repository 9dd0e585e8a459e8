/**
 * Debit intents: the write-ahead note the lane writes before a debit command (C6/C3, or the C8 after it),
 * so that a process that dies before recording the answer leaves a trace the next start can settle. The
 * record that settles an intent deletes it in its own commit transaction (records.ts).
 */
import type Database from "better-sqlite3";
import type { JournalDb } from "./db.js";

/** A debit the lane sent (C6/C3, or C8 after it) whose outcome it has not recorded yet. */
export interface DebitIntent {
  id: number;
  obuId: string;
  createdAtMs: number;
  /** what the lane stored with it (the controller's machine state), JSON */
  state: string;
}

export class Intents {
  private stmts: { insert: Database.Statement; update: Database.Statement } | undefined;
  private readonly stmtDel: Database.Statement;

  constructor(private readonly h: JournalDb) {
    this.stmtDel = h.db.prepare("DELETE FROM intents WHERE id = ?");
  }

  /**
   * Writes (id undefined) or rewrites a debit intent. Written without an fsync of its own (no fsync on the
   * lane's B4 -> C6 path): it survives a process kill, and the next commit's fsync of the WAL makes it durable
   * against a power cut too. Throws E601 like commit() when it cannot be written.
   */
  writeIntent(obuId: string, state: string, id?: number): number {
    this.h.assertWritable();
    this.stmts ??= {
      insert: this.h.db.prepare("INSERT INTO intents (obu_id, created_at_ms, state) VALUES (?, ?, ?)"),
      update: this.h.db.prepare("UPDATE intents SET state = ? WHERE id = ?"),
    };
    const st = this.stmts;
    try {
      return this.h.withoutOwnFsync(() => {
        if (id !== undefined && st.update.run(state, id).changes === 1) return id;
        return Number(st.insert.run(obuId.toUpperCase(), this.h.now().getTime(), state).lastInsertRowid);
      });
    } catch (e) {
      throw this.h.fail("writeIntent", e);
    }
  }

  /** Debit intents no record has settled: after a crash, the debits whose outcome the lane never learnt. */
  openIntents(): DebitIntent[] {
    this.h.assertOpen();
    return (
      this.h.db.prepare("SELECT id, obu_id, created_at_ms, state FROM intents ORDER BY id").all() as {
        id: number;
        obu_id: string;
        created_at_ms: number;
        state: string;
      }[]
    ).map((r) => ({ id: r.id, obuId: r.obu_id, createdAtMs: r.created_at_ms, state: r.state }));
  }

  /** Inside a record's commit transaction: the intent that record settles. */
  deleteInTx(id: number): void {
    this.stmtDel.run(id);
  }
}
