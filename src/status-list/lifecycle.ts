/**
 * The life cycle of the active list on the lane thread: open (leftover cleanup, the worker started early,
 * the list `current` names), activation and swap (a new database, its statements and filter in one
 * assignment; the old one closed and deleted), what follows a delta or a merge batch (snapshot renewal,
 * WAL checkpoint). The filter load and its retry are filter-load.ts, the overlay merge schedule is
 * overlay-merge.ts, the one queue that serialises every worker job job-queue.ts. One process
 * writes a data directory (src/datadir/lock.ts); only that owner cleans up, migrates, compacts and loads or
 * rebuilds the filter (a read-only tool answers from SQLite). The jobs themselves run in the worker
 * (worker.ts); lookups are lookup.ts.
 */
import { accessSync, constants, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { isEtcError } from "../../firmware-bridge/errors.js";
import type { Logger } from "../../firmware-bridge/log.js";
import { openForReading, UnwritableDirectoryError, UnwritableFileError } from "../journal/read-connection.js";
import type { DeltaResult } from "./delta-apply.js";
import { StatusListErrors, slError } from "./errors.js";
import { BloomFilter } from "./filter.js";
import { FilterLoader } from "./filter-load.js";
import type { BuildResult } from "./full-build.js";
import { JobQueue } from "./job-queue.js";
import { type ActiveList, beginSnapshot, prepareLookups, renewSnapshot } from "./lookup.js";
import { OverlayMergeSchedule } from "./overlay-merge.js";
import { type RunningJob, runJob } from "./run-worker.js";
import {
  cardLayout,
  cleanStale,
  hasOverlay,
  type MetaRow,
  migrateToOverlay,
  overlayRows,
  type Pointer,
  parsePointer,
  readPointer,
  writePointer,
} from "./store.js";
import type { OverlayCompaction } from "./types.js";

/**
 * What ListLifecycle.resyncAfterFailedFull found: `current` names the list served (or cannot be read), or
 * another list (`db`, `fullVersion`), now served (`switched`), or that could not be activated for
 * `error`: then `current` names the list served again and `db` is deleted (`restored`), or, when no list
 * is served or the pointer could not be written (`pointerError`), `current` still names `db` (`unserved`;
 * with no list served `db`'s files are deleted all the same). `known`: an earlier failed full job had
 * found `db` unservable already (so the job that failed now did not switch `current` to it).
 */
export type FullResync =
  | { state: "same" | "switched" }
  | { state: "restored"; db: string; fullVersion: string; error: unknown; known: boolean }
  | {
      state: "unserved";
      db: string;
      fullVersion: string;
      error: unknown;
      pointerError: unknown;
      known: boolean;
    };

export class ListLifecycle {
  /** the list lookups answer from; replaced in one assignment (activate) */
  active: ActiveList | null = null;
  /**
   * why the list `current` names is not served (signed by another key than the lane's, or it cannot be
   * read), or null
   */
  notServed: string | null = null;
  /** the database `current` names while notServed says why it is not served */
  private notServedDb: string | null = null;
  /**
   * databases a full job switched `current` to that could not be activated (resyncAfterFailedFull) while
   * the lane kept serving its list: deleted with the served list when another list is activated
   */
  private switchedUnserved = new Set<string>();
  closed = false;
  private readonly jobs = new JobQueue();
  private readonly merges: OverlayMergeSchedule;
  private readonly filters: FilterLoader;
  /** the deletions of replaced lists' files still running (activate); never rejects */
  private removals: Promise<void> = Promise.resolve();

  constructor(
    readonly dir: string,
    private readonly log: Logger,
    /** this process owns the directory (the lane, an import): it may clean up, migrate and compact */
    readonly owner: boolean,
    readonly compaction: OverlayCompaction,
    private readonly now: () => number,
    /** the active list or its versions changed */
    private readonly onChange: () => void,
    /** the id (hex) of the station key the lane trusts: a list another key signed is never served */
    private readonly trustedKeyId: string,
    /**
     * the caller reports why a list is not served itself (StatusListOpenOptions.reportsNotServed, the CLI's
     * lookup, info and import): a refusal is logged at debug, not as an error
     */
    private readonly reportsNotServed = false,
  ) {
    this.merges = new OverlayMergeSchedule({
      dir,
      log,
      owner,
      compaction,
      now,
      jobs: this.jobs,
      active: () => this.active,
      closed: () => this.closed,
      batchMerged: (a) => this.batchMerged(a),
    });
    this.filters = new FilterLoader({
      dir,
      log,
      jobs: this.jobs,
      active: () => this.active,
      closed: () => this.closed,
    });
  }

  /**
   * Clean up (owner only), start the worker (owner only), and activate the list `current` names. A list
   * that cannot be served (its pointer or database unreadable or missing, or another key signed it) does
   * not stop the open: no list is served (`notServed` says why; health is missing, so the lane goes by
   * statusList.whenMissing), and a full list at least as new as the one `current` names replaces it (any
   * full list when the pointer names none or another key signed it: version-order.ts checkFullOrder).
   */
  start(): void {
    const dir = this.dir;
    let pointer: Pointer | null = null;
    let unreadable: unknown = null;
    const there = listDirThere(dir, this.owner);
    if (there !== true && there !== false) unreadable = there;
    if (there === true) {
      try {
        pointer = readPointer(dir);
      } catch (e) {
        unreadable = e;
      }
    }
    if (there === true && this.owner) {
      // with no readable pointer nothing tells a leftover from the list: nothing is deleted
      if (unreadable === null) {
        const removed = cleanStale(dir, pointer?.db ?? null);
        if (removed.length)
          this.log.warn({ removed }, "removed leftovers of an interrupted status-list build");
      }
    }
    if (this.owner) {
      // start the worker thread now, not at the first delta: its start-up (a V8 isolate, the modules)
      // takes both cores for a moment, which belongs to the lane's start, not to the middle of traffic.
      // Not awaited: the lane's open (and a restart's recovery) does not wait for it.
      runJob<boolean>({ type: "ready" }).result.catch((e: unknown) => {
        // lookups do not need the worker; an update will retry it and fail with the reason
        this.log.error({ err: e }, "status-list worker did not start; updates will try again");
      });
    }
    if (unreadable !== null) {
      // a pointer naming a missing database still names its version; one that cannot be read names none
      const named = parsed(dir);
      this.refuse(
        named?.db ?? null,
        `${(unreadable as Error).message}: no status list is served; ` +
          (named
            ? `a full list at least as new as ${named.fullVersion} replaces it`
            : "any full list replaces it"),
        unreadable,
      );
      return;
    }
    if (pointer) {
      try {
        this.activate(pointer.db, null);
      } catch (e) {
        // a read-only tool run by a user who cannot write the list's directory or file: the list is not at
        // fault, the tool cannot read it as this user; said as such, the open fails
        if (e instanceof UnwritableDirectoryError || e instanceof UnwritableFileError) throw e;
        // a list signed by another key (imported with another key than the lane's) keeps its message;
        // any other failure (an unreadable or damaged database) is named. Either way not served
        this.refuse(
          pointer.db,
          isEtcError(e) && e.code === StatusListErrors.BadSignature
            ? e.message
            : `status list ${pointer.db} (full ${pointer.fullVersion}) cannot be opened: ${(e as Error).message}: ` +
                `not served; a full list at least as new as ${pointer.fullVersion} replaces it`,
          e,
        );
        return;
      }
      this.log.info({ db: pointer.db, versions: this.active?.versions }, "status list opened");
    } else {
      this.log.warn("no status list is active yet: lookups answer noList (not checked), health is missing");
    }
  }

  /**
   * The list `current` names cannot be served: no list is, and health says why (missing). The lane logs it
   * as an error, with the error (its code, details and stack); a caller that reports the reason itself
   * (reportsNotServed: `etc-lane status-list lookup`, `info` and `import`) only at debug, so its stderr says
   * it once.
   */
  private refuse(db: string | null, reason: string, err: unknown): void {
    this.notServed = reason;
    this.notServedDb = db;
    if (this.reportsNotServed) this.log.debug({ db, err }, reason);
    else this.log.error({ db, err }, reason);
    this.onChange();
  }

  /**
   * Open a database file and make it active; the filter comes from the build, or (owner only) from the
   * worker, which loads its file or rebuilds it and completes it with `added` (filter-load.ts); lookups
   * query SQLite until it is in place. All or nothing: if it throws, the list served and every other
   * field are as they were.
   */
  activate(name: string, built: BuildResult["filter"] | null): void {
    const path = join(this.dir, name);
    // a read-only tool (lookup, info) reads as the journal's readers do: no statement writes, no -wal or
    // -shm of its user left behind, and a file or directory it cannot write refused naming it
    // (src/journal/read-connection.ts openForReading)
    const db = this.owner ? new Database(path, { fileMustExist: true }) : openForReading(path);
    let next: ActiveList;
    try {
      if (this.owner) db.pragma("journal_mode = WAL");
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
      if (meta.key_id !== this.trustedKeyId)
        throw slError(
          StatusListErrors.BadSignature,
          `status list ${name} (full ${meta.full_version}) was signed by key ${meta.key_id}, not by the station ` +
            `key this lane trusts (${this.trustedKeyId}): not served; a full list signed by the lane's key replaces it`,
          { keyId: meta.key_id, trusted: this.trustedKeyId },
        );
      // a new full list's (its `added` is empty); any other comes from the worker (filter-load.ts)
      const filter: BloomFilter | null = built ? new BloomFilter(built.buffer, built.log2Bits) : null;
      beginSnapshot(db);
      const layout = cardLayout(db);
      if (layout !== "key9")
        this.log.warn(
          { db: name },
          "status-list database has the older card layout (net, serial): still served",
        );
      const overlay = hasOverlay(db);
      next = {
        name,
        db,
        ...prepareLookups(db, layout, overlay),
        // filled as hits need them (lookup.ts reasonText): the table is never read here
        reasons: new Map(),
        layout,
        versions: Object.freeze({ full: meta.full_version, delta: meta.delta_version }),
        overlay,
        overlayRows: overlayRows(db),
        mergeUnfinished: overlay && meta.overlay_merging === 1,
        filter,
        full: meta.full_version,
        fullCreated: meta.full_created,
        fullApplied: meta.imported_at,
        delta: meta.delta_version,
        deltaCreated: meta.delta_created,
        deltaApplied: meta.delta_version === null ? null : deltaAppliedAt(db, meta.delta_version),
        cards: meta.cards,
        obus: meta.obus,
        cardsNoNetwork: meta.cards_no_network ?? null,
      };
    } catch (e) {
      if (db.open) db.close();
      throw e;
    }
    const old = this.active;
    // the lists `current` named before and the lane did not serve (another key, or damaged, at open; or
    // switched to by a full job and not activated): replaced. Only `name` is the list `current` names now
    const unserved = this.owner ? [this.notServedDb, ...this.switchedUnserved] : [];
    this.notServed = null;
    this.notServedDb = null;
    this.switchedUnserved.clear();
    this.active = next;
    if (old) {
      try {
        old.db.close();
      } catch (e) {
        this.log.warn({ err: e, db: old.name }, "could not close the previous status-list database");
      }
    }
    this.removeLists([old?.name, ...unserved].filter((gone) => gone !== name));
    // a failed load's retry was for the list replaced: the new list's load starts afresh
    this.filters.reset();
    // a read-only tool (not the owner) answers from SQLite: it neither loads the lane's filter nor
    // rebuilds it (a rebuild writes the file the running lane loads). A built filter is in place
    if (!next.filter && this.owner) this.filters.start(next);
    this.compactIfDue(next);
    this.onChange();
  }

  /**
   * A full-list job failed, or its result could not be activated. The worker may have switched `current`
   * to its new database before the failure (it died after the rename, before its answer; or activate
   * threw on the lane thread). Serving the old list then would refuse that full list again (E506: the
   * worker checks against the database `current` names) and every delta on it (E507) until a newer full
   * list came. So when `current` names a database other than the one served, it is activated (activate
   * checks its meta and its key and loads or rebuilds its filter). If that fails too (the database
   * damaged, missing, or the lane short of file descriptors or memory), `current` is pointed back at the
   * list served (restorePointer), and the database it named is deleted: the same full list offered again
   * is then newer than everything `current` names and is built anew, so the lane recovers at its next try
   * without a restart, whether the failure lasts or not (apply-change.ts lanesFullError says so).
   * Returns what it found (FullResync).
   */
  resyncAfterFailedFull(): FullResync {
    if (this.closed) return { state: "same" };
    let p: Pointer | null;
    try {
      // not readPointer: a pointer naming a missing database is such a list that cannot be activated
      p = parsePointer(this.dir);
    } catch (e) {
      this.log.error(
        { err: e, served: this.active?.name ?? null },
        "status-list full job failed and the pointer cannot be read: the list served stays",
      );
      return { state: "same" };
    }
    if (p === null || p.db === (this.active?.name ?? this.notServedDb)) return { state: "same" };
    const known = this.switchedUnserved.has(p.db);
    try {
      this.activate(p.db, null);
    } catch (e) {
      return this.restorePointer(p, e, known);
    }
    this.log.warn(
      { db: p.db, versions: this.active?.versions },
      "status-list full job failed after switching the pointer: the list it names is served",
    );
    return { state: "switched" };
  }

  /**
   * `current` names `p`, which could not be activated (`error`), while the lane serves another list:
   * `current` is written back to name the list served (atomically, as a full build writes it:
   * store.ts writePointer; that database is whole, it holds the deltas served), then `p`'s files are
   * deleted. A crash before the rename leaves `current` naming `p` (a whole list as it was built; the
   * restart opens it or serves none, and a full list at least as new replaces it); after it, naming the
   * list served, `p`'s files then leftovers the next open deletes (store.ts cleanStale). The served list is
   * the one the lane already answers from, so no lookup answers from an older list than before. With no
   * list served (nothing to point back at: pointing at none would let an older full list in), `current`
   * keeps naming `p` and `p`'s files are deleted (unservedNoList). When the pointer cannot be written,
   * `current` keeps naming `p` and its files stay (a restart opens it); they go when a list is activated.
   */
  private restorePointer(p: Pointer, error: unknown, known: boolean): FullResync {
    const served = this.active;
    if (!served) return this.unservedNoList(p, error, known);
    let pointerError: unknown = null;
    if (served && this.owner) {
      try {
        writePointer(this.dir, { db: served.name, fullVersion: served.full });
      } catch (e) {
        pointerError = e;
      }
      if (pointerError === null) {
        this.removeLists([p.db]);
        this.log.error(
          { err: error, db: p.db, served: served.name },
          "status-list full job failed after switching the pointer, and the list it names cannot be " +
            "served: the pointer names the list served again and that list's files are deleted; the same " +
            "full list offered again is built anew",
        );
        return { state: "restored", db: p.db, fullVersion: p.fullVersion, error, known };
      }
    }
    // its files go when a list is activated (activate): until then they would count against the room
    // of every later full build (build-room.ts), and nothing else deletes them before a restart
    this.switchedUnserved.add(p.db);
    this.log.error(
      { err: error, db: p.db, served: served.name, pointerErr: pointerError },
      "status-list full job failed after switching the pointer, and the list it names cannot be served " +
        "nor the pointer written back: the list served stays (a restart opens the one the pointer names)",
    );
    return { state: "unserved", db: p.db, fullVersion: p.fullVersion, error, pointerError, known };
  }

  /**
   * `current` names `p`, which could not be activated (`error`), and no list is served: `current` keeps
   * naming `p` (pointing at none would let an older full list in), and `p`'s files are deleted, with those
   * of the list `current` named before (notServedDb), so they do not take the room of the build meant to
   * replace it (build-room.ts). A pointer naming a missing database still names its version: a full list
   * at least as new replaces it (version-order.ts checkFullOrder through store.ts listOnDisk), and a
   * restart serves no list (start: readPointer throws, so nothing older is served, "not checked"). The
   * lane then stands as after an open whose list cannot be served (refuse): health says why, and a later
   * failed full job finds `current` naming that list (`same`), its own error kept (apply-change.ts).
   */
  private unservedNoList(p: Pointer, error: unknown, known: boolean): FullResync {
    if (this.owner) this.removeLists([this.notServedDb, p.db]);
    this.refuse(
      p.db,
      `status list ${p.db} (full ${p.fullVersion}) cannot be served: ${error instanceof Error ? error.message : String(error)}: ` +
        `not served, its files deleted; a full list at least as new as ${p.fullVersion} replaces it`,
      error,
    );
    return { state: "unserved", db: p.db, fullVersion: p.fullVersion, error, pointerError: null, known };
  }

  /**
   * Delete the files of the lists named (not awaited: lookups answer from another list already; kept so
   * filesSettled() and close() can wait for them).
   */
  private removeLists(names: readonly (string | null | undefined)[]): void {
    const removals: Promise<void>[] = [this.removals];
    for (const gone of names) {
      if (!gone) continue;
      for (const s of ["", "-wal", "-shm", ".filter"]) {
        removals.push(
          rm(join(this.dir, gone + s), { force: true }).catch((e: unknown) =>
            this.log.warn({ err: e }, "could not delete the previous status-list file"),
          ),
        );
      }
    }
    this.removals = Promise.all(removals).then(() => undefined);
  }

  /**
   * A delta has committed (in the worker) to the active list `a`: take its versions and counts, move the
   * lane's snapshot past it (before applyBundle resolves, so the next lookup sees it), then queue the WAL
   * checkpoint and, past the limit, the overlay merge.
   */
  deltaApplied(
    a: ActiveList,
    r: Pick<
      DeltaResult,
      "version" | "createdAt" | "appliedAt" | "cards" | "obus" | "listCardsNoNetwork" | "overlayRows"
    >,
  ): void {
    a.delta = r.version;
    a.versions = Object.freeze({ full: a.full, delta: r.version });
    a.deltaCreated = r.createdAt;
    a.deltaApplied = r.appliedAt;
    renewSnapshot(a.db);
    // no reload of the reason table here: a delta only appends reasons (ids never change), and a
    // lookup fetches an id it does not know yet (lookup.ts reasonText); this thread does as little as it can
    this.checkpointSoon(a);
    a.cards = r.cards;
    a.obus = r.obus;
    a.cardsNoNetwork = r.listCardsNoNetwork;
    a.overlayRows = r.overlayRows;
    this.compactIfDue(a);
    this.onChange();
  }

  /**
   * An overlay-merge batch has committed to `a` (overlay-merge.ts). As after a delta: the snapshot moves
   * past the batch first (a merged row answers as before, so lookups cannot tell), then the checkpoint
   * and the renewal after it are queued. A checkpoint queued while the snapshot still stood before the
   * batch could not copy the batch's pages (the snapshot reads the WAL frames before them), so the WAL
   * would never be wholly checkpointed and each batch would append to it: the WAL would grow to the pages
   * of the whole merge (test/status-list/wal.test.ts).
   */
  private batchMerged(a: ActiveList): void {
    if (this.active !== a || this.closed) return;
    renewSnapshot(a.db);
    this.checkpointSoon(a);
  }

  /**
   * A delta job failed. If the database moved anyway (the worker died after its commit, before its
   * answer), take what it holds now, as after a delta: the lane's versions and snapshot never stay behind
   * the list on disk (the uplink asks the station with them). Resolves (never rejects) with whether it
   * had moved, once the filter is complete again and the worker has counted the overlay.
   */
  async resyncAfterFailedDelta(a: ActiveList): Promise<boolean> {
    if (this.active !== a || this.closed) return false;
    renewSnapshot(a.db);
    const m = a.db.prepare("SELECT * FROM meta WHERE id = 1").get() as MetaRow | undefined;
    if (!m || m.delta_version === null || m.delta_version === a.delta) return false;
    this.log.warn(
      { held: a.delta, onDisk: m.delta_version },
      "status-list delta job failed after its commit: the list's versions are taken from its database",
    );
    // the worker sets a delta's filter bits before its commit; whatever it managed, every key the deltas
    // added goes into the filter again, by the worker (this thread never loops over `added`, which can
    // hold millions of rows). Until then the filter is out of use and lookups query SQLite, so no id the
    // snapshot now lists is ruled out by it
    const f = a.filter;
    a.filter = null;
    this.deltaApplied(a, {
      version: m.delta_version,
      createdAt: m.delta_created ?? a.fullCreated,
      appliedAt: deltaAppliedAt(a.db, m.delta_version) ?? this.now(),
      cards: m.cards,
      obus: m.obus,
      listCardsNoNetwork: m.cards_no_network ?? null,
      // the count held until the worker's below: counting up to overlayMaxRows rows here would hold the
      // lane thread (and every lookup behind it), on the path where the worker has just failed
      overlayRows: a.overlayRows,
    });
    if (f) await this.refill(a, f);
    await this.recountOverlay(a);
    return true;
  }

  /**
   * The worker counts the overlay's rows (after a delta job that failed after its commit, whose result
   * would have carried the count); then the merge starts if the overlay is past its limit. Called inside
   * a queued job (an apply): run at once, not queued. If it fails, the count held stays until the next
   * delta's result or merge batch corrects it.
   */
  private async recountOverlay(a: ActiveList): Promise<void> {
    if (!a.overlay) return;
    let rows: number;
    try {
      rows = await this.track(runJob<number>({ type: "overlay-rows", dbPath: join(this.dir, a.name) }));
    } catch (e) {
      if (!this.closed)
        this.log.warn(
          { err: e },
          "status-list overlay count failed: the count held stays until the next delta",
        );
      return;
    }
    if (this.active !== a || this.closed) return;
    a.overlayRows = rows;
    this.compactIfDue(a);
  }

  /**
   * The worker re-adds the keys in `added` to `f` (filter-fill.ts replayAddedInto), then `f` is the
   * filter again. Called inside a queued job (an apply): run at once, not queued. If it fails, a new filter
   * is loaded (filter-load.ts) and lookups query SQLite until it is in place.
   */
  private async refill(a: ActiveList, f: BloomFilter): Promise<void> {
    try {
      await this.track(
        runJob<number>({
          type: "replay",
          dbPath: join(this.dir, a.name),
          filter: { buffer: f.buffer, log2Bits: f.log2Bits },
        }),
      );
    } catch (e) {
      if (this.closed || this.active !== a) return;
      this.log.error({ err: e }, "status-list filter replay failed: lookups query SQLite; loading it again");
      this.filters.start(a);
      return;
    }
    if (this.active === a && !this.closed && a.filter === null) a.filter = f;
  }

  /**
   * After a delta the WAL holds its pages; once the lane's snapshot has moved past them, a passive
   * checkpoint in the worker copies them into the database (never blocking a reader).
   */
  private checkpointSoon(a: ActiveList): void {
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

  /** Start merging the overlay when it has grown past its limit (overlay-merge.ts). */
  private compactIfDue(a: ActiveList): void {
    this.merges.compactIfDue(a);
  }

  /** whether an overlay merge is running */
  get merging(): boolean {
    return this.merges.merging;
  }

  /** Resolves when the overlay merge in progress (if any) has ended. */
  compactionIdle(): Promise<void> {
    return this.merges.idle();
  }

  /**
   * Resolves when the in-memory filter is in place (after open or a rebuild), or when there is none to
   * load (no list, closed, a read-only open); rejects with the error when the load failed: lookups keep
   * querying SQLite and the load is tried again (filter-load.ts); a call made once that retry has
   * started waits for it.
   */
  filterReady(): Promise<void> {
    return this.filters.ready();
  }

  /** Resolves when the files of every list replaced so far have been deleted (or their deletion failed). */
  filesSettled(): Promise<void> {
    return this.removals;
  }

  /** Run `fn` after every job queued before it (job-queue.ts). */
  enqueue<T>(fn: () => Promise<T>): Promise<T> {
    return this.jobs.enqueue(fn);
  }

  /** Await a worker job, remembered so close() can abandon it (job-queue.ts). */
  track<T>(job: RunningJob<T>): Promise<T> {
    return this.jobs.track(job);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.filters.stop();
    this.merges.stop();
    await this.jobs.close();
    await this.removals;
    this.active?.db.close();
    this.active = null;
  }
}

/** What `current` names, if the pointer can be read at all (its database may be missing). */
function parsed(dir: string): Pointer | null {
  try {
    return parsePointer(dir);
  } catch {
    return null;
  }
}

/** When the lane applied delta `version` (delta_log, on the lane's clock); null if the log lacks it. */
function deltaAppliedAt(db: Database.Database, version: string): number | null {
  try {
    const r = db.prepare("SELECT applied_at FROM delta_log WHERE version = ?").get(version) as
      | { applied_at: number }
      | undefined;
    return r?.applied_at ?? null;
  } catch {
    return null; // a list without the log
  }
}

/**
 * The list's directory cannot be read by this user (a data directory of mode 0700, as the lane makes it,
 * read by another user): a read-only tool fails with it, naming the path, instead of calling a healthy list
 * missing.
 */
export class UnreadableListDirError extends Error {
  constructor(dir: string, cause: NodeJS.ErrnoException) {
    super(
      `${dir} cannot be read by this user (${cause.code}): whether a status list is there is unknown; ` +
        "run this as the lane's user, or on a copy",
      { cause },
    );
    this.name = "UnreadableListDirError";
  }
}

/**
 * Whether the list's directory is there: false only when it does not exist (ENOENT). A permission error
 * (EACCES, EPERM: on the directory or on one above it, or, for a read-only tool, the directory itself not
 * readable) is never "no list": a read-only tool (`owner` false) throws UnreadableListDirError; for the
 * owner, as any other error, it is returned: the list is not served, health names it.
 */
function listDirThere(dir: string, owner: boolean): boolean | Error {
  try {
    statSync(dir);
    if (!owner) accessSync(dir, constants.R_OK | constants.X_OK);
    return true;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ENOENT") return false;
    if (err.code === "EACCES" || err.code === "EPERM") {
      const unreadable = new UnreadableListDirError(dir, err);
      if (!owner) throw unreadable;
      return unreadable;
    }
    return err;
  }
}
