/**
 * StatusListCache: the lane's status list (blacklist). Synchronous lookups on the hot path; full lists
 * and deltas are verified and applied in worker threads, so lookups never wait on them.
 *
 *   const cache = await StatusListCache.open({ dataDir, publicKeyPem });
 *   cache.lookup({ cardId, obuId })          // sync: listed?, entry, versions judged against, staleness
 *   await cache.applyBundle(pathOrBytes)     // full (new file + atomic swap) or delta (one transaction)
 *   cache.health() / cache.health$           // ok | stale | missing | past-hard-age | failed
 *
 * This file composes the parts: lookup.ts (the hot lookup), lifecycle.ts (activate, swap, checkpoints,
 * compaction, the job queue, the filter load), apply.ts (updates), health.ts (staleness and health); the worker side is
 * bundle-stream.ts, full-build.ts, delta-apply.ts, compaction.ts, filter-fill.ts over store.ts.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Observable } from "rxjs";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { applyBundle } from "./apply.js";
import { loadPublicKey } from "./bundle.js";
import { StatusListErrors, slError } from "./errors.js";
import { ListHealth, validateLimits } from "./health.js";
import { ListLifecycle } from "./lifecycle.js";
import { ListLookup } from "./lookup.js";
import { listDir, type MetaRow } from "./store.js";
import {
  type ApplyOptions,
  type ApplyResult,
  DEFAULT_COMPACTION,
  DEFAULT_LIMITS,
  type ListVersions,
  type OverlayCompaction,
  type StalenessState,
  type StatusListHealth,
  type StatusListInfo,
  type StatusListLimits,
  type StatusLookupResult,
} from "./types.js";
import { DEFAULT_VERSION_UTC_OFFSET_MINUTES } from "./version-order.js";

export interface StatusListOpenOptions {
  dataDir: string;
  publicKeyPem: string | Buffer;
  logger?: Logger;
  limits?: Partial<StatusListLimits>;
  /** clock, ms since the epoch (tests) */
  now?: () => number;
  /**
   * a monotonic clock, ms (default performance.now; tests): the hard age is also measured on it, from when
   * this process opened the list or applied its last update, so a wall clock set back does not stop it
   */
  monotonicNow?: () => number;
  /**
   * Delete leftovers of crashed builds on open (default true). Read-only tools that may run beside the
   * lane process (CLI lookup/info) pass false: they answer from SQLite, with no filter (never loaded, never
   * rebuilt, its file never written). The owner (true) must hold the data-directory lock
   * (src/datadir/lock.ts): the lane and `etc-lane status-list import` do.
   */
  cleanup?: boolean;
  /**
   * The caller reports itself why the list on disk is not served (`health().reason`: `etc-lane status-list
   * lookup` prints it as its error, `info` in its JSON, `import` in the line naming the list it replaced;
   * src/cli/commands/status-list.ts). The refusal is then
   * logged at debug, not as an error with its stack (lifecycle.ts refuse), so the command's stderr says it
   * once. Default false: the lane logs it as an error, with the error's code and details.
   */
  reportsNotServed?: boolean;
  /** when and how the delta overlay is merged into the main tables (see OverlayCompaction) */
  compaction?: Partial<OverlayCompaction>;
  /**
   * The offset from UTC in minutes the station writes its versions in (the lane config's
   * `statusList.versionUtcOffsetMinutes`, src/status-list/from-config.ts; not the RSU dialect's offset): a
   * bundle versioned ahead is refused (E509) and a version held ahead is a staleness reason, both read at it
   * (version-order.ts checkNotAhead, health.ts). Default DEFAULT_VERSION_UTC_OFFSET_MINUTES, UTC+8
   * (docs/status-list.md section 3, "Clocks").
   */
  utcOffsetMinutes?: number;
}

export class StatusListCache {
  private readonly life: ListLifecycle;
  private readonly finder: ListLookup;
  private readonly healthState: ListHealth;
  private readonly publicKeyPem: string;

  /** Emits the staleness state now and whenever the alarm or its reasons change. */
  readonly staleness$: Observable<StalenessState>;
  /** Emits the health now and whenever its state, the versions or the limits crossed change. */
  readonly health$: Observable<StatusListHealth>;

  private constructor(
    readonly dir: string,
    publicKeyPem: string,
    private readonly log: Logger,
    readonly limits: StatusListLimits,
    private readonly now: () => number,
    owner: boolean,
    readonly compaction: OverlayCompaction,
    monotonicNow: () => number,
    private readonly utcOffsetMinutes: number,
    reportsNotServed: boolean,
  ) {
    this.publicKeyPem = publicKeyPem;
    this.finder = new ListLookup(now, () => this.healthState.refresh());
    this.life = new ListLifecycle(
      dir,
      log,
      owner,
      compaction,
      now,
      () => this.healthState.refresh(),
      loadPublicKey(publicKeyPem).keyId.toString("hex"),
      reportsNotServed,
    );
    this.healthState = new ListHealth(
      limits,
      now,
      log,
      () => this.life.active,
      () => this.finder.failure,
      () => this.life.notServed,
      monotonicNow,
      utcOffsetMinutes,
    );
    this.staleness$ = this.healthState.staleness$;
    this.health$ = this.healthState.health$;
  }

  static async open(opts: StatusListOpenOptions): Promise<StatusListCache> {
    const pem =
      typeof opts.publicKeyPem === "string" ? opts.publicKeyPem : opts.publicKeyPem.toString("utf8");
    loadPublicKey(pem); // fail early on a bad key
    const limits = validateLimits({ ...DEFAULT_LIMITS, ...opts.limits });
    const log = (opts.logger ?? silentLogger).child({ module: "status-list" });
    const compaction = { ...DEFAULT_COMPACTION, ...opts.compaction };
    for (const [k, v] of Object.entries(compaction)) {
      if (!(Number.isInteger(v) && v >= (k === "pauseMs" ? 0 : 1)))
        throw slError(
          StatusListErrors.Store,
          `statusList compaction.${k} must be a whole number >= ${k === "pauseMs" ? 0 : 1}, got ${v}`,
        );
    }
    const off = opts.utcOffsetMinutes ?? DEFAULT_VERSION_UTC_OFFSET_MINUTES;
    if (!(Number.isInteger(off) && off >= -720 && off <= 840))
      throw slError(
        StatusListErrors.Store,
        `statusList versionUtcOffsetMinutes: expected whole minutes in -720..840, got ${off}`,
      );
    const cache = new StatusListCache(
      listDir(opts.dataDir),
      pem,
      log,
      limits,
      opts.now ?? Date.now,
      opts.cleanup !== false,
      compaction,
      opts.monotonicNow ?? (() => performance.now()),
      off,
      opts.reportsNotServed === true,
    );
    cache.life.start();
    cache.healthState.refresh();
    return cache;
  }

  /**
   * Is this card or OBU listed? Synchronous; answers from the in-memory filter when it rules both ids
   * out, else from one SQLite statement (one snapshot, so the versions match the data judged).
   * Throws E510 for a malformed id (the card's or OBU's data) and E516 when the list cannot answer (its
   * database failed, or the cache is closed). With no list loaded the answer says so (`noList: true`):
   * `listed: false` there means "not checked", and the lane applies `statusList.whenMissing`.
   */
  lookup(q: { cardId?: string; obuId?: string }): StatusLookupResult {
    if (this.life.closed)
      throw slError(StatusListErrors.LookupFailed, "status-list lookup failed: the cache is closed");
    return this.finder.lookup(q, this.life.active, this.healthState.lookupStaleness());
  }

  versions(): ListVersions {
    const a = this.life.active;
    return { full: a?.full ?? null, delta: a?.delta ?? null };
  }

  staleness(): StalenessState {
    return this.healthState.staleness();
  }

  /**
   * Why the list `current` names is not served (another key signed it, it cannot be opened), null when one
   * is served or none is on disk (lifecycle.ts refuse); health().reason when its state is missing.
   */
  notServed(): string | null {
    return this.life.notServed;
  }

  /** The list's health now (exact ages): what the lane's policy acts on (docs/status-list.md section 5). */
  health(): StatusListHealth {
    return this.healthState.health();
  }

  /** Subscribe to staleness changes (the current state is delivered at once); returns an unsubscribe. */
  onStalenessChange(cb: (s: StalenessState) => void): () => void {
    const sub = this.staleness$.subscribe(cb);
    return () => sub.unsubscribe();
  }

  /**
   * Verify and apply a signed bundle (a file path or its bytes). A full list is built into a new
   * database and swapped in; a delta is applied in one transaction; both off the lane thread. Rejections
   * (EtcError, code E50x) leave the active list exactly as it was, unless `current` already named another
   * list (lifecycle.ts resyncAfterFailedFull). Calls are serialised.
   */
  applyBundle(input: Buffer | Uint8Array | string, opts: ApplyOptions = {}): Promise<ApplyResult> {
    return applyBundle(
      {
        life: this.life,
        publicKeyPem: this.publicKeyPem,
        log: this.log,
        now: this.now,
        utcOffsetMinutes: this.utcOffsetMinutes,
        versions: () => this.versions(),
      },
      input,
      opts,
    );
  }

  /** Resolves when the overlay merge in progress (if any) has ended. */
  compactionIdle(): Promise<void> {
    return this.life.compactionIdle();
  }

  /**
   * Resolves when the in-memory filter is in place (after open or a rebuild), or when there is none to load;
   * rejects when the load failed (lookups keep querying SQLite; the load is retried: filter-load.ts).
   */
  filterReady(): Promise<void> {
    return this.life.filterReady();
  }

  /** Resolves when the files of every list replaced so far have been deleted (or their deletion failed). */
  filesSettled(): Promise<void> {
    return this.life.filesSettled();
  }

  info(): StatusListInfo {
    const a = this.life.active;
    const st = this.healthState.staleness();
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
      deltaAppliedAt: iso(a?.deltaApplied),
      counts: { cards, obus, total: cards + obus },
      obusNotDecimal: meta?.obus_not_decimal ?? null,
      cardsNoNetwork: meta?.cards_no_network ?? null,
      overlay: { enabled: a?.overlay ?? false, rows: a?.overlayRows ?? 0, merging: this.life.merging },
      filter: { loaded: a?.filter != null, bytes: a?.filter?.bytes ?? 0 },
      staleness: st,
      health: this.healthState.health(),
      limits: this.limits,
      recentDeltas: recent,
    };
  }

  async close(): Promise<void> {
    if (this.life.closed) return;
    this.healthState.close();
    await this.life.close();
  }
}

/** Where the lane's data dir and station key come from (CLI options now, a lane config file later). */
export async function openStatusListFromOptions(opts: {
  dataDir: string;
  publicKeyPath: string;
  logger?: Logger;
  limits?: Partial<StatusListLimits>;
  compaction?: Partial<OverlayCompaction>;
  cleanup?: boolean;
  /** the offset the station writes its versions in (StatusListOpenOptions.utcOffsetMinutes) */
  utcOffsetMinutes?: number;
  /** the caller prints why a list is not served itself (StatusListOpenOptions.reportsNotServed) */
  reportsNotServed?: boolean;
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
    ...(opts.compaction ? { compaction: opts.compaction } : {}),
    ...(opts.cleanup !== undefined ? { cleanup: opts.cleanup } : {}),
    ...(opts.utcOffsetMinutes !== undefined ? { utcOffsetMinutes: opts.utcOffsetMinutes } : {}),
    ...(opts.reportsNotServed !== undefined ? { reportsNotServed: opts.reportsNotServed } : {}),
  });
}
