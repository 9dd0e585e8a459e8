/**
 * StatusListCache: the lane's status list (blacklist). Synchronous lookups on the hot path; full lists
 * and deltas are verified and applied in worker threads, so lookups never wait on them.
 *
 *   const cache = await StatusListCache.open({ dataDir, publicKeyPem });
 *   cache.lookup({ cardId, obuId })          // sync: listed?, entry, versions judged against, staleness
 *   await cache.applyBundle(pathOrBytes)     // full (new file + atomic swap) or delta (one transaction)
 */

import { randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { BehaviorSubject, type Observable } from "rxjs";
import { isEtcError } from "../../firmware-bridge/errors.js";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { loadPublicKey } from "./bundle.js";
import { StatusListErrors, slError } from "./errors.js";
import { BloomFilter } from "./filter.js";
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
import { type RunningJob, runJob } from "./run-worker.js";
import {
  type BuildResult,
  type BundleSource,
  type CardLayout,
  type CompactResult,
  cardIdCondition,
  cardLayout,
  cleanStale,
  type DeltaResult,
  hasOverlay,
  listDir,
  type MetaRow,
  migrateToOverlay,
  overlayRows,
  type Progress,
  readPointer,
  replayAdded,
} from "./store.js";

export const LIST_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: "status",
  2: "arrears",
  3: "green-channel",
  4: "emergency-rescue",
  5: "two-passenger-one-hazard",
  6: "other",
};

export function listTypeName(t: number): string {
  return LIST_TYPE_NAMES[t] ?? `type-${t}`;
}

export interface StatusListLimits {
  /** age of the full list (from its issue time) past which the alarm is raised; default 48 h */
  fullMaxAgeMs: number;
  /** age of the newest delta (or of the full list when no delta yet) past which the alarm is raised; 30 min */
  deltaMaxAgeMs: number;
}

export const DEFAULT_LIMITS: StatusListLimits = { fullMaxAgeMs: 48 * 3600_000, deltaMaxAgeMs: 30 * 60_000 };

export interface StalenessState {
  alarm: boolean;
  fullAgeMs: number | null;
  deltaAgeMs: number | null;
  reasons: string[];
}

export interface ListVersions {
  full: string | null;
  delta: string | null;
}

export interface StatusEntry {
  kind: "card" | "obu";
  id: string;
  listType: number;
  listTypeName: string;
  reason: string;
}

export interface StatusLookupResult {
  listed: boolean;
  /** the first match: card before OBU, lowest list type first */
  entry?: StatusEntry;
  /** every match (an id can be on several lists) */
  entries: StatusEntry[];
  /** the list versions this answer was judged against */
  versions: ListVersions;
  stale: StalenessState;
}

export interface ApplyResult {
  kind: "full" | "delta";
  version: string;
  base: string | null;
  adds: number;
  removes: number;
  cards: number;
  obus: number;
  ms: number;
  versions: ListVersions;
}

export interface ApplyOptions {
  onProgress?: (p: Progress) => void;
}

export interface StatusListInfo {
  dir: string;
  db: string | null;
  fileBytes: number;
  versions: ListVersions;
  fullCreatedAt: string | null;
  deltaCreatedAt: string | null;
  importedAt: string | null;
  counts: { cards: number; obus: number; total: number };
  /** the delta overlay: entries deltas changed since the full list, and whether a merge is running */
  overlay: { enabled: boolean; rows: number; merging: boolean };
  filter: { loaded: boolean; bytes: number };
  staleness: StalenessState;
  limits: StatusListLimits;
  recentDeltas: { version: string; base: string; adds: number; removes: number; appliedAt: string }[];
}

export interface StatusListOpenOptions {
  dataDir: string;
  publicKeyPem: string | Buffer;
  logger?: Logger;
  limits?: Partial<StatusListLimits>;
  /** clock, ms since the epoch (tests) */
  now?: () => number;
  /**
   * Delete leftovers of crashed builds on open (default true). Read-only tools that may run beside the
   * lane process (CLI lookup/info) pass false.
   */
  cleanup?: boolean;
  /** when and how the delta overlay is merged into the main tables (see OverlayCompaction) */
  compaction?: Partial<OverlayCompaction>;
}

/**
 * Deltas accumulate in an overlay (store.ts) until the next full list replaces the database. Should the
 * overlay grow past `maxRows` (full lists stopped coming, deltas did not), the worker merges it into the
 * main tables, `batchRows` rows per transaction in key order, one transaction every `pauseMs`, so the
 * disk never sees one big rewrite while lookups read from it.
 */
export interface OverlayCompaction {
  maxRows: number;
  batchRows: number;
  pauseMs: number;
}

export const DEFAULT_COMPACTION: OverlayCompaction = { maxRows: 1_000_000, batchRows: 2000, pauseMs: 1000 };

interface Active {
  name: string;
  db: Database.Database;
  card: Database.Statement;
  obu: Database.Statement;
  both: Database.Statement;
  /** every match of one id, a row (list type, reason id) each (ids on more than one list) */
  cardAll: Database.Statement;
  obuAll: Database.Statement;
  reasons: Map<number, string>;
  reasonById: Database.Statement;
  layout: CardLayout;
  /** { full, delta } as one frozen object, shared by the results judged against them */
  versions: ListVersions;
  /** deltas live in the overlay tables (store.ts hasOverlay) */
  overlay: boolean;
  /** rows in the overlay, as of the last open, delta or compaction */
  overlayRows: number;
  filter: BloomFilter | null;
  full: string;
  fullCreated: number;
  delta: string | null;
  deltaCreated: number | null;
  cards: number;
  obus: number;
}

/** Shared, frozen parts of lookup results (a result for a miss allocates only its own object). */
const NO_ENTRIES = Object.freeze([]) as unknown as StatusEntry[];
const NO_VERSIONS: ListVersions = Object.freeze({ full: null, delta: null });
const STALE_REUSE_MS = 1000;

/** Packing of one id's matches into one integer: count * 2^41 + (list type * 2^32 + reason id) of the first. */
const PACK_TYPE = 2 ** 32;
const PACK_COUNT = 2 ** 41;

/**
 * One single-row statement per query shape: the versions and the matches in one snapshot. Reason texts
 * come from an in-memory map of the small reason table. A single-row `get` costs about half of a
 * multi-row `all` in better-sqlite3.
 *
 * The matches of an id come back as one integer, `count(*)` and `min(list type, reason)` packed
 * (PACK_*), not as a `group_concat` string: an aggregate of integers runs without one malloc, while
 * group_concat grows its buffer with realloc. That mattered: `perf` caught the lane thread asleep in
 * glibc's realloc, waiting for the malloc arena lock held by the delta worker (nice 19) while it was
 * preempted, for 1-5 ms. An id on more than one list (1% of the synthetic list's cards) is read again,
 * one row per list (the `*All` statements, no ORDER BY: a sorter allocates), in the same pinned snapshot.
 */
function lookupSql(
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

function hours(ms: number): string {
  return ms >= 3600_000 ? `${(ms / 3600_000).toFixed(1)} h` : `${Math.round(ms / 60_000)} min`;
}

function validateLimits(l: StatusListLimits): StatusListLimits {
  for (const [k, v] of Object.entries(l)) {
    if (!(typeof v === "number" && Number.isFinite(v) && v > 0)) {
      throw slError(
        StatusListErrors.Store,
        `statusList limits.${k} must be a positive number of ms, got ${v}`,
      );
    }
  }
  return l;
}

export class StatusListCache {
  private active: Active | null = null;
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();
  private running: RunningJob<unknown> | null = null;
  private readonly subject: BehaviorSubject<StalenessState>;
  private timer: NodeJS.Timeout | null = null;
  private filterPromise: Promise<void> = Promise.resolve();
  private readonly publicKeyPem: string;
  private staleCache: {
    at: number;
    a: Active | null;
    deltaCreated: number | null;
    state: StalenessState;
  } | null = null;
  private compacting = false;
  private compactTimer: NodeJS.Timeout | null = null;
  private compactDone: Promise<void> = Promise.resolve();
  private compactEnd: () => void = () => undefined;
  /** the card key of the lookup in progress (SQLite reads a bound blob during the statement) */
  private readonly keyScratch = Buffer.alloc(CARD_KEY_LEN);

  /** Emits the staleness state now and whenever the alarm or its reasons change. */
  readonly staleness$: Observable<StalenessState>;

  private constructor(
    readonly dir: string,
    publicKeyPem: string,
    private readonly log: Logger,
    readonly limits: StatusListLimits,
    private readonly now: () => number,
    /** this process owns the directory (the lane, an import): it may clean up and migrate */
    private readonly owner: boolean,
    readonly compaction: OverlayCompaction,
  ) {
    this.publicKeyPem = publicKeyPem;
    this.subject = new BehaviorSubject<StalenessState>(this.computeStaleness());
    this.staleness$ = this.subject.asObservable();
  }

  static async open(opts: StatusListOpenOptions): Promise<StatusListCache> {
    const pem =
      typeof opts.publicKeyPem === "string" ? opts.publicKeyPem : opts.publicKeyPem.toString("utf8");
    loadPublicKey(pem); // fail early on a bad key
    const limits = validateLimits({ ...DEFAULT_LIMITS, ...opts.limits });
    const log = (opts.logger ?? silentLogger).child({ module: "status-list" });
    const dir = listDir(opts.dataDir);
    const compaction = { ...DEFAULT_COMPACTION, ...opts.compaction };
    for (const [k, v] of Object.entries(compaction)) {
      if (!(Number.isInteger(v) && v >= (k === "pauseMs" ? 0 : 1)))
        throw slError(
          StatusListErrors.Store,
          `statusList compaction.${k} must be a whole number >= ${k === "pauseMs" ? 0 : 1}, got ${v}`,
        );
    }
    const cache = new StatusListCache(
      dir,
      pem,
      log,
      limits,
      opts.now ?? Date.now,
      opts.cleanup !== false,
      compaction,
    );
    const pointer = existsSync(dir) ? readPointer(dir) : null;
    if (existsSync(dir) && opts.cleanup !== false) {
      const removed = cleanStale(dir, pointer?.db ?? null);
      if (removed.length) log.warn({ removed }, "removed leftovers of an interrupted status-list build");
    }
    if (cache.owner) {
      // start the worker thread now, not at the first delta: its start-up (a V8 isolate, the modules)
      // takes both cores for a moment, which belongs to the lane's start, not to the middle of traffic.
      // Not awaited: the lane's open (and a restart's recovery) does not wait for it.
      runJob<boolean>({ type: "ready" }).result.catch((e: unknown) => {
        // lookups do not need the worker; an update will retry it and fail with the reason
        log.error({ err: e }, "status-list worker did not start; updates will try again");
      });
    }
    if (pointer) {
      cache.activate(pointer.db, null);
      log.info({ db: pointer.db, versions: cache.versions() }, "status list opened");
    } else {
      log.warn(
        "no status list is active yet: every lookup answers not listed, with the staleness alarm raised",
      );
    }
    cache.refreshStaleness();
    return cache;
  }

  /** Open a database file and make it active; the filter comes from the build, its file, or a rebuild. */
  private activate(name: string, built: BuildResult["filter"] | null): void {
    const path = join(this.dir, name);
    const db = new Database(path, { fileMustExist: true });
    try {
      db.pragma("journal_mode = WAL");
      // a list built before the overlay gets its (empty) overlay tables; read-only tools leave it alone
      if (this.owner && migrateToOverlay(db))
        this.log.info({ db: name }, "status-list database given its delta overlay tables");
      db.pragma("query_only = 1");
      // 4 MB: every interior b-tree page of a 30M list (about 3 MB) plus some leaves; leaves are hit at
      // random, so a bigger cache barely raises the hit rate, but every delta's snapshot renewal empties
      // the cache on the lane thread: 16 MB took 630-750 us to drop, 4 MB 200 us (measured at 30M)
      db.pragma("cache_size = -4096");
      const meta = db.prepare("SELECT * FROM meta WHERE id = 1").get() as MetaRow | undefined;
      if (!meta) throw slError(StatusListErrors.Store, `status-list database ${name} has no meta row`);
      let filter: BloomFilter | null = built ? new BloomFilter(built.buffer, built.log2Bits) : null;
      if (!filter) {
        filter = BloomFilter.load(`${path}.filter`, { db: name, fullVersion: meta.full_version });
        if (filter) replayAdded(db, filter);
      }
      // Lookups run inside one long read transaction (a pinned WAL snapshot), renewed after every delta:
      // a WAL read transaction per lookup costs two fcntl lock syscalls, about half a warm lookup.
      beginSnapshot(db);
      const old = this.active;
      const layout = cardLayout(db);
      if (layout !== "key9")
        this.log.warn(
          { db: name },
          "status-list database has the older card layout (net, serial): still served",
        );
      const overlay = hasOverlay(db);
      const sql = lookupSql(layout, overlay);
      this.active = {
        name,
        db,
        card: db.prepare(sql.card).raw(true),
        obu: db.prepare(sql.obu).raw(true),
        both: db.prepare(sql.both).raw(true),
        cardAll: db.prepare(sql.cardAll).raw(true),
        obuAll: db.prepare(sql.obuAll).raw(true),
        reasons: loadReasons(db),
        reasonById: db.prepare("SELECT text FROM reason WHERE id = ?").pluck(),
        layout,
        versions: Object.freeze({ full: meta.full_version, delta: meta.delta_version }),
        overlay,
        overlayRows: overlayRows(db),
        filter,
        full: meta.full_version,
        fullCreated: meta.full_created,
        delta: meta.delta_version,
        deltaCreated: meta.delta_created,
        cards: meta.cards,
        obus: meta.obus,
      };
      if (old) {
        old.db.close();
        for (const s of ["", "-wal", "-shm", ".filter"]) {
          rm(join(this.dir, old.name + s), { force: true }).catch((e: unknown) =>
            this.log.warn({ err: e }, "could not delete the previous status-list file"),
          );
        }
      }
      if (!filter) this.startFilterRebuild();
      this.compactIfDue(this.active as Active);
    } catch (e) {
      if (db.open) db.close();
      throw e;
    }
  }

  private startFilterRebuild(): void {
    const a = this.active;
    if (!a) return;
    this.log.warn(
      { db: a.name },
      "status-list filter missing or stale: rebuilding (lookups query SQLite meanwhile)",
    );
    this.filterPromise = this.enqueue(async () => {
      const job = runJob<{ buffer: SharedArrayBuffer; log2Bits: number }>({
        type: "filter",
        dir: this.dir,
        dbName: a.name,
        fullVersion: a.full,
      });
      const r = await this.track(job);
      if (this.active === a) {
        const f = new BloomFilter(r.buffer, r.log2Bits);
        replayAdded(a.db, f);
        a.filter = f;
        this.log.info({ db: a.name, bytes: f.bytes }, "status-list filter rebuilt");
      }
    }).catch((e: unknown) => {
      if (!this.closed)
        this.log.error({ err: e }, "status-list filter rebuild failed; lookups keep querying SQLite");
    });
  }

  /**
   * After a delta the WAL holds its pages; once the lane's snapshot has moved past them, a passive
   * checkpoint in the worker copies them into the database (never blocking a reader).
   */
  private checkpointSoon(a: Active): void {
    this.enqueue(async () => {
      if (this.active !== a || this.closed) return;
      await this.track(runJob<unknown>({ type: "checkpoint", dbPath: join(this.dir, a.name) }));
      // a snapshot begun on a fully checkpointed WAL reads the database file only, which lets the next
      // delta restart the WAL from its start instead of appending to it for ever
      if (this.active === a && !this.closed) renewSnapshot(a.db);
    }).catch((e: unknown) => {
      if (!this.closed)
        this.log.warn({ err: e }, "status-list WAL checkpoint failed (retried after the next delta)");
    });
  }

  /**
   * Start merging the overlay into the main tables when it has grown past `compaction.maxRows`; it runs
   * in batches until the overlay is empty (see OverlayCompaction). Only the owner compacts.
   */
  private compactIfDue(a: Active): void {
    if (!this.owner || this.compacting || !a.overlay || a.overlayRows <= this.compaction.maxRows) return;
    this.compacting = true;
    this.compactDone = new Promise((resolve) => {
      this.compactEnd = resolve;
    });
    const finish = (): void => {
      this.compacting = false;
      this.compactEnd();
    };
    this.log.info(
      { db: a.name, overlayRows: a.overlayRows, batchRows: this.compaction.batchRows },
      "status-list overlay past its limit: merging it into the main tables in batches",
    );
    const t0 = this.now();
    let merged = 0;
    const step = (): void => {
      this.compactTimer = null;
      this.enqueue(async () => {
        if (this.active !== a || this.closed) return null;
        const r = await this.track(
          runJob<CompactResult>({
            type: "compact",
            dbPath: join(this.dir, a.name),
            maxRows: this.compaction.batchRows,
          }),
        );
        return r;
      })
        .then((r) => {
          if (r === null || this.active !== a || this.closed) {
            finish();
            return;
          }
          merged += r.merged;
          a.overlayRows = r.left;
          this.checkpointSoon(a); // lets the lane's snapshot move on and the WAL restart
          if (r.left > 0 && r.merged > 0) {
            this.compactTimer = setTimeout(step, this.compaction.pauseMs);
            this.compactTimer.unref();
          } else {
            finish();
            this.log.info(
              { db: a.name, merged, seconds: Math.round((this.now() - t0) / 1000) },
              "status-list overlay merged",
            );
          }
        })
        .catch((e: unknown) => {
          finish();
          if (!this.closed)
            this.log.warn({ err: e }, "status-list overlay merge failed (tried again after the next delta)");
        });
    };
    step();
  }

  /** Resolves when the overlay merge in progress (if any) has ended. */
  compactionIdle(): Promise<void> {
    return this.compactDone;
  }

  /** Resolves when the in-memory filter is in place (after open or a rebuild). */
  filterReady(): Promise<void> {
    return this.filterPromise;
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async track<T>(job: RunningJob<T>): Promise<T> {
    this.running = job as RunningJob<unknown>;
    try {
      return await job.result;
    } finally {
      this.running = null;
    }
  }

  /**
   * Is this card or OBU listed? Synchronous; answers from the in-memory filter when it rules both ids
   * out, else from one SQLite statement (one snapshot, so the versions match the data judged).
   */
  lookup(q: { cardId?: string; obuId?: string }): StatusLookupResult {
    if (this.closed) throw slError(StatusListErrors.Closed, "status-list cache is closed");
    if (q.cardId === undefined && q.obuId === undefined) {
      throw slError(StatusListErrors.IdInvalid, "status-list lookup needs a card id or an OBU id");
    }
    const card = q.cardId === undefined ? null : parseCardId(q.cardId);
    const obu = q.obuId === undefined ? null : parseObuId(q.obuId);
    const a = this.active;
    if (!a)
      return { listed: false, entries: NO_ENTRIES, versions: NO_VERSIONS, stale: this.lookupStaleness() };
    const f = a.filter;
    const cardMaybe = card !== null && (f === null || f.mayContain(cardWordA(card.net), card.hi8, card.lo8));
    const obuMaybe = obu !== null && (f === null || f.mayContain(OBU_WORD_A, obu.hi32, obu.lo32));
    if (!cardMaybe && !obuMaybe) {
      // nearly every vehicle: one new object, the rest shared and frozen (less for the lane's GC)
      return { listed: false, entries: NO_ENTRIES, versions: a.versions, stale: this.lookupStaleness() };
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
    const row = (
      cardMaybe && obuMaybe
        ? a.both.get([...cardArgs, ...obuArgs])
        : cardMaybe
          ? a.card.get(cardArgs)
          : a.obu.get(obuArgs)
    ) as [string, string | null, number | null, number | null];
    const versions: ListVersions =
      row[0] === a.full && row[1] === a.delta ? a.versions : { full: row[0], delta: row[1] };
    const entries: StatusEntry[] = [];
    if (row[2] !== null) this.addPacked(entries, a, "card", q.cardId as string, row[2], a.cardAll, cardArgs);
    if (row[3] !== null)
      this.addPacked(entries, a, "obu", canonicalObuId(q.obuId as string), row[3], a.obuAll, obuArgs);
    const res: StatusLookupResult = {
      listed: entries.length > 0,
      entries: entries.length > 0 ? entries : NO_ENTRIES,
      versions,
      stale: this.lookupStaleness(),
    };
    if (entries[0]) res.entry = entries[0];
    return res;
  }

  /** One id's packed matches (lookupSql): the one entry, or, when it is on several lists, all of them. */
  private addPacked(
    out: StatusEntry[],
    a: Active,
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

  private reasonText(a: Active, reasonId: number): string {
    let reason = a.reasons.get(reasonId);
    if (reason === undefined) {
      // a reason added by a delta committed a moment ago
      reason = (a.reasonById.get(reasonId) as string | undefined) ?? "";
      a.reasons.set(reasonId, reason);
    }
    return reason;
  }

  versions(): ListVersions {
    const a = this.active;
    return { full: a?.full ?? null, delta: a?.delta ?? null };
  }

  staleness(): StalenessState {
    return this.computeStaleness();
  }

  /** Subscribe to staleness changes (the current state is delivered at once); returns an unsubscribe. */
  onStalenessChange(cb: (s: StalenessState) => void): () => void {
    const sub = this.subject.subscribe(cb);
    return () => sub.unsubscribe();
  }

  /**
   * The staleness state for a lookup result: recomputed at most once per STALE_REUSE_MS (and whenever the
   * list or its latest delta changed), shared and frozen in between, so a lookup allocates one object
   * instead of two. Ages in a result are therefore up to a second old; `staleness()` and `staleness$` are
   * exact.
   */
  private lookupStaleness(): StalenessState {
    const now = this.now();
    const a = this.active;
    const c = this.staleCache;
    if (
      c !== null &&
      c.a === a &&
      c.deltaCreated === (a?.deltaCreated ?? null) &&
      now >= c.at &&
      now - c.at < STALE_REUSE_MS
    )
      return c.state;
    const st = this.computeStaleness();
    Object.freeze(st.reasons);
    const state = Object.freeze(st);
    this.staleCache = { at: now, a, deltaCreated: a?.deltaCreated ?? null, state };
    return state;
  }

  private computeStaleness(): StalenessState {
    const a = this.active;
    if (!a) return { alarm: true, fullAgeMs: null, deltaAgeMs: null, reasons: ["no status list loaded"] };
    const now = this.now();
    const fullAgeMs = now - a.fullCreated;
    const deltaAgeMs = now - (a.deltaCreated ?? a.fullCreated);
    const reasons: string[] = [];
    if (fullAgeMs > this.limits.fullMaxAgeMs) {
      reasons.push(
        `full list ${a.full} is ${hours(fullAgeMs)} old (limit ${hours(this.limits.fullMaxAgeMs)})`,
      );
    }
    if (deltaAgeMs > this.limits.deltaMaxAgeMs) {
      const what = a.delta ? `last delta ${a.delta}` : `no delta since full list ${a.full}, which`;
      reasons.push(`${what} is ${hours(deltaAgeMs)} old (limit ${hours(this.limits.deltaMaxAgeMs)})`);
    }
    return { alarm: reasons.length > 0, fullAgeMs, deltaAgeMs, reasons };
  }

  /** Re-evaluate, emit on change, and arm a timer for the next limit crossing. */
  private refreshStaleness(): void {
    if (this.closed) return;
    const s = this.computeStaleness();
    const prev = this.subject.getValue();
    if (
      prev.alarm !== s.alarm ||
      prev.reasons.length !== s.reasons.length ||
      prev.reasons.some((r, i) => r.split(" is ")[0] !== s.reasons[i]?.split(" is ")[0])
    ) {
      if (s.alarm)
        this.log.warn({ reasons: s.reasons }, "status list stale: lane keeps trading on the last good list");
      else if (prev.alarm) this.log.info("status list fresh again");
      this.subject.next(s);
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const a = this.active;
    if (!a) return;
    const now = this.now();
    const due = [
      a.fullCreated + this.limits.fullMaxAgeMs,
      (a.deltaCreated ?? a.fullCreated) + this.limits.deltaMaxAgeMs,
    ]
      .filter((t) => t >= now)
      .sort((x, y) => x - y)[0];
    if (due !== undefined) {
      this.timer = setTimeout(() => this.refreshStaleness(), Math.min(due - now + 1, 2 ** 31 - 1));
      this.timer.unref();
    }
  }

  /**
   * Verify and apply a signed bundle (a file path or its bytes). A full list is built into a new
   * database and swapped in; a delta is applied in one transaction; both off the lane thread. Rejections
   * (EtcError, code E50x) leave the active list exactly as it was. Calls are serialised.
   */
  applyBundle(input: Buffer | Uint8Array | string, opts: ApplyOptions = {}): Promise<ApplyResult> {
    if (this.closed) return Promise.reject(slError(StatusListErrors.Closed, "status-list cache is closed"));
    const src: BundleSource = typeof input === "string" ? { path: input } : { bytes: input };
    return this.enqueue(() => this.applyNow(src, opts));
  }

  private async applyNow(given: BundleSource, opts: ApplyOptions): Promise<ApplyResult> {
    if (this.closed) throw slError(StatusListErrors.Closed, "status-list cache is closed");
    const kind = peekKind(given);
    // Bytes above a few hundred KB go to the worker through a file, written by libuv's thread pool
    // straight from the caller's memory: posting them would copy them on this thread (structured clone,
    // measured: 0.6 ms for a 100k-entry delta, 350 ms for a 30M full list of 480 MB).
    let incoming: string | null = null;
    let src = given;
    if ("bytes" in given && given.bytes.byteLength >= INCOMING_FILE_MIN) {
      incoming = join(this.dir, `incoming-${randomBytes(4).toString("hex")}.bundle`);
      await mkdir(this.dir, { recursive: true });
      await writeFile(incoming, given.bytes);
      src = { path: incoming };
    }
    try {
      return await this.applyChecked(kind, src, opts);
    } finally {
      if (incoming) await rm(incoming, { force: true });
    }
  }

  private async applyChecked(
    kind: "full" | "delta",
    src: BundleSource,
    opts: ApplyOptions,
  ): Promise<ApplyResult> {
    let lastDecile = -1;
    const onProgress = (p: Progress): void => {
      opts.onProgress?.(p);
      const decile = p.total > 0 ? Math.floor((10 * p.done) / p.total) : 10;
      if (decile !== lastDecile) {
        lastDecile = decile;
        this.log.info(
          { phase: p.phase, done: p.done, total: p.total },
          `status-list ${p.phase} ${decile * 10}%`,
        );
      }
    };
    try {
      if (kind === "delta") {
        const a = this.active;
        if (!a)
          throw slError(StatusListErrors.NoFullList, "delta refused: no full list is active to apply it to");
        const job = runJob<DeltaResult>(
          {
            type: "delta",
            dbPath: join(this.dir, a.name),
            src,
            publicKeyPem: this.publicKeyPem,
            filter: a.filter ? { buffer: a.filter.buffer, log2Bits: a.filter.log2Bits } : null,
            now: this.now(),
          },
          onProgress,
        );
        const r = await this.track(job);
        a.delta = r.version;
        a.versions = Object.freeze({ full: a.full, delta: r.version });
        a.deltaCreated = r.createdAt;
        renewSnapshot(a.db);
        // no reload of the reason table here: a delta only appends reasons (ids never change), and a
        // lookup fetches an id it does not know yet (addEntries); this thread does as little as it can
        this.checkpointSoon(a);
        a.cards = r.cards;
        a.obus = r.obus;
        a.overlayRows = r.overlayRows;
        this.compactIfDue(a);
        this.refreshStaleness();
        this.log.info(
          { version: r.version, adds: r.adds, removes: r.removes, ms: Math.round(r.ms) },
          "status-list delta applied",
        );
        return {
          kind,
          version: r.version,
          base: r.base,
          adds: r.adds,
          removes: r.removes,
          cards: r.cards,
          obus: r.obus,
          ms: r.ms,
          versions: this.versions(),
        };
      }
      const job = runJob<BuildResult>(
        {
          type: "full",
          dataDir: join(this.dir, ".."),
          src,
          publicKeyPem: this.publicKeyPem,
          current: this.versions(),
          now: this.now(),
        },
        onProgress,
      );
      const r = await this.track(job);
      if (this.closed) throw slError(StatusListErrors.Closed, "status-list cache closed during the import");
      this.activate(r.db, r.filter);
      this.refreshStaleness();
      this.log.info(
        { version: r.header.version, cards: r.cards, obus: r.obus, ms: Math.round(r.ms) },
        "status-list full list active",
      );
      return {
        kind,
        version: r.header.version,
        base: null,
        adds: r.cards + r.obus,
        removes: 0,
        cards: r.cards,
        obus: r.obus,
        ms: r.ms,
        versions: this.versions(),
      };
    } catch (e) {
      if (isEtcError(e)) this.log.warn({ code: e.code }, e.message);
      throw e;
    }
  }

  info(): StatusListInfo {
    const a = this.active;
    const st = this.computeStaleness();
    const iso = (t: number | null | undefined): string | null =>
      t == null ? null : new Date(t).toISOString();
    let fileBytes = 0;
    let meta: MetaRow | undefined;
    let recent: StatusListInfo["recentDeltas"] = [];
    if (a) {
      for (const s of ["", "-wal"]) {
        try {
          fileBytes += statSync(join(this.dir, a.name + s)).size;
        } catch {
          // no WAL file right now
        }
      }
      meta = a.db.prepare("SELECT * FROM meta WHERE id = 1").get() as MetaRow;
      recent = (
        a.db
          .prepare(
            "SELECT version, base, adds, removes, applied_at FROM delta_log ORDER BY version DESC LIMIT 5",
          )
          .all() as { version: string; base: string; adds: number; removes: number; applied_at: number }[]
      ).map((d) => ({
        version: d.version,
        base: d.base,
        adds: d.adds,
        removes: d.removes,
        appliedAt: iso(d.applied_at) as string,
      }));
    }
    const cards = meta?.cards ?? 0;
    const obus = meta?.obus ?? 0;
    return {
      dir: this.dir,
      db: a?.name ?? null,
      fileBytes,
      versions: { full: meta?.full_version ?? null, delta: meta?.delta_version ?? null },
      fullCreatedAt: iso(meta?.full_created),
      deltaCreatedAt: iso(meta?.delta_created),
      importedAt: iso(meta?.imported_at),
      counts: { cards, obus, total: cards + obus },
      overlay: { enabled: a?.overlay ?? false, rows: a?.overlayRows ?? 0, merging: this.compacting },
      filter: { loaded: a?.filter != null, bytes: a?.filter?.bytes ?? 0 },
      staleness: st,
      limits: this.limits,
      recentDeltas: recent,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.compactTimer) clearTimeout(this.compactTimer);
    if (this.compacting) {
      this.compacting = false;
      this.compactEnd();
    }
    await this.running?.terminate();
    await this.queue;
    this.active?.db.close();
    this.active = null;
    this.subject.complete();
  }
}

/** Bundles given as bytes from this size on reach the worker through a file, not a message copy. */
const INCOMING_FILE_MIN = 256 * 1024;

function beginSnapshot(db: Database.Database): void {
  db.exec("BEGIN");
  db.prepare("SELECT full_version FROM meta WHERE id = 1").get(); // takes the read lock: pins the snapshot
}

function renewSnapshot(db: Database.Database): void {
  if (db.inTransaction) db.exec("COMMIT");
  beginSnapshot(db);
}

function loadReasons(db: Database.Database): Map<number, string> {
  const m = new Map<number, string>();
  for (const [id, text] of db.prepare("SELECT id, text FROM reason").raw(true).all() as [number, string][])
    m.set(id, text);
  return m;
}

function peekKind(src: BundleSource): "full" | "delta" {
  let b: Buffer;
  if ("bytes" in src)
    b = Buffer.from(src.bytes.buffer, src.bytes.byteOffset, Math.min(10, src.bytes.byteLength));
  else {
    b = Buffer.alloc(10);
    let fd: number;
    try {
      fd = openSync(src.path, "r");
    } catch (e) {
      throw slError(
        StatusListErrors.Store,
        `cannot read status-list bundle ${src.path}: ${(e as Error).message}`,
      );
    }
    try {
      b = b.subarray(0, readSync(fd, b, 0, 10, 0));
    } finally {
      closeSync(fd);
    }
  }
  return b.length >= 10 && b[9] === 2 ? "delta" : "full";
}

/** Where the lane's data dir and station key come from (CLI options now, a lane config file later). */
export async function openStatusListFromOptions(opts: {
  dataDir: string;
  publicKeyPath: string;
  logger?: Logger;
  limits?: Partial<StatusListLimits>;
  cleanup?: boolean;
}): Promise<StatusListCache> {
  let pem: Buffer;
  try {
    pem = readFileSync(opts.publicKeyPath);
  } catch (e) {
    throw slError(
      StatusListErrors.Key,
      `cannot read the status-list public key ${opts.publicKeyPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  return StatusListCache.open({
    dataDir: opts.dataDir,
    publicKeyPem: pem,
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(opts.limits ? { limits: opts.limits } : {}),
    ...(opts.cleanup !== undefined ? { cleanup: opts.cleanup } : {}),
  });
}
