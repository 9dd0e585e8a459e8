/**
 * The delta job (worker thread): verify a delta completely (signature, digest, every record), then apply
 * it to the live database's overlay in one write transaction, with the version check repeated inside it
 * and the filter bits of added keys set before the commit. The lane thread renews its snapshot after it
 * (lifecycle.ts).
 */
import type Database from "better-sqlite3";
import { OP_ADD, type RawRecord, RECORD_LEN, readRecord, recordProblem } from "./bundle.js";
import { BodyStream, type BundleSource, openAndCheck, recordError } from "./bundle-stream.js";
import { StatusListErrors, slError } from "./errors.js";
import type { BloomFilter } from "./filter.js";
import { addToFilter } from "./filter-fill.js";
import { CARD_KEY_LEN, cardSerialValue, obuKeyValue, writeCardKey } from "./ids.js";
import { cardIdCondition, cardLayout, hasOverlay, type MetaRow, openWriter, overlayRows } from "./store.js";
import type { Progress } from "./types.js";
import { checkNewer, checkNotAhead } from "./version-order.js";

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
  ms: number;
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
  const { header, reader, trustedKeyId } = openAndCheck(src, publicKeyPem);
  // the verified records, kept as their 16 bytes (one buffer, not one object each: a 100k delta would
  // otherwise make this thread's GC, and V8's helper threads, compete with the lane thread for the CPU)
  let records: Buffer;
  let reasons: string[];
  try {
    if (header.kind !== "delta")
      throw slError(StatusListErrors.Malformed, "expected a delta, got a full list");
    checkNotAhead(header, now);
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
    if (meta.key_id !== trustedKeyId)
      throw slError(
        StatusListErrors.NoFullList,
        `the list on disk (full ${meta.full_version}) was signed by key ${meta.key_id}, not by the station key ` +
          `this lane trusts (${trustedKeyId}): no delta applies to it; a full list replaces it`,
        { keyId: meta.key_id, trusted: trustedKeyId },
      );
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
      appliedAt: now,
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
