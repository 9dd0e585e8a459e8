/**
 * The on-disk side of the status list: directory layout, the atomic "current" pointer, the schema, and
 * the three jobs that run off the lane thread (full build, delta apply, filter rebuild).
 *
 * Layout of <dataDir>/status-list/:
 *   current                    {"db": "sl-<version>-<rand>.db", "fullVersion": "..."}: the active list
 *   sl-<version>-<rand>.db     one SQLite database per full list (+ -wal, -shm while open)
 *   sl-<version>-<rand>.db.filter   its Bloom filter (rebuilt from the database when missing or stale)
 * Anything else matching these names and not named by `current` is a leftover of a crashed build and is
 * deleted on open. The pointer is replaced by write-temp + fsync + rename + fsync(dir), so after a crash
 * it names either the old or the new, complete database, never a half-built one.
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import {
  type BundleHeader,
  checkSignature,
  compareRecords,
  decodeHeader,
  HEADER_LEN,
  loadPublicKey,
  OP_ADD,
  PREFIX_LEN,
  type RawRecord,
  RECORD_LEN,
  readRecord,
  recordProblem,
  sha256,
} from "./bundle.js";
import { StatusListErrors, slError } from "./errors.js";
import { BloomFilter } from "./filter.js";
import {
  CARD_KEY_LEN,
  cardWordA,
  decodeCardKey,
  OBU_WORD_A,
  serialHalvesToDecimal,
  writeCardKey,
} from "./ids.js";

export const SUBDIR = "status-list";
const POINTER = "current";
const DB_RE = /^sl-[0-9]{12}-[0-9a-f]{8}\.db(-wal|-shm|-journal|\.filter)?$/;

export interface Pointer {
  db: string;
  fullVersion: string;
}

export function listDir(dataDir: string): string {
  return join(dataDir, SUBDIR);
}

export function readPointer(dir: string): Pointer | null {
  const p = join(dir, POINTER);
  if (!existsSync(p)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(p, "utf8"));
  } catch (e) {
    throw slError(StatusListErrors.Store, `status-list pointer ${p} is unreadable: ${(e as Error).message}`);
  }
  const o = parsed as Partial<Pointer>;
  if (typeof o.db !== "string" || !DB_RE.test(o.db) || typeof o.fullVersion !== "string") {
    throw slError(StatusListErrors.Store, `status-list pointer ${p} does not name a list database`);
  }
  if (!existsSync(join(dir, o.db))) {
    throw slError(StatusListErrors.Store, `status-list pointer ${p} names ${o.db}, which does not exist`);
  }
  return { db: o.db, fullVersion: o.fullVersion };
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncFile(path: string): void {
  const fd = openSync(path, "r+");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Atomically make `p` the active list: temp file, fsync, rename over "current", fsync the directory. */
export function writePointer(dir: string, p: Pointer): void {
  const tmp = join(dir, `${POINTER}.tmp`);
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, `${JSON.stringify(p)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, POINTER));
  fsyncDir(dir);
}

/** A bundle given as bytes, handed to the worker through a file (see StatusListCache.applyBundle). */
export const INCOMING_RE = /^incoming-[0-9a-f]{8}\.bundle$/;

/** Delete build leftovers: every list file not belonging to `keep`, stray pointer or incoming files. */
export function cleanStale(dir: string, keep: string | null): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const stale =
      name === `${POINTER}.tmp` ||
      INCOMING_RE.test(name) ||
      (DB_RE.test(name) && (keep === null || !name.startsWith(keep)));
    if (stale) {
      rmSync(join(dir, name), { force: true });
      removed.push(name);
    }
  }
  return removed;
}

/**
 * How card rows are keyed. "key9" (user_version 2, every list built since): `card(key BLOB, list_type,
 * reason)`, the key the 9-byte big-endian card id number (ids.ts). "net-serial" (user_version 0, lists
 * built before): `card(net INTEGER, serial INTEGER, list_type, reason)`; still read and patched, so a lane
 * keeps its list across the upgrade until the next full list replaces it.
 */
export type CardLayout = "key9" | "net-serial";
const LAYOUT_KEY9 = 2;
/** user_version 3: the key9 layout plus the delta overlay tables `card_delta` and `obu_delta` */
const LAYOUT_OVERLAY = 3;

export function cardLayout(db: Database.Database): CardLayout {
  const v = db.pragma("user_version", { simple: true });
  return v === LAYOUT_KEY9 || v === LAYOUT_OVERLAY ? "key9" : "net-serial";
}

/**
 * Deltas go to an overlay: `card_delta` / `obu_delta` hold, per (key, list type) a delta touched since
 * the full list, the entry as the deltas left it: a reason id (listed) or NULL (removed: a tombstone over
 * a main-table row). A lookup reads the overlay row where there is one and the main row otherwise. A
 * 100,000-entry delta then writes a few MB of overlay pages instead of rewriting about 100,000 random
 * leaves of the 30M-row main tables (150 MB of WAL, which a lookup's page read had to queue behind).
 * The overlay is merged into the main tables in small key-ordered batches once it grows past a limit
 * (`compactOverlay`), and vanishes with the next full list.
 */
export function hasOverlay(db: Database.Database): boolean {
  return db.pragma("user_version", { simple: true }) === LAYOUT_OVERLAY;
}

const OVERLAY_TABLES = `
CREATE TABLE IF NOT EXISTS card_delta (
  key BLOB NOT NULL, list_type INTEGER NOT NULL, reason INTEGER,
  PRIMARY KEY (key, list_type)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS obu_delta (
  key INTEGER NOT NULL, list_type INTEGER NOT NULL, reason INTEGER,
  PRIMARY KEY (key, list_type)
) WITHOUT ROWID;
`;

/**
 * Give a key9 list (user_version 2, built before the overlay) its overlay tables, in one transaction.
 * Its earlier deltas stay where they were written (in the main tables); later ones go to the overlay.
 * Lists in the older net-serial layout keep taking deltas directly into the main tables until the next
 * full list. Returns whether the database changed.
 */
export function migrateToOverlay(db: Database.Database): boolean {
  if (db.pragma("user_version", { simple: true }) !== LAYOUT_KEY9) return false;
  db.transaction(() => {
    db.exec(OVERLAY_TABLES);
    db.pragma(`user_version = ${LAYOUT_OVERLAY}`);
  }).immediate();
  return true;
}

/** Rows in the overlay (both tables). */
export function overlayRows(db: Database.Database): number {
  if (!hasOverlay(db)) return 0;
  return db
    .prepare("SELECT (SELECT count(*) FROM card_delta) + (SELECT count(*) FROM obu_delta)")
    .pluck()
    .get() as number;
}

/** The WHERE condition on a card id for a layout (one `?` for key9, two for net-serial). */
export function cardIdCondition(layout: CardLayout): string {
  return layout === "key9" ? "key = ?" : "net = ? AND serial = ?";
}

const SCHEMA = `
PRAGMA user_version = ${LAYOUT_OVERLAY};
CREATE TABLE meta (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  full_version TEXT NOT NULL, full_created INTEGER NOT NULL,
  delta_version TEXT, delta_created INTEGER,
  cards INTEGER NOT NULL, obus INTEGER NOT NULL,
  imported_at INTEGER NOT NULL, key_id TEXT NOT NULL
);
CREATE TABLE reason (id INTEGER PRIMARY KEY, text TEXT NOT NULL);
CREATE TABLE card (
  key BLOB NOT NULL, list_type INTEGER NOT NULL, reason INTEGER NOT NULL,
  PRIMARY KEY (key, list_type)
) WITHOUT ROWID;
CREATE TABLE obu (
  key INTEGER NOT NULL, list_type INTEGER NOT NULL, reason INTEGER NOT NULL,
  PRIMARY KEY (key, list_type)
) WITHOUT ROWID;
CREATE TABLE added (kind INTEGER NOT NULL, net INTEGER NOT NULL, key INTEGER NOT NULL);
${OVERLAY_TABLES}
CREATE TABLE delta_log (
  version TEXT PRIMARY KEY, base TEXT NOT NULL, created INTEGER NOT NULL, applied_at INTEGER NOT NULL,
  adds INTEGER NOT NULL, removes INTEGER NOT NULL
);
`;

export interface MetaRow {
  full_version: string;
  full_created: number;
  delta_version: string | null;
  delta_created: number | null;
  cards: number;
  obus: number;
  imported_at: number;
  key_id: string;
}

/** Where a bundle comes from: a file (streamed) or bytes in memory. */
export type BundleSource = { path: string } | { bytes: Uint8Array };

/** Reads a bundle source sequentially from a position. */
class SourceReader {
  private fd: number | null = null;
  private bytes: Buffer | null = null;
  readonly size: number;
  constructor(src: BundleSource) {
    if ("path" in src) {
      try {
        this.fd = openSync(src.path, "r");
      } catch (e) {
        throw slError(
          StatusListErrors.Store,
          `cannot read status-list bundle ${src.path}: ${(e as Error).message}`,
        );
      }
      this.size = fstatSync(this.fd).size;
    } else {
      this.bytes = Buffer.from(src.bytes.buffer, src.bytes.byteOffset, src.bytes.byteLength);
      this.size = this.bytes.length;
    }
  }
  read(into: Buffer, len: number, pos: number): number {
    if (this.bytes) return this.bytes.copy(into, 0, pos, Math.min(pos + len, this.bytes.length));
    let got = 0;
    while (got < len) {
      const n = readSync(this.fd as number, into, got, len - got, pos + got);
      if (n <= 0) break;
      got += n;
    }
    return got;
  }
  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

export interface Progress {
  /** load: full-list records stored; swap: built, being switched in; delta: delta records applied */
  phase: "load" | "swap" | "delta";
  done: number;
  total: number;
}

export interface CheckedHeader {
  header: BundleHeader;
  reader: SourceReader;
}

/** Read and check the header and signature of a bundle (no body yet). */
export function openAndCheck(src: BundleSource, publicKeyPem: string): CheckedHeader {
  const trusted = loadPublicKey(publicKeyPem);
  const reader = new SourceReader(src);
  try {
    const prefix = Buffer.alloc(PREFIX_LEN);
    const n = reader.read(prefix, PREFIX_LEN, 0);
    const header = decodeHeader(prefix.subarray(0, Math.min(n, HEADER_LEN)), reader.size);
    checkSignature(prefix.subarray(0, HEADER_LEN), prefix.subarray(HEADER_LEN, n), trusted);
    return { header, reader };
  } catch (e) {
    reader.close();
    throw e;
  }
}

/**
 * Streams a body: reasons, then records, hashing every byte. `next()` returns the next record or null
 * at the end, where the digest and length are checked.
 */
class BodyStream {
  private readonly hash = sha256();
  /** one fixed buffer: leftover bytes move to the front, the next chunk is read behind them (no churn) */
  private readonly buf: Buffer;
  private len = 0;
  private off = 0;
  private pos = PREFIX_LEN;
  private readonly end: number;
  recordsRead = 0;
  readonly reasons: string[] = [];
  private readonly rec: RawRecord = { kind: 0, op: 0, listType: 0, net: 0, reason: 0, hi32: 0, lo32: 0 };

  constructor(
    private readonly reader: SourceReader,
    private readonly header: BundleHeader,
  ) {
    this.end = PREFIX_LEN + header.bodyLength;
    this.buf = Buffer.alloc(Math.min(4 << 20, header.bodyLength) + 4096); // a delta needs far less than 4 MB
    for (let i = 0; i < header.reasonCount; i++) {
      this.need(2);
      const len = this.buf.readUInt16BE(this.off);
      this.off += 2;
      this.need(len);
      this.reasons.push(this.buf.toString("utf8", this.off, this.off + len));
      this.off += len;
    }
  }

  private need(n: number): void {
    while (this.len - this.off < n) {
      const left = this.end - this.pos;
      if (left <= 0) {
        this.bad(
          `body ends inside ${this.recordsRead < this.header.recordCount ? "a record" : "the reasons"}`,
        );
      }
      if (this.off > 0) {
        this.buf.copy(this.buf, 0, this.off, this.len);
        this.len -= this.off;
        this.off = 0;
      }
      const room = this.buf.length - this.len;
      const got = this.reader.read(this.buf.subarray(this.len), Math.min(room, left), this.pos);
      if (got <= 0) {
        throw slError(StatusListErrors.Truncated, `status-list bundle truncated at byte ${this.pos}`);
      }
      this.hash.update(this.buf.subarray(this.len, this.len + got));
      this.pos += got;
      this.len += got;
    }
  }

  private bad(msg: string): never {
    throw slError(StatusListErrors.Malformed, `status-list bundle malformed: ${msg}`);
  }

  /** The next record, or null at the end; with `copy`, its 16 bytes are also copied to copy[16 * index]. */
  next(copy?: Buffer): RawRecord | null {
    if (this.recordsRead === this.header.recordCount) {
      if (this.len - this.off !== 0 || this.pos !== this.end) {
        this.bad(`${this.end - this.pos + this.len - this.off} bytes after the last record`);
      }
      const digest = this.hash.digest();
      if (!digest.equals(this.header.digest)) {
        throw slError(
          StatusListErrors.Digest,
          "status-list bundle body does not match its signed SHA-256 digest (tampered or corrupted): refused",
        );
      }
      return null;
    }
    this.need(RECORD_LEN);
    readRecord(this.buf, this.off, this.rec);
    if (copy) this.buf.copy(copy, this.recordsRead * RECORD_LEN, this.off, this.off + RECORD_LEN);
    this.off += RECORD_LEN;
    this.recordsRead++;
    return this.rec;
  }
}

function recordError(index: number, problem: string): never {
  throw slError(StatusListErrors.Malformed, `status-list bundle malformed: record ${index}: ${problem}`, {
    index,
  });
}

/**
 * The version order (docs/status-list.md section 3). The lane's applied state has one version: the last
 * delta's, or the full list's before any delta (`held`). Every bundle must move it strictly forward, fulls
 * and deltas alike: a full list is accepted only if it is newer than that version (a full list issued
 * before the last applied delta would roll back what the delta listed), a delta only if it chains on it
 * (its base is that version; its own version is after its base, bundle.ts decodeHeader). Throws E506,
 * E507 or E508 naming both versions.
 */
export function checkNewer(h: BundleHeader, current: { full: string | null; delta: string | null }): void {
  const holds = current.delta ?? current.full;
  const held = current.delta ? `delta ${current.delta} on full ${current.full}` : `full ${current.full}`;
  if (h.kind === "full") {
    if (holds !== null && h.version <= holds) {
      throw slError(
        StatusListErrors.NotNewer,
        `full list ${h.version} is not newer than the version the lane holds (${held}): refused`,
        { version: h.version, holds, full: current.full, delta: current.delta },
      );
    }
    return;
  }
  if (holds === null) {
    throw slError(
      StatusListErrors.NoFullList,
      `delta ${h.version} refused: no full list is active to apply it to`,
    );
  }
  if (h.version <= holds) {
    throw slError(
      StatusListErrors.NotNewer,
      `delta ${h.version} is not newer than the version the lane holds (${holds}): refused`,
      { version: h.version, holds },
    );
  }
  if (h.base !== holds) {
    throw slError(
      StatusListErrors.NotChaining,
      `delta ${h.version} applies on ${h.base}, but the lane holds ${holds}: refused (does not chain)`,
      { version: h.version, base: h.base, holds },
    );
  }
}

/**
 * The versions of the list `current` names, read from its database (null, null with no list): the
 * authoritative state a full build is checked against just before its pointer swap.
 */
export function activeVersions(dir: string): { full: string | null; delta: string | null } {
  const p = readPointer(dir);
  if (!p) return { full: null, delta: null };
  const db = new Database(join(dir, p.db), { readonly: true, fileMustExist: true });
  try {
    const m = db.prepare("SELECT full_version, delta_version FROM meta WHERE id = 1").get() as
      | Pick<MetaRow, "full_version" | "delta_version">
      | undefined;
    return { full: m?.full_version ?? null, delta: m?.delta_version ?? null };
  } finally {
    db.close();
  }
}

/** The SQLite key of a card serial or flipped OBU id from its two 32-bit halves. */
function cardSerialValue(hi32: number, lo32: number): number | bigint {
  return hi32 < 0x200000 ? hi32 * 4294967296 + lo32 : (BigInt(hi32) << 32n) | BigInt(lo32);
}
function obuKeyValue(hi32: number, lo32: number): number | bigint {
  const shi = (hi32 ^ 0x80000000) | 0; // flipped top bit, signed
  if (shi >= -0x200000 && shi < 0x200000) return shi * 4294967296 + lo32;
  return (BigInt(shi) << 32n) + BigInt(lo32);
}

function addToFilter(f: BloomFilter, r: RawRecord): void {
  if (r.kind === 1) {
    const { hi8, lo8 } = serialHalvesToDecimal(r.hi32, r.lo32);
    f.add(cardWordA(r.net), hi8, lo8);
  } else {
    f.add(OBU_WORD_A, r.hi32, r.lo32);
  }
}

export interface BuildResult {
  db: string;
  header: Omit<BundleHeader, "digest" | "keyId">;
  cards: number;
  obus: number;
  filter: { buffer: SharedArrayBuffer; log2Bits: number };
  ms: number;
}

const BATCH = 64;

/**
 * Build a full list into a new database beside the live one and switch the pointer to it.
 * Throws (after deleting the build file) on any problem; the active list is untouched until the rename.
 */
export function buildFull(
  dataDir: string,
  src: BundleSource,
  publicKeyPem: string,
  current: { full: string | null; delta: string | null },
  onProgress: (p: Progress) => void,
  now: number,
): BuildResult {
  const t0 = performance.now();
  const dir = listDir(dataDir);
  mkdirSync(dir, { recursive: true });
  const { header, reader } = openAndCheck(src, publicKeyPem);
  let dbName = "";
  let db: Database.Database | null = null;
  try {
    if (header.kind !== "full")
      throw slError(StatusListErrors.Malformed, "expected a full list, got a delta");
    checkNewer(header, current);
    dbName = `sl-${header.version}-${randomBytes(4).toString("hex")}.db`;
    const dbPath = join(dir, dbName);
    db = new Database(dbPath);
    db.pragma("journal_mode = OFF");
    db.pragma("synchronous = OFF");
    db.pragma("locking_mode = EXCLUSIVE");
    db.pragma("cache_size = -16384");
    db.exec(SCHEMA);
    db.exec("BEGIN");
    const body = new BodyStream(reader, header);
    const insReason = db.prepare("INSERT INTO reason (id, text) VALUES (?, ?)");
    for (const [i, t] of body.reasons.entries()) insReason.run(i, t);
    const cardOne = db.prepare("INSERT INTO card VALUES (?, ?, ?)");
    const obuOne = db.prepare("INSERT INTO obu VALUES (?, ?, ?)");
    const cardMany = db.prepare(`INSERT INTO card VALUES ${Array(BATCH).fill("(?, ?, ?)").join(", ")}`);
    const obuMany = db.prepare(`INSERT INTO obu VALUES ${Array(BATCH).fill("(?, ?, ?)").join(", ")}`);
    const cardParams: (number | Buffer)[] = [];
    const obuParams: (number | bigint)[] = [];
    // one 9-byte view per row of a batch, reused: SQLite copies a bound blob
    const keyPool = Buffer.alloc(BATCH * CARD_KEY_LEN);
    const keyViews = Array.from({ length: BATCH }, (_, j) =>
      keyPool.subarray(j * CARD_KEY_LEN, (j + 1) * CARD_KEY_LEN),
    );
    const filter = BloomFilter.create(header.recordCount);
    const prev: RawRecord = { kind: 0, op: 0, listType: 0, net: 0, reason: 0, hi32: 0, lo32: 0 };
    let cards = 0;
    let obus = 0;
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
      if (r.kind === 1) {
        const key = keyViews[cardParams.length / 3] as Buffer;
        writeCardKey(r.net, r.hi32, r.lo32, key);
        cardParams.push(key, r.listType, r.reason);
        cards++;
        if (cardParams.length === BATCH * 3) {
          cardMany.run(cardParams);
          cardParams.length = 0;
        }
      } else {
        obuParams.push(obuKeyValue(r.hi32, r.lo32), r.listType, r.reason);
        obus++;
        if (obuParams.length === BATCH * 3) {
          obuMany.run(obuParams);
          obuParams.length = 0;
        }
      }
      if ((i + 1) % step === 0) onProgress({ phase: "load", done: i + 1, total });
    }
    for (let j = 0; j < cardParams.length; j += 3) cardOne.run(cardParams.slice(j, j + 3));
    for (let j = 0; j < obuParams.length; j += 3) obuOne.run(obuParams.slice(j, j + 3));
    db.prepare(
      `INSERT INTO meta (id, full_version, full_created, delta_version, delta_created, cards, obus, imported_at, key_id)
       VALUES (1, ?, ?, NULL, NULL, ?, ?, ?, ?)`,
    ).run(header.version, header.createdAt, cards, obus, now, header.keyId.toString("hex"));
    db.exec("COMMIT");
    onProgress({ phase: "swap", done: total, total });
    db.pragma("locking_mode = NORMAL");
    db.pragma("journal_mode = WAL");
    db.close();
    db = null;
    fsyncFile(dbPath);
    filter.save(`${dbPath}.filter`, { db: dbName, fullVersion: header.version });
    fsyncDir(dir);
    // the authoritative check, against the list the pointer names now, not the caller's view of it
    checkNewer(header, activeVersions(dir));
    writePointer(dir, { db: dbName, fullVersion: header.version });
    const { digest: _d, keyId: _k, ...h } = header;
    return {
      db: dbName,
      header: h,
      cards,
      obus,
      filter: { buffer: filter.buffer, log2Bits: filter.log2Bits },
      ms: performance.now() - t0,
    };
  } catch (e) {
    if (db?.open) db.close();
    if (dbName) {
      for (const suffix of ["", "-wal", "-shm", "-journal", ".filter"])
        rmSync(join(dir, dbName + suffix), { force: true });
    }
    throw e instanceof Error && "code" in e && String((e as { code: unknown }).code).startsWith("E5")
      ? e
      : slError(
          StatusListErrors.Store,
          `status-list full import failed: ${(e as Error).message}`,
          undefined,
          e,
        );
  } finally {
    reader.close();
  }
}

export interface DeltaResult {
  /** rows in the overlay after this delta (0 for a list without one) */
  overlayRows: number;
  version: string;
  base: string;
  createdAt: number;
  adds: number;
  removes: number;
  cards: number;
  obus: number;
  ms: number;
}

/** Open the live database for writing from a worker: WAL, FULL sync, waits on a busy reader briefly. */
function openWriter(dbPath: string): Database.Database {
  const db = new Database(dbPath);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 5000");
  db.pragma("journal_size_limit = 67108864"); // a restarted WAL is truncated back to 64 MB
  return db;
}

/** Verify a delta completely, then apply it in one transaction; filter bits are set before the commit. */
export function applyDelta(
  dbPath: string,
  src: BundleSource,
  publicKeyPem: string,
  filter: BloomFilter | null,
  onProgress: (p: Progress) => void,
  now: number,
): DeltaResult {
  const t0 = performance.now();
  const { header, reader } = openAndCheck(src, publicKeyPem);
  // the verified records, kept as their 16 bytes (one buffer, not one object each: a 100k delta would
  // otherwise make this thread's GC, and V8's helper threads, compete with the lane thread for the CPU)
  let records: Buffer;
  let reasons: string[];
  try {
    if (header.kind !== "delta")
      throw slError(StatusListErrors.Malformed, "expected a delta, got a full list");
    const body = new BodyStream(reader, header);
    reasons = body.reasons;
    records = Buffer.alloc(header.recordCount * RECORD_LEN);
    for (let i = 0; ; i++) {
      const r = body.next(records);
      if (r === null) break;
      const problem = recordProblem(r, "delta", header.reasonCount);
      if (problem) recordError(i, problem);
    }
  } finally {
    reader.close();
  }
  const db = openWriter(dbPath);
  try {
    const meta = db.prepare("SELECT * FROM meta WHERE id = 1").get() as MetaRow | undefined;
    if (!meta) throw slError(StatusListErrors.NoFullList, "the list database has no meta row");
    checkNewer(header, { full: meta.full_version, delta: meta.delta_version });
    const layout = cardLayout(db);
    const cardId = cardIdCondition(layout);
    // parameter arrays reused for every record (SQLite copies bound values): id, then list type [, reason]
    const key = Buffer.alloc(CARD_KEY_LEN);
    const idLen = layout === "key9" ? 1 : 2;
    const cardSel: (number | bigint | Buffer)[] = new Array(idLen + 1);
    const cardRow: (number | bigint | Buffer | null)[] = new Array(idLen + 2);
    const setCardId = (r: RawRecord): void => {
      if (layout === "key9") {
        writeCardKey(r.net, r.hi32, r.lo32, key);
        cardSel[0] = key;
      } else {
        cardSel[0] = r.net;
        cardSel[1] = cardSerialValue(r.hi32, r.lo32);
      }
      for (let j = 0; j < idLen; j++) cardRow[j] = cardSel[j] as number | bigint | Buffer;
      cardSel[idLen] = r.listType;
      cardRow[idLen] = r.listType;
    };
    const findReason = db.prepare("SELECT id FROM reason WHERE text = ? LIMIT 1").pluck();
    const newReason = db.prepare(
      "INSERT INTO reason (id, text) VALUES ((SELECT COALESCE(MAX(id), -1) + 1 FROM reason), ?)",
    );
    const overlay = hasOverlay(db);
    const cardHas = db.prepare(`SELECT 1 FROM card WHERE ${cardId} AND list_type = ?`).pluck();
    const obuHas = db.prepare("SELECT 1 FROM obu WHERE key = ? AND list_type = ?").pluck();
    // writes as `RETURNING 1` + pluck().get(): run() allocates a result object per call, get() of a
    // small integer allocates nothing, so a 100k delta leaves this thread's GC (and V8's helper threads,
    // which the lane thread's GC shares) idle
    const write = (sql: string): Database.Statement => db.prepare(`${sql} RETURNING 1`).pluck();
    const addedIns = write("INSERT INTO added VALUES (?, ?, ?)");
    // where the entries live: the overlay (user_version 3) or, for older lists, the main tables
    const cardT = overlay ? "card_delta" : "card";
    const obuT = overlay ? "obu_delta" : "obu";
    const cardPut = write(
      `INSERT OR REPLACE INTO ${cardT} VALUES (${layout === "key9" ? "?, ?, ?" : "?, ?, ?, ?"})`,
    );
    const obuPut = write(`INSERT OR REPLACE INTO ${obuT} VALUES (?, ?, ?)`);
    const cardDel = write(`DELETE FROM ${cardT} WHERE ${cardId} AND list_type = ?`);
    const obuDel = write(`DELETE FROM ${obuT} WHERE key = ? AND list_type = ?`);
    // overlay state of an entry: undefined (no overlay row), 1 (listed), 0 (tombstone)
    const cardOv = overlay
      ? db.prepare("SELECT reason IS NOT NULL FROM card_delta WHERE key = ? AND list_type = ?").pluck()
      : null;
    const obuOv = overlay
      ? db.prepare("SELECT reason IS NOT NULL FROM obu_delta WHERE key = ? AND list_type = ?").pluck()
      : null;
    let cards = meta.cards;
    let obus = meta.obus;
    let adds = 0;
    let removes = 0;
    const total = header.recordCount;
    const step = Math.max(1, Math.floor(total / 20));
    const run = db.transaction(() => {
      // re-read inside the write transaction: the authoritative version check
      const m = db.prepare("SELECT full_version, delta_version FROM meta WHERE id = 1").get() as MetaRow;
      checkNewer(header, { full: m.full_version, delta: m.delta_version });
      const reasonIds = new Map<number, number>();
      const reasonId = (idx: number): number => {
        let id = reasonIds.get(idx);
        if (id === undefined) {
          const text = reasons[idx] as string;
          id = findReason.get(text) as number | undefined;
          if (id === undefined) {
            newReason.run(text);
            id = findReason.get(text) as number;
          }
          reasonIds.set(idx, id);
        }
        return id;
      };
      const r: RawRecord = { kind: 0, op: 0, listType: 0, net: 0, reason: 0, hi32: 0, lo32: 0 };
      for (let i = 0; i < total; i++) {
        readRecord(records, i * RECORD_LEN, r);
        if (r.kind === 1) {
          setCardId(r);
          const ov = cardOv?.get(cardSel) as number | undefined;
          const inMain = ov === undefined || r.op !== OP_ADD ? cardHas.get(cardSel) !== undefined : false;
          const had = ov === undefined ? inMain : ov === 1;
          if (r.op === OP_ADD) {
            if (filter) addToFilter(filter, r);
            cardRow[idLen + 1] = reasonId(r.reason);
            cardPut.get(cardRow);
            addedIns.get(1, r.net, cardSerialValue(r.hi32, r.lo32));
            if (!had) cards++;
            adds++;
          } else {
            if (overlay && inMain) {
              cardRow[idLen + 1] = null; // tombstone over the main row
              cardPut.get(cardRow);
            } else if (overlay ? ov !== undefined : had) {
              cardDel.get(cardSel);
            }
            if (had) cards--;
            removes++;
          }
        } else {
          const k = obuKeyValue(r.hi32, r.lo32);
          const ov = obuOv?.get(k, r.listType) as number | undefined;
          const inMain =
            ov === undefined || r.op !== OP_ADD ? obuHas.get(k, r.listType) !== undefined : false;
          const had = ov === undefined ? inMain : ov === 1;
          if (r.op === OP_ADD) {
            if (filter) addToFilter(filter, r);
            obuPut.get(k, r.listType, reasonId(r.reason));
            addedIns.get(2, 0, k);
            if (!had) obus++;
            adds++;
          } else {
            if (overlay && inMain) obuPut.get(k, r.listType, null);
            else if (overlay ? ov !== undefined : had) obuDel.get(k, r.listType);
            if (had) obus--;
            removes++;
          }
        }
        if ((i + 1) % step === 0) onProgress({ phase: "delta", done: i + 1, total });
      }
      db.prepare(
        "UPDATE meta SET delta_version = ?, delta_created = ?, cards = ?, obus = ? WHERE id = 1",
      ).run(header.version, header.createdAt, cards, obus);
      db.prepare("INSERT INTO delta_log VALUES (?, ?, ?, ?, ?, ?)").run(
        header.version,
        header.base,
        header.createdAt,
        now,
        adds,
        removes,
      );
    });
    run.immediate();
    return {
      overlayRows: overlay ? overlayRows(db) : 0,
      version: header.version,
      base: header.base as string,
      createdAt: header.createdAt,
      adds,
      removes,
      cards,
      obus,
      ms: performance.now() - t0,
    };
  } finally {
    db.close();
  }
}

export interface CompactResult {
  /** overlay rows merged into the main tables by this call */
  merged: number;
  /** overlay rows left */
  left: number;
  ms: number;
}

/**
 * Merge up to `maxRows` overlay rows into the main tables, in key order, in one transaction: a listed
 * row replaces the main row, a tombstone deletes it, and the overlay row goes. A lookup reads the same
 * answer before and after (the overlay row and the main row it becomes say the same), so the lane needs
 * no new snapshot for correctness, only to let the WAL be checkpointed. Key order keeps neighbouring
 * rows in the same leaves; the cache calls this in small batches with pauses between them, so the
 * merge never floods the disk the way one big rewrite would.
 */
export function compactOverlay(dbPath: string, maxRows: number): CompactResult {
  const t0 = performance.now();
  const db = openWriter(dbPath);
  try {
    if (!hasOverlay(db)) return { merged: 0, left: 0, ms: performance.now() - t0 };
    let merged = 0;
    const write = (sql: string): Database.Statement => db.prepare(`${sql} RETURNING 1`).pluck();
    const tables = [
      {
        pick: db
          .prepare("SELECT key, list_type, reason FROM card_delta ORDER BY key, list_type LIMIT ?")
          .raw(true),
        put: write("INSERT OR REPLACE INTO card VALUES (?, ?, ?)"),
        del: write("DELETE FROM card WHERE key = ? AND list_type = ?"),
        drop: write("DELETE FROM card_delta WHERE key = ? AND list_type = ?"),
      },
      {
        pick: db
          .prepare("SELECT key, list_type, reason FROM obu_delta ORDER BY key, list_type LIMIT ?")
          .raw(true)
          .safeIntegers(true),
        put: write("INSERT OR REPLACE INTO obu VALUES (?, ?, ?)"),
        del: write("DELETE FROM obu WHERE key = ? AND list_type = ?"),
        drop: write("DELETE FROM obu_delta WHERE key = ? AND list_type = ?"),
      },
    ];
    db.transaction(() => {
      for (const t of tables) {
        if (merged >= maxRows) break;
        const rows = t.pick.all(maxRows - merged) as [Buffer | bigint, number, number | bigint | null][];
        for (const [key, listType, reason] of rows) {
          if (reason === null) t.del.get(key, listType);
          else t.put.get(key, listType, reason);
          t.drop.get(key, listType);
        }
        merged += rows.length;
      }
    }).immediate();
    return { merged, left: overlayRows(db), ms: performance.now() - t0 };
  } finally {
    db.close();
  }
}

/** A passive WAL checkpoint (never waits for or blocks readers); returns [busy, log frames, checkpointed]. */
export function checkpoint(dbPath: string): unknown {
  const db = openWriter(dbPath);
  try {
    return db.pragma("wal_checkpoint(PASSIVE)");
  } finally {
    db.close();
  }
}

/** Rebuild a filter from a database (when its filter file is missing or stale) and save it beside it. */
export function rebuildFilter(dir: string, dbName: string, fullVersion: string): BloomFilter {
  const db = new Database(join(dir, dbName), { readonly: true });
  try {
    const meta = db.prepare("SELECT cards, obus FROM meta WHERE id = 1").get() as MetaRow;
    const f = BloomFilter.create(meta.cards + meta.obus);
    if (cardLayout(db) === "key9") {
      for (const [key] of db.prepare("SELECT key FROM card").raw(true).iterate() as Iterable<[Buffer]>) {
        const { net, serial } = decodeCardKey(key);
        f.add(cardWordA(net), Number(serial / 100000000n), Number(serial % 100000000n));
      }
    } else {
      addCardRows(
        f,
        db.prepare("SELECT net, serial FROM card").safeIntegers(true).iterate() as Iterable<unknown[]>,
      );
    }
    for (const row of db.prepare("SELECT key FROM obu").raw(true).safeIntegers(true).iterate() as Iterable<
      [bigint]
    >) {
      addObuKey(f, row[0]);
    }
    f.save(join(dir, `${dbName}.filter`), { db: dbName, fullVersion });
    return f;
  } finally {
    db.close();
  }
}

function addCardRows(f: BloomFilter, rows: Iterable<unknown>): void {
  for (const row of rows) {
    const { net, serial } = row as { net: bigint; serial: bigint };
    f.add(cardWordA(Number(net)), Number(serial / 100000000n), Number(serial % 100000000n));
  }
}

function addObuKey(f: BloomFilter, key: bigint): void {
  const u = BigInt.asUintN(64, key) ^ (1n << 63n);
  f.add(OBU_WORD_A, Number(u >> 32n), Number(u & 0xffffffffn));
}

/** Re-add the keys deltas added since the full list (the saved filter holds the full list only). */
export function replayAdded(db: Database.Database, f: BloomFilter): number {
  let n = 0;
  for (const row of db
    .prepare("SELECT kind, net, key FROM added")
    .raw(true)
    .safeIntegers(true)
    .iterate() as Iterable<[bigint, bigint, bigint]>) {
    if (row[0] === 1n)
      f.add(cardWordA(Number(row[1])), Number(row[2] / 100000000n), Number(row[2] % 100000000n));
    else addObuKey(f, row[2]);
    n++;
  }
  return n;
}
