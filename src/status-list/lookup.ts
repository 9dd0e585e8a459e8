/**
 * The hot path: "is this card or OBU listed?" against the active list, synchronously on the lane thread,
 * in microseconds. A miss the in-memory filter rules out never touches SQLite; otherwise one single-row
 * statement reads the versions and the matches in one snapshot. The results share frozen parts, so a
 * miss allocates only its own object (docs/status-list.md section 7 says why each allocation was taken
 * out). Which list is active, and its snapshot's renewal, is the life cycle's (lifecycle.ts).
 */
import type Database from "better-sqlite3";
import { StatusListErrors, slError } from "./errors.js";
import type { BloomFilter } from "./filter.js";
import {
  CARD_KEY_LEN,
  canonicalObuId,
  cardWordA,
  OBU_WORD_A,
  type ObuKey,
  parseCardId,
  parseObuId,
  writeCardKeyDecimal,
} from "./ids.js";
import { type CardLayout, cardIdCondition } from "./store.js";
import {
  type ListVersions,
  type LookupFailure,
  listTypeName,
  type StalenessState,
  type StatusEntry,
  type StatusLookupResult,
} from "./types.js";

/** The active list as the lane thread reads it: one open database with its statements and filter. */
export interface ActiveList {
  name: string;
  db: Database.Database;
  card: Database.Statement;
  obu: Database.Statement;
  both: Database.Statement;
  /** every match of one id, a row (list type, reason id) each (ids on more than one list) */
  cardAll: Database.Statement;
  obuAll: Database.Statement;
  /**
   * the reason texts hits have needed so far, by id: empty at activation (a list's table can hold 65,535
   * reasons of up to 255 bytes; reading it all would hold the lane thread at every swap and open), filled
   * by ListLookup reasonText
   */
  reasons: Map<number, string>;
  reasonById: Database.Statement;
  layout: CardLayout;
  /** { full, delta } as one frozen object, shared by the results judged against them */
  versions: ListVersions;
  /** deltas live in the overlay tables (store.ts hasOverlay) */
  overlay: boolean;
  /** rows in the overlay, as of the last open, delta or compaction */
  overlayRows: number;
  /**
   * an overlay merge committed a batch and left rows (store.ts setOverlayMerging), as of the open or the
   * last batch: the merge is resumed whatever the overlay's size (overlay-merge.ts compactIfDue)
   */
  mergeUnfinished: boolean;
  filter: BloomFilter | null;
  full: string;
  fullCreated: number;
  /** when the lane imported the full list, on the lane's clock (meta.imported_at) */
  fullApplied: number;
  delta: string | null;
  deltaCreated: number | null;
  /** when the lane applied the last delta, on the lane's clock (delta_log.applied_at); null without one */
  deltaApplied: number | null;
  cards: number;
  obus: number;
  /** card entries of network 0000, which match no card (meta.cards_no_network); null: not counted */
  cardsNoNetwork: number | null;
}

/** Shared, frozen parts of lookup results (a result for a miss allocates only its own object). */
export const NO_ENTRIES = Object.freeze([]) as unknown as StatusEntry[];
export const NO_VERSIONS: ListVersions = Object.freeze({ full: null, delta: null });

/** Packing of one id's matches into one integer: count * 2^41 + (list type * 2^32 + reason id) of the first. */
const PACK_TYPE = 2 ** 32;
const PACK_COUNT = 2 ** 41;

/**
 * One single-row statement per query shape: the versions and the matches in one snapshot. Reason texts
 * come from an in-memory map, filled one id at a time as hits need them (ListLookup reasonText). A
 * single-row `get` costs about half of a multi-row `all` in better-sqlite3.
 *
 * The matches of an id come back as one integer, `count(*)` and `min(list type, reason)` packed
 * (PACK_*), not as a `group_concat` string: an aggregate of integers runs without one malloc, while
 * group_concat grows its buffer with realloc. That mattered: `perf` caught the lane thread asleep in
 * glibc's realloc, waiting for the malloc arena lock held by the delta worker (nice 19) while it was
 * preempted, for 1-5 ms. An id on more than one list (1% of the synthetic list's cards) is read again,
 * one row per list (the `*All` statements, no ORDER BY: a sorter allocates), in the same pinned snapshot.
 */
export function lookupSql(
  layout: CardLayout,
  overlay: boolean,
): { card: string; obu: string; both: string; cardAll: string; obuAll: string } {
  // with the delta overlay (store.ts hasOverlay): the main rows no overlay row covers, plus the overlay's
  // listed rows; the key is bound twice. Each part is a primary-key probe.
  const rows = (t: "card" | "obu", cond: string): string =>
    overlay
      ? `(SELECT list_type AS lt, reason AS r FROM ${t} m WHERE ${cond} AND NOT EXISTS
             (SELECT 1 FROM ${t}_delta d WHERE d.key = m.key AND d.list_type = m.list_type)
           UNION ALL
           SELECT list_type, reason FROM ${t}_delta WHERE ${cond} AND reason IS NOT NULL)`
      : `(SELECT list_type AS lt, reason AS r FROM ${t} WHERE ${cond})`;
  const packed = (t: "card" | "obu", cond: string): string =>
    `(SELECT count(*) * ${PACK_COUNT} + min(lt * ${PACK_TYPE} + r) FROM ${rows(t, cond)})`;
  const all = (t: "card" | "obu", cond: string): string => `SELECT lt, r FROM ${rows(t, cond)}`;
  const cardCond = cardIdCondition(layout);
  const cardSub = packed("card", cardCond);
  const obuSub = packed("obu", "key = ?");
  return {
    card: `SELECT full_version, delta_version, ${cardSub}, NULL FROM meta WHERE id = 1`,
    obu: `SELECT full_version, delta_version, NULL, ${obuSub} FROM meta WHERE id = 1`,
    both: `SELECT full_version, delta_version, ${cardSub}, ${obuSub} FROM meta WHERE id = 1`,
    cardAll: all("card", cardCond),
    obuAll: all("obu", "key = ?"),
  };
}

/** The lookup statements of one list database (see lookupSql), raw rows. */
export function prepareLookups(
  db: Database.Database,
  layout: CardLayout,
  overlay: boolean,
): Pick<ActiveList, "card" | "obu" | "both" | "cardAll" | "obuAll" | "reasonById"> {
  const sql = lookupSql(layout, overlay);
  return {
    card: db.prepare(sql.card).raw(true),
    obu: db.prepare(sql.obu).raw(true),
    both: db.prepare(sql.both).raw(true),
    cardAll: db.prepare(sql.cardAll).raw(true),
    obuAll: db.prepare(sql.obuAll).raw(true),
    reasonById: db.prepare("SELECT text FROM reason WHERE id = ?").pluck(),
  };
}

/**
 * Lookups run inside one long read transaction (a pinned WAL snapshot), renewed after every delta: a WAL
 * read transaction per lookup costs two fcntl lock syscalls, about half a warm lookup.
 */
export function beginSnapshot(db: Database.Database): void {
  db.exec("BEGIN");
  db.prepare("SELECT full_version FROM meta WHERE id = 1").get(); // takes the read lock: pins the snapshot
}

export function renewSnapshot(db: Database.Database): void {
  if (db.inTransaction) db.exec("COMMIT");
  beginSnapshot(db);
}

/**
 * Answers lookups against an active list. Holds the one scratch key buffer (SQLite reads a bound blob
 * during the statement) and the last read failure: a statement that throws is a list failure (E516),
 * never "not listed" and never bad card data; it stays the `failure` until a read succeeds again.
 */
export class ListLookup {
  /** the card key of the lookup in progress */
  private readonly keyScratch = Buffer.alloc(CARD_KEY_LEN);
  /** the last read failure, until a read succeeds (health.ts reports it) */
  failure: LookupFailure | null = null;

  constructor(
    private readonly now: () => number,
    /** called when `failure` changes (set or cleared) */
    private readonly onFailureChange: () => void,
  ) {}

  /**
   * Is this card or OBU listed in `a`? Parses the ids (E510 for a malformed one); with no list the
   * answer says so (`noList: true`); then the filter, and SQLite only when the filter cannot rule both
   * ids out (one snapshot, so the versions match the data judged). `stale` is put in the result as is.
   * Parsing, the filter and the statement stay in this one function: the parsed ids then never leave it,
   * and V8 does not allocate them (split across two functions, 2M misses took 31-32 scavenges instead of
   * 25, measured 2026-12-02 on a 100k list).
   */
  lookup(
    q: { cardId?: string; obuId?: string },
    a: ActiveList | null,
    stale: StalenessState,
  ): StatusLookupResult {
    if (q.cardId === undefined && q.obuId === undefined) {
      throw slError(StatusListErrors.IdInvalid, "status-list lookup needs a card id or an OBU id");
    }
    const card = q.cardId === undefined ? null : parseCardId(q.cardId);
    const obu = q.obuId === undefined ? null : parseObuId(q.obuId);
    if (a === null) return { listed: false, noList: true, entries: NO_ENTRIES, versions: NO_VERSIONS, stale };
    const f = a.filter;
    const cardMaybe = card !== null && (f === null || f.mayContain(cardWordA(card.net), card.hi8, card.lo8));
    const obuMaybe = obu !== null && (f === null || f.mayContain(OBU_WORD_A, obu.hi32, obu.lo32));
    if (!cardMaybe && !obuMaybe) {
      // nearly every vehicle: one new object, the rest shared and frozen (less for the lane's GC)
      return { listed: false, entries: NO_ENTRIES, versions: a.versions, stale };
    }
    // the statement's parameters: each id once, or twice with the overlay (main part, overlay part)
    const cardArgs: unknown[] = [];
    const obuArgs: unknown[] = [];
    const times = a.overlay ? 2 : 1;
    if (cardMaybe) {
      if (a.layout === "key9") {
        writeCardKeyDecimal(card.net, card.hi8, card.lo8, this.keyScratch); // bound before the next lookup
        for (let k = 0; k < times; k++) cardArgs.push(this.keyScratch);
      } else cardArgs.push(card.net, card.serial);
    }
    if (obuMaybe) for (let k = 0; k < times; k++) obuArgs.push((obu as ObuKey).key);
    const entries: StatusEntry[] = [];
    let versions: ListVersions;
    try {
      const row = (
        cardMaybe && obuMaybe
          ? a.both.get([...cardArgs, ...obuArgs])
          : cardMaybe
            ? a.card.get(cardArgs)
            : a.obu.get(obuArgs)
      ) as [string, string | null, number | null, number | null];
      versions = row[0] === a.full && row[1] === a.delta ? a.versions : { full: row[0], delta: row[1] };
      if (row[2] !== null)
        this.addPacked(entries, a, "card", q.cardId as string, row[2], a.cardAll, cardArgs);
      if (row[3] !== null)
        this.addPacked(entries, a, "obu", canonicalObuId(q.obuId as string), row[3], a.obuAll, obuArgs);
    } catch (e) {
      throw this.failed(e, a);
    }
    if (this.failure !== null) {
      this.failure = null;
      this.onFailureChange();
    }
    const res: StatusLookupResult = {
      listed: entries.length > 0,
      entries: entries.length > 0 ? entries : NO_ENTRIES,
      versions,
      stale,
    };
    if (entries[0]) res.entry = entries[0];
    return res;
  }

  private failed(e: unknown, a: ActiveList): Error {
    const message = `status-list lookup failed: ${e instanceof Error ? e.message : String(e)}`;
    this.failure = { at: this.now(), message, db: a.name };
    this.onFailureChange();
    return slError(StatusListErrors.LookupFailed, message, { db: a.name }, e);
  }

  /** One id's packed matches (lookupSql): the one entry, or, when it is on several lists, all of them. */
  private addPacked(
    out: StatusEntry[],
    a: ActiveList,
    kind: "card" | "obu",
    id: string,
    packed: number,
    all: Database.Statement,
    args: unknown[],
  ): void {
    const count = Math.floor(packed / PACK_COUNT);
    if (count === 1) {
      const first = packed - PACK_COUNT;
      const listType = Math.floor(first / PACK_TYPE);
      out.push({
        kind,
        id,
        listType,
        listTypeName: listTypeName(listType),
        reason: this.reasonText(a, first - listType * PACK_TYPE),
      });
    } else if (count > 1) {
      const rows = (all.all(args) as [number, number][]).sort((p, r) => p[0] - r[0]);
      for (const [listType, reasonId] of rows) {
        out.push({
          kind,
          id,
          listType,
          listTypeName: listTypeName(listType),
          reason: this.reasonText(a, reasonId),
        });
      }
    }
  }

  private reasonText(a: ActiveList, reasonId: number): string {
    const known = a.reasons.get(reasonId);
    if (known !== undefined) return known;
    // the first hit with this reason since the list was activated (or a reason a delta has just added):
    // read in the lookup's snapshot, which holds the row with the entry naming it (a delta adds both in
    // one transaction). Reason ids never change within a list (a delta only appends reasons), so the text
    // is kept. A row that is missing (a damaged list) is no reason to call the id unlisted: the entry is
    // listed with an empty reason, and the miss is not kept, so the next hit reads it again
    const text = a.reasonById.get(reasonId) as string | undefined;
    if (text === undefined) return "";
    a.reasons.set(reasonId, text);
    return text;
  }
}
