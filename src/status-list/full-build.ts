/**
 * The full-list job (worker thread): stream a verified full list into a new database beside the live one,
 * in key order, build its filter, make both durable, and switch the `current` pointer to it (store.ts).
 * The active list is untouched until the pointer's rename; the lane thread then swaps it in
 * (lifecycle.ts).
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { freeBytesSync } from "../datadir/free-space.js";
import { checkBuildRoom } from "./build-room.js";
import { type BundleHeader, compareRecords, type RawRecord, recordProblem } from "./bundle.js";
import {
  BodyStream,
  type BundleSource,
  openAndCheck,
  recordError,
  type SourceReader,
} from "./bundle-stream.js";
import { StatusListErrors, slError } from "./errors.js";
import { BloomFilter } from "./filter.js";
import { addToFilter } from "./filter-fill.js";
import {
  CARD_KEY_LEN,
  cardIdOfRecord,
  cardWithoutNetwork,
  obuIdNotDecimal,
  obuKeyValue,
  writeCardKey,
} from "./ids.js";
import {
  fsyncDir,
  fsyncFile,
  type ListOnDisk,
  listDir,
  listOnDisk,
  parsePointer,
  SCHEMA,
  writePointer,
} from "./store.js";
import type { Progress } from "./types.js";
import { checkFullOrder, checkNotAhead, type LaneClock, laneClock } from "./version-order.js";

export interface BuildResult {
  db: string;
  header: Omit<BundleHeader, "digest" | "keyId">;
  cards: number;
  obus: number;
  /** OBU entries whose id has a digit A-F: no lane matches them (ids.ts obuIdNotDecimal) */
  obusNotDecimal: number;
  /** card entries of network 0000: they match no card (ids.ts cardWithoutNetwork) */
  cardsNoNetwork: number;
  /** the first of them, a 20-digit card id; null when there are none */
  cardNoNetworkExample: string | null;
  filter: { buffer: SharedArrayBuffer; log2Bits: number };
  ms: number;
}

const BATCH = 64;

/**
 * Build a full list into a new database beside the live one and switch the pointer to it.
 * Throws (after deleting the build file) on any problem; the active list is untouched until the rename.
 * A failure after the rename (the directory's fsync) throws too, but keeps the files `current` names.
 * The steps, in order: check the bundle's header, signature, clock and version, and the room on the disk
 * for the build (build-room.ts); load it into a new
 * database in one transaction; leave it ready to serve (WAL) and closed; make it and its filter durable;
 * check the version again against the list `current` names and switch the pointer. `current` is the
 * versions the lane serves (null, null when it serves none); the version order is checkFullOrder's.
 */
export function buildFull(
  dataDir: string,
  src: BundleSource,
  publicKeyPem: string,
  current: { full: string | null; delta: string | null },
  onProgress: (p: Progress) => void,
  /** the lane's clock, with its offset when known (version-order.ts LaneClock) */
  at: number | LaneClock,
  /** the free bytes of a directory's disk (build-room.ts; tests inject one) */
  freeBytes: (dir: string) => number = freeBytesSync,
): BuildResult {
  const t0 = performance.now();
  const clock = laneClock(at);
  const now = clock.now;
  const dir = listDir(dataDir);
  mkdirSync(dir, { recursive: true });
  const { header, reader, trustedKeyId } = openAndCheck(src, publicKeyPem);
  let dbName = "";
  let db: Database.Database | null = null;
  try {
    checkFullAccepted(header, current, listOnDisk(dir, trustedKeyId), clock);
    checkBuildRoom(dir, header, freeBytes);
    dbName = `sl-${header.version}-${randomBytes(4).toString("hex")}.db`;
    db = new Database(join(dir, dbName));
    const loaded = loadList(db, reader, header, trustedKeyId, onProgress, now);
    onProgress({ phase: "swap", done: header.recordCount, total: header.recordCount });
    closeForServing(db);
    db = null;
    makeDurable(dir, dbName, loaded.filter, header.version);
    switchPointer(dir, dbName, header, current, trustedKeyId);
    return buildResult(dbName, header, loaded, t0);
  } catch (e) {
    if (db?.open) db.close();
    return failBuild(dir, dbName, header, e);
  } finally {
    reader.close();
  }
}

/**
 * Before anything is written: a full list, not made ahead of the clock, in the version order against the
 * versions the lane serves and the list `current` names (the same rule as at the swap, so a list the swap
 * would refuse is never downloaded into a database first).
 */
function checkFullAccepted(
  header: BundleHeader,
  current: { full: string | null; delta: string | null },
  onDisk: ListOnDisk,
  clock: LaneClock,
): void {
  if (header.kind !== "full") throw slError(StatusListErrors.Malformed, "expected a full list, got a delta");
  checkNotAhead(header, clock);
  checkFullOrder(header, current, onDisk);
}

interface Loaded {
  cards: number;
  obus: number;
  obusNotDecimal: number;
  cardsNoNetwork: number;
  cardNoNetworkExample: string | null;
  filter: BloomFilter;
}

/**
 * Load the list into the new, empty database in one transaction (journal off: a failed build is deleted,
 * never rolled back): the reasons, every record (checked, and in strictly increasing key order) in
 * 64-row inserts, and the meta row, then the commit. The filter is filled on the way.
 */
function loadList(
  db: Database.Database,
  reader: SourceReader,
  header: BundleHeader,
  trustedKeyId: string,
  onProgress: (p: Progress) => void,
  now: number,
): Loaded {
  db.pragma("journal_mode = OFF");
  db.pragma("synchronous = OFF");
  db.pragma("locking_mode = EXCLUSIVE");
  db.pragma("cache_size = -16384");
  db.exec(SCHEMA);
  db.exec("BEGIN");
  const body = new BodyStream(reader, header);
  const insReason = db.prepare("INSERT INTO reason (id, text) VALUES (?, ?)");
  for (const [i, t] of body.reasons.entries()) insReason.run(i, t);
  const rows = new RowBatches(db);
  const filter = BloomFilter.create(header.recordCount);
  loadRecords(body, header, rows, filter, onProgress);
  rows.flush();
  db.prepare(
    `INSERT INTO meta (id, full_version, full_created, delta_version, delta_created, cards, obus, imported_at, key_id,
       obus_not_decimal, cards_no_network)
     VALUES (1, ?, ?, NULL, NULL, ?, ?, ?, ?, ?, ?)`,
  ).run(
    header.version,
    header.createdAt,
    rows.cards,
    rows.obus,
    now,
    trustedKeyId,
    rows.obusNotDecimal,
    rows.cardsNoNetwork,
  );
  db.exec("COMMIT");
  return {
    cards: rows.cards,
    obus: rows.obus,
    obusNotDecimal: rows.obusNotDecimal,
    cardsNoNetwork: rows.cardsNoNetwork,
    cardNoNetworkExample: rows.cardNoNetworkExample,
    filter,
  };
}

/**
 * Every record as the body streams it: checked (and in strictly increasing key order, or the whole list
 * is refused), its key added to the filter, its row to the batches; progress every 1%.
 */
function loadRecords(
  body: BodyStream,
  header: BundleHeader,
  rows: RowBatches,
  filter: BloomFilter,
  onProgress: (p: Progress) => void,
): void {
  const prev: RawRecord = { kind: 0, op: 0, listType: 0, net: 0, reason: 0, hi32: 0, lo32: 0 };
  const total = header.recordCount;
  const step = Math.max(1, Math.floor(total / 100));
  onProgress({ phase: "load", done: 0, total });
  for (let i = 0; ; i++) {
    const r = body.next();
    if (r === null) break;
    const problem = recordProblem(r, "full", header.reasonCount);
    if (problem) recordError(i, problem);
    if (i > 0 && compareRecords(prev, r) >= 0) recordError(i, "not in strictly increasing key order");
    Object.assign(prev, r);
    addToFilter(filter, r);
    rows.add(r);
    if ((i + 1) % step === 0) onProgress({ phase: "load", done: i + 1, total });
  }
}

/**
 * The rows of a full list, inserted in batches of 64 (one multi-value statement each) as they come in
 * key order; `flush` inserts the rest one by one. Counts the cards and OBUs, and the entries that match
 * nothing: OBUs no lane matches, cards of network 0000 (the first of them kept as an example).
 */
class RowBatches {
  cards = 0;
  obus = 0;
  obusNotDecimal = 0;
  cardsNoNetwork = 0;
  cardNoNetworkExample: string | null = null;
  private readonly cardOne: Database.Statement;
  private readonly obuOne: Database.Statement;
  private readonly cardMany: Database.Statement;
  private readonly obuMany: Database.Statement;
  private readonly cardParams: (number | Buffer)[] = [];
  private readonly obuParams: (number | bigint)[] = [];
  // one 9-byte view per row of a batch, reused: SQLite copies a bound blob
  private readonly keyPool = Buffer.alloc(BATCH * CARD_KEY_LEN);
  private readonly keyViews = Array.from({ length: BATCH }, (_, j) =>
    this.keyPool.subarray(j * CARD_KEY_LEN, (j + 1) * CARD_KEY_LEN),
  );

  constructor(db: Database.Database) {
    this.cardOne = db.prepare("INSERT INTO card VALUES (?, ?, ?)");
    this.obuOne = db.prepare("INSERT INTO obu VALUES (?, ?, ?)");
    this.cardMany = db.prepare(`INSERT INTO card VALUES ${Array(BATCH).fill("(?, ?, ?)").join(", ")}`);
    this.obuMany = db.prepare(`INSERT INTO obu VALUES ${Array(BATCH).fill("(?, ?, ?)").join(", ")}`);
  }

  add(r: RawRecord): void {
    const { cardParams, obuParams } = this;
    if (r.kind === 1) {
      const key = this.keyViews[cardParams.length / 3] as Buffer;
      writeCardKey(r.net, r.hi32, r.lo32, key);
      cardParams.push(key, r.listType, r.reason);
      this.cards++;
      if (cardWithoutNetwork(r.net) && this.cardsNoNetwork++ === 0)
        this.cardNoNetworkExample = cardIdOfRecord(r.net, r.hi32, r.lo32);
      if (cardParams.length === BATCH * 3) {
        this.cardMany.run(cardParams);
        cardParams.length = 0;
      }
    } else {
      obuParams.push(obuKeyValue(r.hi32, r.lo32), r.listType, r.reason);
      this.obus++;
      if (obuIdNotDecimal(r.hi32, r.lo32)) this.obusNotDecimal++;
      if (obuParams.length === BATCH * 3) {
        this.obuMany.run(obuParams);
        obuParams.length = 0;
      }
    }
  }

  flush(): void {
    const { cardParams, obuParams } = this;
    for (let j = 0; j < cardParams.length; j += 3) this.cardOne.run(cardParams.slice(j, j + 3));
    for (let j = 0; j < obuParams.length; j += 3) this.obuOne.run(obuParams.slice(j, j + 3));
  }
}

/** After the commit: the database as the lane reads it (normal locking, WAL), closed. */
function closeForServing(db: Database.Database): void {
  db.pragma("locking_mode = NORMAL");
  db.pragma("journal_mode = WAL");
  db.close();
}

/** The database file synced, its filter written beside it (synced), then the directory synced. */
function makeDurable(dir: string, dbName: string, filter: BloomFilter, fullVersion: string): void {
  const dbPath = join(dir, dbName);
  fsyncFile(dbPath);
  // a new database: at filter generation 0 (the schema's default), `added` never emptied
  filter.save(`${dbPath}.filter`, { db: dbName, fullVersion, generation: 0 });
  fsyncDir(dir);
}

/** Make the new database the list: the version checked again, then the pointer renamed over `current`. */
function switchPointer(
  dir: string,
  dbName: string,
  header: BundleHeader,
  current: { full: string | null; delta: string | null },
  trustedKeyId: string,
): void {
  // the authoritative check, against the list the pointer names now
  checkFullOrder(header, current, listOnDisk(dir, trustedKeyId));
  writePointer(dir, { db: dbName, fullVersion: header.version });
}

function buildResult(dbName: string, header: BundleHeader, loaded: Loaded, t0: number): BuildResult {
  const { digest: _d, keyId: _k, ...h } = header;
  return {
    db: dbName,
    header: h,
    cards: loaded.cards,
    obus: loaded.obus,
    obusNotDecimal: loaded.obusNotDecimal,
    cardsNoNetwork: loaded.cardsNoNetwork,
    cardNoNetworkExample: loaded.cardNoNetworkExample,
    filter: { buffer: loaded.filter.buffer, log2Bits: loaded.filter.log2Bits },
    ms: performance.now() - t0,
  };
}

/**
 * A failed build (its database already closed): its files deleted unless `current` names them, then the
 * error thrown: E511 "is in place" when the pointer had switched, an E5xx as it came, anything else
 * wrapped as E511.
 */
function failBuild(dir: string, dbName: string, header: BundleHeader, e: unknown): never {
  const switched = deleteUnlessCurrent(dir, dbName);
  if (switched)
    throw slError(
      StatusListErrors.Store,
      `status-list full list ${header.version} is in place (current names ${dbName}), but a step after ` +
        `the switch failed: ${(e as Error).message}; the switch may not survive a power cut`,
      { db: dbName },
      e,
    );
  throw e instanceof Error && "code" in e && String((e as { code: unknown }).code).startsWith("E5")
    ? e
    : slError(
        StatusListErrors.Store,
        `status-list full import failed: ${(e as Error).message}`,
        undefined,
        e,
      );
}

/**
 * Delete a failed build's files (none before it was named), unless the pointer names it or cannot be
 * read. Returns whether `current` names it (the switch went through).
 */
function deleteUnlessCurrent(dir: string, dbName: string): boolean {
  // once `current` names the new database (the rename went through and a later step, the directory's
  // fsync, failed) it is the list: kept, and the lane serves it (lifecycle.ts resyncAfterFailedFull).
  // A pointer that cannot be read says nothing either way: the files stay for the next open to judge.
  let switched = false;
  let keep = false;
  if (dbName) {
    try {
      switched = parsePointer(dir)?.db === dbName;
      keep = switched;
    } catch {
      keep = true;
    }
  }
  if (dbName && !keep) {
    for (const suffix of ["", "-wal", "-shm", "-journal", ".filter"])
      rmSync(join(dir, dbName + suffix), { force: true });
  }
  return switched;
}
