/**
 * What a journal.db found behind the audit trail keeps for the lane that goes on with it (docs/journal.md,
 * "A journal behind the audit trail"; ./journal.ts refuseBehindTrail). The trail's entries of the records
 * the file lacks carry their seq, trade id, kind, outcome, card, OBU and amount, not the records (only
 * their digest: src/audit/records.ts), so those records cannot be put back. Two things would otherwise
 * break the money rules once an operator deletes the note and the lane trades on the file:
 *
 * - a suspect among them that the trail shows unsettled (src/audit/trail-only-suspects.ts) is not in the
 *   file, so nothing would hold its card and OBU: kept here, openSuspectOf answers its seq for them (the
 *   lane's and the booth's holds ask it) for as long as this file is used (no settlement reaches a record
 *   the file lacks: the station's back office settles it);
 * - the debit intents the file holds were written before the backup, and a record it lacks may have
 *   resolved them: recovering one (recording its answer, or a CRASH_RECOVERED / BOOTH_DEBIT_UNCONFIRMED
 *   suspect) could record that debit a second time under a new seq. Kept here by id and creation time:
 *   openIntents() marks them (`keptBehindTrail`) and the lane and the booth leave them as they are, for
 *   the back office, their card and OBU held by openIntentOf for as long as they are open.
 *
 * Stored in meta `behind_trail` (JSON), written before `last_seq` is raised: a start that finds the file
 * behind again (the raise not made) writes it again, merged with what is there.
 */
import type { TrailOnlySuspect } from "../audit/trail-only-suspects.js";
import type { JournalDb } from "./db.js";

export type { TrailOnlySuspect };

const META_KEY = "behind_trail";

interface Stored {
  v: 1;
  suspects: TrailOnlySuspect[];
  intents: { id: number; createdAtMs: number }[];
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

  /** The trail-only suspects kept, oldest first. */
  suspects(): readonly TrailOnlySuspect[] {
    return this.stored.suspects;
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

  /** Adds what the trail shows and the intents open now; durable on return, E601 when it cannot. */
  note(suspects: readonly TrailOnlySuspect[], intents: readonly { id: number; createdAtMs: number }[]): void {
    const s = new Map(this.stored.suspects.map((x) => [x.jseq, x]));
    for (const x of suspects) s.set(x.jseq, x);
    const i = [...this.stored.intents];
    for (const x of intents) if (!i.some((y) => y.id === x.id && y.createdAtMs === x.createdAtMs)) i.push(x);
    this.write({ v: 1, suspects: [...s.values()].sort((a, b) => a.jseq - b.jseq), intents: i });
  }

  private write(next: Stored): void {
    this.h.setMeta(META_KEY, JSON.stringify(next));
    this.stored = next;
    this.index();
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

function parse(raw: string): Stored {
  const v = JSON.parse(raw) as Partial<Stored> | null;
  if (v?.v !== 1 || !Array.isArray(v.suspects) || !Array.isArray(v.intents))
    throw new Error(`meta ${META_KEY} is not what this version writes`);
  return { v: 1, suspects: v.suspects, intents: v.intents };
}
