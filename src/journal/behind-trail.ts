/**
 * What a journal.db found behind the audit trail keeps for the lane that goes on with it (docs/journal.md,
 * "A journal behind the audit trail"; ./journal.ts refuseBehindTrail). The trail's entries of the records
 * the file lacks carry their seq, trade id, kind, outcome, card, OBU and amount, not the records (only
 * their digest: src/audit/records.ts), so those records cannot be put back. Two things would otherwise
 * break the money rules once an operator deletes the note and the lane trades on the file:
 *
 * - a suspect among them that the trail shows unsettled (src/audit/trail-only-suspects.ts) is not in the
 *   file, so nothing would hold its card and OBU: kept here, openSuspectOf answers its seq for them (the
 *   lane's and the booth's holds ask it) until an operator settles it (`etc-lane journal settle`: the
 *   record rebuilt from the trail's entry, ./rebuilt-suspect.ts, and settled as revision + 1, which drops
 *   it from here in the same transaction: ./records.ts settleRebuilt). No late B5, B8 or card at the booth
 *   reaches a record the file lacks;
 * - the debit intents the file holds were written before the backup, and a record it lacks may have
 *   resolved them: recovering one (recording its answer, or a CRASH_RECOVERED / BOOTH_DEBIT_UNCONFIRMED
 *   suspect) could record that debit a second time under a new seq. Kept here by id and creation time:
 *   openIntents() marks them (`keptBehindTrail`) and the lane and the booth leave them as they are, for
 *   the back office, their card and OBU held by openIntentOf for as long as they are open, until an
 *   operator resolves one (`etc-lane journal resolve-intent`, on the stopped lane: ./journal.ts
 *   resolveKeptIntent): deleted (a missing record resolved it) or no longer kept (none did: the lane's next
 *   start recovers it as any open intent).
 *
 * Stored in meta `behind_trail` (JSON), written before `last_seq` is raised: a start that finds the file
 * behind again (the raise not made) writes it again, merged with what is there.
 */

import { EtcError } from "../../firmware-bridge/errors.js";
import type { TrailOnlySuspect } from "../audit/trail-only-suspects.js";
import type { JournalDb } from "./db.js";
import { JournalErrorCodes } from "./errors.js";
import type { DebitIntent, Intents } from "./intents.js";

export type { TrailOnlySuspect };

const META_KEY = "behind_trail";

/**
 * The key prefix of an intent rebuilt from the trail's alarm of a kept intent the file may lack
 * (src/audit/trail-held-intents.ts; ./journal.ts rebuiltIntent): it holds the card and OBU, and has no
 * debit to recover.
 */
export const REBUILT_INTENT_PREFIX = "trail:";

/**
 * A kept intent: its id and creation time in this file, and an audit seq at or below the oldest alarm
 * naming it that a later restore's scan reads (src/audit/trail-held-intents.ts): audit retention keeps it
 * (auditFloor). 1 for one kept before that was stored (every segment kept until it is resolved).
 */
interface KeptIntent {
  id: number;
  createdAtMs: number;
  auditSeq: number;
}

interface Stored {
  v: 1;
  suspects: TrailOnlySuspect[];
  intents: KeptIntent[];
}

export class BehindTrail {
  private stored: Stored;
  private byCard = new Map<string, number>();
  private byObu = new Map<string, number>();

  /** Throws when the stored value is not what this file writes (Journal.open refuses the journal then). */
  constructor(private readonly h: JournalDb) {
    const raw = h.meta(META_KEY);
    this.stored = raw === undefined ? { v: 1, suspects: [], intents: [] } : parse(raw);
    this.index();
  }

  /** The kept suspect `seq` (one the file lacks), or null. */
  suspect(seq: number): TrailOnlySuspect | null {
    return this.stored.suspects.find((x) => x.jseq === seq) ?? null;
  }

  /**
   * Inside the transaction that settles kept suspect `seq` (its rebuilt record now a row): the meta row
   * without it. Returns what makes memory follow once that transaction committed.
   */
  dropSuspectInTx(seq: number): () => void {
    return this.writeInTx({ ...this.stored, suspects: this.stored.suspects.filter((x) => x.jseq !== seq) });
  }

  /**
   * An operator resolves kept intent `id` (./journal.ts resolveKeptIntent): `resolved` deletes it,
   * `recover` only stops keeping it; either way it leaves meta.behind_trail in the same transaction.
   * Durable on return; E607 (nothing changed) for an id that is not a kept open intent, E601 on failure.
   */
  resolveIntent(intents: Intents, id: number, how: "resolved" | "recover"): DebitIntent {
    this.h.assertWritable();
    const open = intents.openIntents();
    const it = open.find((i) => i.id === id);
    if (it === undefined || !this.keeps(it)) {
      const kept = open.filter((i) => this.keeps(i)).map((i) => i.id);
      throw new EtcError(
        JournalErrorCodes.JournalSettleRefused,
        `debit intent ${id} not resolved: ${it === undefined ? "there is no open intent" : "it is an open intent the lane recovers at start, not one"} ` +
          `kept when journal.db was found behind the audit trail (kept: ${kept.length ? kept.join(", ") : "none"}); nothing changed`,
        { id },
      );
    }
    if (how === "recover" && it.key.startsWith(REBUILT_INTENT_PREFIX))
      throw new EtcError(
        JournalErrorCodes.JournalSettleRefused,
        `debit intent ${id} not resolved: it was rebuilt from the audit trail's alarm of an intent a lost ` +
          "journal.db held, and holds no debit to recover; once the back office has the debit it stands for " +
          "recorded, or knows there was none, resolve it with --resolved; nothing changed",
        { id },
      );
    let after: () => void = () => {};
    try {
      this.h.db
        .transaction(() => {
          if (how === "resolved") intents.deleteInTx(id);
          after = this.writeInTx({ ...this.stored, intents: this.stored.intents.filter((i) => i.id !== id) });
        })
        .immediate();
    } catch (e) {
      throw this.h.fail("resolve kept intent", e);
    }
    after();
    return it;
  }

  /** The trail-only suspects kept, oldest first. */
  suspects(): readonly TrailOnlySuspect[] {
    return this.stored.suspects;
  }

  /**
   * The lowest audit seq of a kept suspect's `record.commit` entry or of a kept intent's oldest alarm, or
   * null when nothing is kept: audit retention keeps that entry (./journal.ts auditFloor), the one thing a
   * later restore of a file without meta.behind_trail finds the suspect by (src/audit/trail-only-suspects.ts),
   * or the intent by when the restored file lacks it (src/audit/trail-held-intents.ts).
   */
  auditFloor(): number | null {
    let floor: number | null = null;
    for (const { auditSeq } of [...this.stored.suspects, ...this.stored.intents])
      if (floor === null || auditSeq < floor) floor = auditSeq;
    return floor;
  }

  /** The ids of the open debit intents kept (not recovered until an operator resolves each), oldest first. */
  intentIds(): number[] {
    return this.stored.intents.map((i) => i.id);
  }

  /** The seq of a kept suspect naming this card id or OBU contract serial, or null. */
  suspectOf(k: { cardId?: string | null; obuSerial?: string | null }): number | null {
    return (
      (k.cardId ? this.byCard.get(k.cardId) : undefined) ??
      (k.obuSerial ? this.byObu.get(k.obuSerial) : undefined) ??
      null
    );
  }

  /** Whether this open intent was in the file when it was found behind the trail. */
  keeps(it: { id: number; createdAtMs: number }): boolean {
    return this.stored.intents.some((i) => i.id === it.id && i.createdAtMs === it.createdAtMs);
  }

  /**
   * Adds what the trail shows and the intents open now, and inserts one kept intent for each of
   * `rebuilt` (an intent the trail's alarms name that the file may lack: src/audit/trail-held-intents.ts),
   * in one transaction; durable on return, E601 when it cannot. `trailSeq`: the trail's newest entry now.
   * Each alarm naming an intent open now comes after it (the lane raises one at every start that keeps the
   * intent: src/lane/recovery.ts, src/booth/recovery-book.ts), so the intent keeps `trailSeq + 1` from
   * audit retention (one kept already keeps its own); a rebuilt one keeps its oldest alarm's (`auditSeq`).
   */
  note(
    suspects: readonly TrailOnlySuspect[],
    intents: readonly { id: number; createdAtMs: number }[],
    trailSeq: number,
    rebuilt: readonly { key: string; payload: string; auditSeq: number }[] = [],
    table?: Intents,
  ): void {
    this.h.assertWritable();
    const s = new Map(this.stored.suspects.map((x) => [x.jseq, x]));
    for (const x of suspects) s.set(x.jseq, x);
    const i = [...this.stored.intents];
    for (const x of intents)
      if (!i.some((y) => y.id === x.id && y.createdAtMs === x.createdAtMs))
        i.push({ id: x.id, createdAtMs: x.createdAtMs, auditSeq: trailSeq + 1 });
    let after: () => void = () => {};
    try {
      this.h.db
        .transaction(() => {
          const at = this.h.now().getTime();
          for (const r of rebuilt) {
            if (!table) throw new Error("no intents table to rebuild intents in");
            i.push({ id: table.insertInTx(r.key, at, r.payload), createdAtMs: at, auditSeq: r.auditSeq });
          }
          after = this.writeInTx({
            v: 1,
            suspects: [...s.values()].sort((a, b) => a.jseq - b.jseq),
            intents: i,
          });
        })
        .immediate();
    } catch (e) {
      throw this.h.fail("keep what the audit trail shows", e);
    }
    after();
  }

  private writeInTx(next: Stored): () => void {
    this.h.db
      .prepare(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      )
      .run(META_KEY, JSON.stringify(next));
    return () => {
      this.stored = next;
      this.index();
    };
  }

  private index(): void {
    this.byCard = new Map();
    this.byObu = new Map();
    // newest last: a card named by two kept suspects answers the newest, as openSuspectOf may
    for (const s of this.stored.suspects) {
      if (s.cardId) this.byCard.set(s.cardId, s.jseq);
      if (s.obuSerial) this.byObu.set(s.obuSerial, s.jseq);
    }
  }
}

/**
 * The trail-only suspects kept in a journal's meta `behind_trail` value (`raw`, undefined when the file
 * was never found behind), oldest first: what a read-only reader lists (`etc-lane transactions list`,
 * ./journal.ts JournalReader.keptSuspects). Throws when the value is not what this file writes.
 */
export function keptSuspectsIn(raw: string | undefined): TrailOnlySuspect[] {
  return raw === undefined ? [] : parse(raw).suspects;
}

/** The meta key the kept suspects and intents are stored under. */
export const BEHIND_TRAIL_META_KEY = META_KEY;

function parse(raw: string): Stored {
  const v = JSON.parse(raw) as Partial<Stored> | null;
  if (v?.v !== 1 || !Array.isArray(v.suspects) || !Array.isArray(v.intents))
    throw new Error(`meta ${META_KEY} is not what this version writes`);
  // a suspect kept before its entry's revision, digest, plate and time were kept: what rebuilding it needs;
  // and before its entry's audit seq was: 1, the lowest there is, so that audit retention keeps its entry
  // wherever it is (Journal.auditFloor: every segment kept until it is settled)
  const suspects = (v.suspects as Partial<TrailOnlySuspect>[]).map(
    (x): TrailOnlySuspect => ({
      ...(x as TrailOnlySuspect),
      plate: x.plate ?? null,
      revision: x.revision ?? 1,
      digest: x.digest ?? "",
      recordedAt: x.recordedAt ?? "",
      auditSeq: typeof x.auditSeq === "number" ? x.auditSeq : 1,
    }),
  );
  // a kept intent stored before its alarm's audit seq was: 1 likewise (every segment kept until it is resolved)
  const intents = (v.intents as Partial<KeptIntent>[]).map(
    (x): KeptIntent => ({ ...(x as KeptIntent), auditSeq: typeof x.auditSeq === "number" ? x.auditSeq : 1 }),
  );
  return { v: 1, suspects, intents };
}
