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
import { type BundleHeader, compareRecords, type RawRecord, recordProblem } from "./bundle.js";
import { BodyStream, type BundleSource, openAndCheck, recordError } from "./bundle-stream.js";
import { StatusListErrors, slError } from "./errors.js";
import { BloomFilter } from "./filter.js";
import { addToFilter } from "./filter-fill.js";
import { CARD_KEY_LEN, obuKeyValue, writeCardKey } from "./ids.js";
import { activeVersions, fsyncDir, fsyncFile, listDir, parsePointer, SCHEMA, writePointer } from "./store.js";
import type { Progress } from "./types.js";
import { checkNewer, checkNotAhead } from "./version-order.js";

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
 * A failure after the rename (the directory's fsync) throws too, but keeps the files `current` names.
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
  const { header, reader, trustedKeyId } = openAndCheck(src, publicKeyPem);
  let dbName = "";
  let db: Database.Database | null = null;
  try {
    if (header.kind !== "full")
      throw slError(StatusListErrors.Malformed, "expected a full list, got a delta");
    checkNotAhead(header, now);
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
    ).run(header.version, header.createdAt, cards, obus, now, trustedKeyId);
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
    checkNewer(header, activeVersions(dir, trustedKeyId));
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
  } finally {
    reader.close();
  }
}
