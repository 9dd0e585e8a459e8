/**
 * The delta job (worker thread): verify a delta completely (signature, digest, every record), then apply
 * it to the live database's overlay in one write transaction, with the version check repeated inside it
 * and the filter bits of added keys set before the commit. The lane thread renews its snapshot after it
 * (lifecycle.ts).
 */
import type Database from "better-sqlite3";
import {
  type BundleHeader,
  OP_ADD,
  type RawRecord,
  RECORD_LEN,
  readRecord,
  recordProblem,
} from "./bundle.js";
import { BodyStream, type BundleSource, openAndCheck, recordError } from "./bundle-stream.js";
import { StatusListErrors, slError } from "./errors.js";
import type { BloomFilter } from "./filter.js";
import { addToFilter } from "./filter-fill.js";
import {
  CARD_KEY_LEN,
  cardIdOfRecord,
  cardSerialValue,
  cardWithoutNetwork,
  obuIdNotDecimal,
  obuKeyValue,
  writeCardKey,
} from "./ids.js";
import {
  type CardLayout,
  cardIdCondition,
  cardLayout,
  hasOverlay,
  type MetaRow,
  openWriter,
  overlayRows,
} from "./store.js";
import type { Progress } from "./types.js";
import { checkNewer, checkNotAhead, type LaneClock, laneClock } from "./version-order.js";

export interface DeltaResult {
  /** rows in the overlay after this delta (0 for a list without one) */
  overlayRows: number;
  version: string;
  base: string;
  createdAt: number;
  /** the lane's clock when it was applied */
  appliedAt: number;
  adds: number;
  removes: number;
  cards: number;
  obus: number;
  /** this delta's OBU adds whose id has a digit A-F: no lane matches them (ids.ts obuIdNotDecimal) */
  obusNotDecimal: number;
  /** this delta's card adds of network 0000: they match no card (ids.ts cardWithoutNetwork) */
  cardsNoNetwork: number;
  /** the first of them, a 20-digit card id; null when there are none */
  cardNoNetworkExample: string | null;
  /** the list's card entries of network 0000 after the delta; null: a list stored before they were counted */
  listCardsNoNetwork: number | null;
  ms: number;
}

/**
 * Verify a delta completely, then apply it in one transaction; filter bits are set before the commit.
 * The steps, in order: read and verify the bundle (nothing of the list touched yet); check the list on
 * disk takes it (its key, its versions); prepare the writes; then, in one `BEGIN IMMEDIATE` transaction,
 * check the versions again, apply every record and record the new version and the delta's log row.
 */
export function applyDelta(
  dbPath: string,
  src: BundleSource,
  publicKeyPem: string,
  filter: BloomFilter | null,
  onProgress: (p: Progress) => void,
  /** the lane's clock, with its offset when known (version-order.ts LaneClock) */
  at: number | LaneClock,
): DeltaResult {
  const t0 = performance.now();
  const clock = laneClock(at);
  const now = clock.now;
  const delta = readVerifiedDelta(src, publicKeyPem, clock);
  const { header } = delta;
  const db = openWriter(dbPath);
  try {
    const meta = checkListTakesDelta(db, header, delta.trustedKeyId);
    const writer = new DeltaWriter(db, meta, filter);
    db.transaction(() => {
      checkVersionsInTransaction(db, header);
      writer.applyRecords(delta.records, header.recordCount, delta.reasons, onProgress);
      recordDelta(db, header, writer, now);
    }).immediate();
    return deltaResult(db, header, writer, now, t0);
  } finally {
    db.close();
  }
}

/** A delta read whole and verified: header and signature, clock, every record, the body's digest. */
interface VerifiedDelta {
  header: BundleHeader;
  trustedKeyId: string;
  reasons: string[];
  /**
   * the verified records, kept as their 16 bytes (one buffer, not one object each: a 100k delta would
   * otherwise make this thread's GC, and V8's helper threads, compete with the lane thread for the CPU)
   */
  records: Buffer;
}

/** Read and verify the whole bundle before the list is touched; the source is closed either way. */
function readVerifiedDelta(src: BundleSource, publicKeyPem: string, clock: LaneClock): VerifiedDelta {
  const { header, reader, trustedKeyId } = openAndCheck(src, publicKeyPem);
  try {
    if (header.kind !== "delta")
      throw slError(StatusListErrors.Malformed, "expected a delta, got a full list");
    checkNotAhead(header, clock);
    const body = new BodyStream(reader, header);
    const reasons = body.reasons;
    const records = Buffer.alloc(header.recordCount * RECORD_LEN);
    for (let i = 0; ; i++) {
      const r = body.next(records);
      if (r === null) break;
      const problem = recordProblem(r, "delta", header.reasonCount);
      if (problem) recordError(i, problem);
    }
    return { header, trustedKeyId, reasons, records };
  } finally {
    reader.close();
  }
}

/**
 * The list on disk takes this delta: it has a meta row, the trusted key signed it, and the delta chains
 * on the version it holds (a first check; the authoritative one is inside the write transaction).
 * Returns the meta row, whose counts the delta starts from.
 */
function checkListTakesDelta(db: Database.Database, header: BundleHeader, trustedKeyId: string): MetaRow {
  const meta = db.prepare("SELECT * FROM meta WHERE id = 1").get() as MetaRow | undefined;
  if (!meta) throw slError(StatusListErrors.NoFullList, "the list database has no meta row");
  if (meta.key_id !== trustedKeyId)
    throw slError(
      StatusListErrors.NoFullList,
      `the list on disk (full ${meta.full_version}) was signed by key ${meta.key_id}, not by the station key ` +
        `this lane trusts (${trustedKeyId}): no delta applies to it; a full list replaces it`,
      { keyId: meta.key_id, trusted: trustedKeyId },
    );
  checkNewer(header, { full: meta.full_version, delta: meta.delta_version });
  return meta;
}

/** Inside the write transaction: the versions re-read from the database, the authoritative check. */
function checkVersionsInTransaction(db: Database.Database, header: BundleHeader): void {
  const m = db.prepare("SELECT full_version, delta_version FROM meta WHERE id = 1").get() as MetaRow;
  checkNewer(header, { full: m.full_version, delta: m.delta_version });
}

/** Inside the write transaction, after the records: the new version and counts, and the delta's log row. */
function recordDelta(
  db: Database.Database,
  header: BundleHeader,
  counts: {
    cards: number;
    obus: number;
    adds: number;
    removes: number;
    listObusNotDecimal: number | null;
    listCardsNoNetwork: number | null;
  },
  now: number,
): void {
  db.prepare("UPDATE meta SET delta_version = ?, delta_created = ?, cards = ?, obus = ? WHERE id = 1").run(
    header.version,
    header.createdAt,
    counts.cards,
    counts.obus,
  );
  // a list stored before the count was kept has no column for it (and no count to carry on)
  if (counts.listObusNotDecimal !== null)
    db.prepare("UPDATE meta SET obus_not_decimal = ? WHERE id = 1").run(counts.listObusNotDecimal);
  if (counts.listCardsNoNetwork !== null)
    db.prepare("UPDATE meta SET cards_no_network = ? WHERE id = 1").run(counts.listCardsNoNetwork);
  db.prepare("INSERT INTO delta_log VALUES (?, ?, ?, ?, ?, ?)").run(
    header.version,
    header.base,
    header.createdAt,
    now,
    counts.adds,
    counts.removes,
  );
}

/** What the job answers: the delta applied, the counts it left, the overlay's size, the time it took. */
function deltaResult(
  db: Database.Database,
  header: BundleHeader,
  writer: DeltaWriter,
  now: number,
  t0: number,
): DeltaResult {
  return {
    overlayRows: writer.overlay ? overlayRows(db) : 0,
    version: header.version,
    base: header.base as string,
    createdAt: header.createdAt,
    appliedAt: now,
    adds: writer.adds,
    removes: writer.removes,
    cards: writer.cards,
    obus: writer.obus,
    obusNotDecimal: writer.obusNotDecimal,
    cardsNoNetwork: writer.cardsNoNetwork,
    cardNoNetworkExample: writer.cardNoNetworkExample,
    listCardsNoNetwork: writer.listCardsNoNetwork,
    ms: performance.now() - t0,
  };
}

/**
 * Writes a delta's records into a list database: the statements, prepared once before the transaction,
 * and the running counts. Entries go to the overlay (user_version 3) or, for older lists, to the main
 * tables (store.ts hasOverlay); an add also sets the key's filter bits and logs it in `added`.
 */
class DeltaWriter {
  /** whether the list has the delta overlay */
  readonly overlay: boolean;
  /** entries on the list (from the meta row), as the records applied so far leave them */
  cards: number;
  obus: number;
  adds = 0;
  removes = 0;
  /** OBU add records of this delta whose id has a digit A-F (ids.ts obuIdNotDecimal) */
  obusNotDecimal = 0;
  /** OBU entries of the list whose id has a digit A-F, as the records leave them; null: not counted */
  listObusNotDecimal: number | null;
  /** card add records of this delta of network 0000 (ids.ts cardWithoutNetwork), and the first of them */
  cardsNoNetwork = 0;
  cardNoNetworkExample: string | null = null;
  /** card entries of the list of network 0000, as the records leave them; null: not counted */
  listCardsNoNetwork: number | null;
  private readonly layout: CardLayout;
  // parameter arrays reused for every record (SQLite copies bound values): id, then list type [, reason]
  private readonly key = Buffer.alloc(CARD_KEY_LEN);
  private readonly idLen: number;
  private readonly cardSel: (number | bigint | Buffer)[];
  private readonly cardRow: (number | bigint | Buffer | null)[];
  private readonly findReason: Database.Statement;
  private readonly newReason: Database.Statement;
  private readonly cardHas: Database.Statement;
  private readonly obuHas: Database.Statement;
  private readonly addedIns: Database.Statement;
  private readonly cardPut: Database.Statement;
  private readonly obuPut: Database.Statement;
  private readonly cardDel: Database.Statement;
  private readonly obuDel: Database.Statement;
  // overlay state of an entry: undefined (no overlay row), 1 (listed), 0 (tombstone)
  private readonly cardOv: Database.Statement | null;
  private readonly obuOv: Database.Statement | null;

  constructor(
    db: Database.Database,
    meta: MetaRow,
    private readonly filter: BloomFilter | null,
  ) {
    this.layout = cardLayout(db);
    const cardId = cardIdCondition(this.layout);
    this.idLen = this.layout === "key9" ? 1 : 2;
    this.cardSel = new Array(this.idLen + 1);
    this.cardRow = new Array(this.idLen + 2);
    this.findReason = db.prepare("SELECT id FROM reason WHERE text = ? LIMIT 1").pluck();
    this.newReason = db.prepare(
      "INSERT INTO reason (id, text) VALUES ((SELECT COALESCE(MAX(id), -1) + 1 FROM reason), ?)",
    );
    this.overlay = hasOverlay(db);
    this.cardHas = db.prepare(`SELECT 1 FROM card WHERE ${cardId} AND list_type = ?`).pluck();
    this.obuHas = db.prepare("SELECT 1 FROM obu WHERE key = ? AND list_type = ?").pluck();
    // writes as `RETURNING 1` + pluck().get(): run() allocates a result object per call, get() of a
    // small integer allocates nothing, so a 100k delta leaves this thread's GC (and V8's helper threads,
    // which the lane thread's GC shares) idle
    const write = (sql: string): Database.Statement => db.prepare(`${sql} RETURNING 1`).pluck();
    this.addedIns = write("INSERT INTO added VALUES (?, ?, ?)");
    // where the entries live: the overlay (user_version 3) or, for older lists, the main tables
    const cardT = this.overlay ? "card_delta" : "card";
    const obuT = this.overlay ? "obu_delta" : "obu";
    this.cardPut = write(
      `INSERT OR REPLACE INTO ${cardT} VALUES (${this.layout === "key9" ? "?, ?, ?" : "?, ?, ?, ?"})`,
    );
    this.obuPut = write(`INSERT OR REPLACE INTO ${obuT} VALUES (?, ?, ?)`);
    this.cardDel = write(`DELETE FROM ${cardT} WHERE ${cardId} AND list_type = ?`);
    this.obuDel = write(`DELETE FROM ${obuT} WHERE key = ? AND list_type = ?`);
    this.cardOv = this.overlay
      ? db.prepare("SELECT reason IS NOT NULL FROM card_delta WHERE key = ? AND list_type = ?").pluck()
      : null;
    this.obuOv = this.overlay
      ? db.prepare("SELECT reason IS NOT NULL FROM obu_delta WHERE key = ? AND list_type = ?").pluck()
      : null;
    this.cards = meta.cards;
    this.obus = meta.obus;
    this.listObusNotDecimal = meta.obus_not_decimal ?? null;
    this.listCardsNoNetwork = meta.cards_no_network ?? null;
  }

  /** Apply the records in file order, reporting progress every 5%. Runs inside the write transaction. */
  applyRecords(records: Buffer, total: number, reasons: string[], onProgress: (p: Progress) => void): void {
    const step = Math.max(1, Math.floor(total / 20));
    // reason ids found or added in this transaction, by the bundle's reason index
    const reasonIds = new Map<number, number>();
    const reasonId = (idx: number): number => {
      let id = reasonIds.get(idx);
      if (id === undefined) {
        const text = reasons[idx] as string;
        id = this.findReason.get(text) as number | undefined;
        if (id === undefined) {
          this.newReason.run(text);
          id = this.findReason.get(text) as number;
        }
        reasonIds.set(idx, id);
      }
      return id;
    };
    const r: RawRecord = { kind: 0, op: 0, listType: 0, net: 0, reason: 0, hi32: 0, lo32: 0 };
    for (let i = 0; i < total; i++) {
      readRecord(records, i * RECORD_LEN, r);
      if (r.kind === 1) this.applyCard(r, reasonId);
      else this.applyObu(r, reasonId);
      if ((i + 1) % step === 0) onProgress({ phase: "delta", done: i + 1, total });
    }
  }

  /**
   * A card record. An add lists the entry (a new reason replaces the old one); a remove writes a
   * tombstone over a main-table row, or deletes the overlay row a delta had added.
   */
  private applyCard(r: RawRecord, reasonId: (idx: number) => number): void {
    const { cardSel, cardRow, idLen } = this;
    this.setCardId(r);
    const ov = this.cardOv?.get(cardSel) as number | undefined;
    const inMain = ov === undefined || r.op !== OP_ADD ? this.cardHas.get(cardSel) !== undefined : false;
    const had = ov === undefined ? inMain : ov === 1;
    // counted as `cards` is: an entry the list gains or loses
    const noNetwork = cardWithoutNetwork(r.net) ? 1 : 0;
    if (r.op === OP_ADD) {
      if (this.filter) addToFilter(this.filter, r);
      cardRow[idLen + 1] = reasonId(r.reason);
      this.cardPut.get(cardRow);
      this.addedIns.get(1, r.net, cardSerialValue(r.hi32, r.lo32));
      if (!had) this.cards++;
      if (!had && this.listCardsNoNetwork !== null) this.listCardsNoNetwork += noNetwork;
      if (noNetwork && this.cardsNoNetwork++ === 0)
        this.cardNoNetworkExample = cardIdOfRecord(r.net, r.hi32, r.lo32);
      this.adds++;
    } else {
      if (this.overlay && inMain) {
        cardRow[idLen + 1] = null; // tombstone over the main row
        this.cardPut.get(cardRow);
      } else if (this.overlay ? ov !== undefined : had) {
        this.cardDel.get(cardSel);
      }
      if (had) this.cards--;
      if (had && this.listCardsNoNetwork !== null) this.listCardsNoNetwork -= noNetwork;
      this.removes++;
    }
  }

  /** An OBU record: as a card's (applyCard). */
  private applyObu(r: RawRecord, reasonId: (idx: number) => number): void {
    const k = obuKeyValue(r.hi32, r.lo32);
    const ov = this.obuOv?.get(k, r.listType) as number | undefined;
    const inMain = ov === undefined || r.op !== OP_ADD ? this.obuHas.get(k, r.listType) !== undefined : false;
    const had = ov === undefined ? inMain : ov === 1;
    // counted as `obus` is: an entry the list gains or loses
    const notDecimal = obuIdNotDecimal(r.hi32, r.lo32) ? 1 : 0;
    if (r.op === OP_ADD) {
      if (this.filter) addToFilter(this.filter, r);
      this.obuPut.get(k, r.listType, reasonId(r.reason));
      this.addedIns.get(2, 0, k);
      if (!had) this.obus++;
      if (!had && this.listObusNotDecimal !== null) this.listObusNotDecimal += notDecimal;
      this.obusNotDecimal += notDecimal;
      this.adds++;
    } else {
      if (this.overlay && inMain) this.obuPut.get(k, r.listType, null);
      else if (this.overlay ? ov !== undefined : had) this.obuDel.get(k, r.listType);
      if (had) this.obus--;
      if (had && this.listObusNotDecimal !== null) this.listObusNotDecimal -= notDecimal;
      this.removes++;
    }
  }

  /** The card's id (and list type) into the reused parameter arrays, in the list's card layout. */
  private setCardId(r: RawRecord): void {
    const { cardSel, cardRow, idLen } = this;
    if (this.layout === "key9") {
      writeCardKey(r.net, r.hi32, r.lo32, this.key);
      cardSel[0] = this.key;
    } else {
      cardSel[0] = r.net;
      cardSel[1] = cardSerialValue(r.hi32, r.lo32);
    }
    for (let j = 0; j < idLen; j++) cardRow[j] = cardSel[j] as number | bigint | Buffer;
    cardSel[idLen] = r.listType;
    cardRow[idLen] = r.listType;
  }
}
