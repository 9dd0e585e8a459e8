/**
 * Debit intents: the write-ahead note the lane writes before a debit command (C6/C3, or the C8 after it),
 * so that a process that dies before recording the answer leaves a trace the next start can settle. The
 * journal stores a key and a payload as given; the record (or settlement) that resolves an intent deletes
 * it in its own commit transaction (records.ts), deleteIntent() drops one that needs no record, and
 * withdraw() drops one whose debit command was never sent, when the journal can be written (at once, or
 * in recover()).
 */
import type Database from "better-sqlite3";
import { EtcError } from "../../firmware-bridge/errors.js";
import type { JournalDb } from "./db.js";
import { JournalErrorCodes } from "./errors.js";
import type { OpenIntent } from "./types.js";

/** An open intent as openIntents() returns it: its id, key, creation time and payload as written. */
export type DebitIntent = OpenIntent;

/**
 * The key prefix of the booth's debit intents, `booth:<card id>` (src/booth/charge.ts writes them): never
 * an OBU MAC id, so never the RSU path's (keyed by the OBU MAC id: src/lane/debit-intents.ts).
 */
export const BOOTH_INTENT_PREFIX = "booth:";

/**
 * An open debit intent naming the card or the OBU contract serial: a booth intent by its key's card, or its
 * payload's `cardId` or `obuSerial` (src/booth/booth-records.ts); an RSU debit's (any other key: the OBU MAC
 * id) by its payload's `state.debit.card.cardId` or `state.debit.obu.obuSerial` (src/lane/intent-payload.ts).
 * A payload that is not JSON still names a booth intent's card by its key (json_extract would fail on it:
 * the CASE reads only a valid one). The table holds only the debits whose record is not written yet (each
 * intent leaves in its record's transaction), a handful at most: a scan, no index.
 */
const INTENT_OF =
  "SELECT id FROM intents WHERE CASE WHEN substr(key, 1, length(@prefix)) = @prefix " +
  "THEN key = @prefix || @card OR CASE WHEN json_valid(payload) THEN json_extract(payload, '$.cardId') = @card " +
  "OR json_extract(payload, '$.obuSerial') = @obu END " +
  "ELSE CASE WHEN json_valid(payload) THEN json_extract(payload, '$.state.debit.card.cardId') = @card " +
  "OR json_extract(payload, '$.state.debit.obu.obuSerial') = @obu END END ORDER BY id";

export class Intents {
  private stmts: { insert: Database.Statement; update: Database.Statement } | undefined;
  private stmtIntentOf: Database.Statement | undefined;
  private readonly stmtDel: Database.Statement;
  private lastSync: Promise<boolean> = Promise.resolve(true);
  /** intents withdrawn while the journal could not be written: recover() deletes them (deleteWithdrawn) */
  private readonly withdrawn = new Set<number>();
  /**
   * The next new intent's id: never one given out before in this process. The table's own rowid would be
   * MAX(id) + 1, so 1 again whenever it is empty (most of the time on a quiet lane), and a caller holding a
   * resolved intent's id (a retried commit, a rewrite) would name another debit's intent: the commit's
   * delete would take that intent with it (no E609), and the other debit's own commit then fail. Seeded
   * from the rows at the first write; ids held in memory do not outlive the process.
   */
  private nextId: number | undefined;

  constructor(private readonly h: JournalDb) {
    this.stmtDel = h.db.prepare("DELETE FROM intents WHERE id = ?");
  }

  /**
   * Writes (id undefined: a new intent) or rewrites (the payload of intent `id`) a debit intent; returns its
   * id. A rewrite is strict: when there is no intent `id` (resolved already: its record committed, or
   * deleted as no debit) it throws E609 like commit(), writes nothing and leaves the journal healthy. It
   * never inserts in its place: a new intent holding that debit's answer, under an id its caller does not
   * know, would be taken by the next start for a debit whose record is missing, a second record of one
   * debit. Written without an fsync of its own (no fsync on the lane's B4 -> C6 path): it survives a
   * process kill; the fdatasync of the WAL it starts in the thread pool (./wal-sync.ts) makes it durable
   * against a power cut, and durable() resolves when it did. Throws E601 like commit() when it cannot be
   * written.
   */
  writeIntent(key: string, payload: string, id?: number): number {
    this.h.assertWritable();
    this.stmts ??= {
      insert: this.h.db.prepare("INSERT INTO intents (id, key, created_at_ms, payload) VALUES (?, ?, ?, ?)"),
      update: this.h.db.prepare("UPDATE intents SET payload = ? WHERE id = ?"),
    };
    const st = this.stmts;
    let written: number | null;
    try {
      written = this.h.withoutOwnFsync(() => {
        if (id !== undefined) return st.update.run(payload, id).changes === 1 ? id : null;
        const fresh = this.freshId();
        st.insert.run(fresh, key, this.h.now().getTime(), payload);
        return fresh;
      });
    } catch (e) {
      throw this.h.fail("writeIntent", e);
    }
    // an UPDATE that changed no row wrote nothing: no fdatasync to wait for, and the journal is as it was
    if (written === null) throw intentGone(id as number, "nothing rewritten");
    // on disk one fdatasync from now, in the thread pool (./wal-sync.ts); durable() waits for it
    this.lastSync = this.h.walSync.request();
    return written;
  }

  /**
   * Inside the caller's transaction (src/journal/behind-trail.ts note): inserts an intent created at
   * `createdAtMs`; returns its id. The caller makes it durable and maps a failure (JournalDb.fail).
   */
  insertInTx(key: string, createdAtMs: number, payload: string): number {
    const id = this.freshId();
    this.h.db
      .prepare("INSERT INTO intents (id, key, created_at_ms, payload) VALUES (?, ?, ?, ?)")
      .run(id, key, createdAtMs, payload);
    return id;
  }

  /** An id no intent of this process has had, above every row's. */
  private freshId(): number {
    this.nextId ??=
      (this.h.db.prepare("SELECT COALESCE(MAX(id), 0) AS m FROM intents").get() as { m: number }).m + 1;
    return this.nextId++;
  }

  /**
   * true once every intent written so far is on disk (the fdatasync the last writeIntent started has
   * completed), false when that fdatasync failed (the journal is then unhealthy).
   */
  durable(): Promise<boolean> {
    return this.lastSync;
  }

  /** Debit intents no record has settled: after a crash, the debits whose outcome the lane never learnt. */
  openIntents(): DebitIntent[] {
    this.h.assertOpen();
    return (
      this.h.read("openIntents", () =>
        this.h.db.prepare("SELECT id, key, created_at_ms, payload FROM intents ORDER BY id").all(),
      ) as {
        id: number;
        key: string;
        created_at_ms: number;
        payload: string;
      }[]
    ).map((r) => ({ id: r.id, key: r.key, createdAtMs: r.created_at_ms, payload: r.payload }));
  }

  /**
   * The id of an open debit intent (INTENT_OF: the booth's or an RSU debit's) naming this card id or this
   * OBU contract serial, or null. A debit whose outcome is not recorded yet holds its card and OBU for as
   * long as its intent is open, whatever the trade guards' memory says (src/lane/controller.ts
   * `journalHolds`, src/booth/card-loop.ts): the booth recovering it, a lane without a booth, a payload no
   * one can read, an RSU debit whose record the journal did not take (the restart records it).
   */
  openIntentOf(k: { cardId?: string | null; obuSerial?: string | null }): number | null {
    this.h.assertOpen();
    const card = k.cardId || null;
    const obu = k.obuSerial || null;
    if (card === null && obu === null) return null;
    this.stmtIntentOf ??= this.h.db.prepare(INTENT_OF);
    const st = this.stmtIntentOf;
    const hits = this.h.read("openIntentOf", () => st.all({ prefix: BOOTH_INTENT_PREFIX, card, obu })) as {
      id: number;
    }[];
    // a withdrawn intent stands for no debit (withdraw): it holds nothing, though its row waits for recover()
    return hits.find((h) => !this.withdrawn.has(h.id))?.id ?? null;
  }

  /**
   * Drops an intent that no record settles (e.g. the lane learnt the debit was never sent). Durable on
   * return (synchronous=FULL). Unknown ids are ignored.
   */
  deleteIntent(id: number): void {
    this.h.assertWritable();
    try {
      this.stmtDel.run(id);
    } catch (e) {
      throw this.h.fail("deleteIntent", e);
    }
  }

  /**
   * Drops intent `id` whose debit command was never sent: the caller knows it (the fdatasync it waited for
   * failed, or the vehicle's case closed, before the command), and an intent left in the journal would be
   * taken at the next start for a debit whose answer was lost (a suspect holding a card never debited).
   * Deleted durably now when the journal can be written; else (unhealthy: its writes refused until
   * recover()) remembered, held as nothing by openIntentOf, and deleted by recover() in a durable write
   * before the journal is healthy again (deleteWithdrawn). A process that ends before that leaves the row
   * (it may or may not be on disk after a failed fdatasync): the next start takes it for a debit that may
   * have happened, the safe way round. Never for an intent whose command went out: a debit that may have
   * happened keeps its intent until its record is written.
   */
  withdraw(id: number): "deleted" | "pending" {
    if (this.h.healthy) {
      try {
        this.deleteIntent(id);
        return "deleted";
      } catch {
        // the delete failed: the journal is unhealthy now (fail()), and recover() deletes it
      }
    }
    this.withdrawn.add(id);
    return "pending";
  }

  /**
   * Inside recover(), once its probe wrote durably: the intents withdrawn meanwhile, deleted in one durable
   * transaction (synchronous=FULL). Throws as the probe does when the disk still fails; they stay withdrawn.
   */
  deleteWithdrawn(): void {
    if (this.withdrawn.size === 0) return;
    const ids = [...this.withdrawn];
    this.h.db.transaction(() => {
      for (const id of ids) this.stmtDel.run(id);
    })();
    for (const id of ids) this.withdrawn.delete(id);
  }

  /**
   * Inside a record's commit transaction: the intent that record settles. Throws E609 when there is no
   * intent `id` (resolved already: its record committed, or deleted as no debit), which rolls the
   * transaction back: a record naming a gone intent would record its debit a second time.
   */
  deleteInTx(id: number): void {
    if (this.stmtDel.run(id).changes !== 1) throw intentGone(id, "nothing recorded");
  }
}

/** E609: there is no intent `id` (resolved already); `what`: what the caller did not write. */
function intentGone(id: number, what: string): EtcError {
  return new EtcError(
    JournalErrorCodes.JournalIntentGone,
    `debit intent ${id} is not in the journal (resolved already): ${what}`,
    { intentId: id },
  );
}
