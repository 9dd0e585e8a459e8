/**
 * The status list's public types: lookup answers, staleness and health, limits, apply results, info.
 * Where each is produced: lookup.ts (answers), health.ts (staleness, health), lifecycle.ts and apply.ts
 * (updates), cache.ts (the StatusListCache facade). docs/status-list.md section 1.
 */

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
  /** age of the full list (from its issue time) past which the staleness alarm is raised; default 48 h */
  fullMaxAgeMs: number;
  /** age of the newest delta (or of the full list when no delta yet) past which the alarm is raised; 30 min */
  deltaMaxAgeMs: number;
  /**
   * age of the newest update (the last delta's issue time, or the full list's) past which the list is
   * "past-hard-age" (health); what the lane then does is `statusList.whenPastHardAge`; default 24 h
   */
  hardMaxAgeMs: number;
}

export const DEFAULT_LIMITS: StatusListLimits = {
  fullMaxAgeMs: 48 * 3600_000,
  deltaMaxAgeMs: 30 * 60_000,
  hardMaxAgeMs: 24 * 3600_000,
};

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
  /**
   * Present (true) only when no list is loaded: `listed: false` then means "not checked", never "not
   * listed". The lane applies `statusList.whenMissing` (docs/status-list.md section 5).
   */
  noList?: true;
  /** the first match: card before OBU, lowest list type first */
  entry?: StatusEntry;
  /** every match (an id can be on several lists) */
  entries: StatusEntry[];
  /** the list versions this answer was judged against */
  versions: ListVersions;
  stale: StalenessState;
}

/**
 * The list's health, for the lane's policy and the status service, worst first:
 * - `failed`: the last lookup that read the active database threw (E516); none has succeeded since
 * - `missing`: no list is loaded (`statusList.whenMissing` applies)
 * - `past-hard-age`: the newest update is older than `hardMaxAgeMs` (`statusList.whenPastHardAge` applies)
 * - `stale`: past a staleness limit (full or delta): an alarm, the lane trades
 * - `ok`
 */
export type StatusListHealthState = "ok" | "stale" | "missing" | "past-hard-age" | "failed";

export interface StatusListHealth {
  state: StatusListHealthState;
  /** why, in words: the failure, the limits crossed, or what is held */
  reason: string;
  versions: ListVersions;
  ages: {
    /** now - the full list's issue time; null with no list */
    fullMs: number | null;
    /** now - the issue time of the newest update (the last delta, or the full list before any); null with no list */
    newestMs: number | null;
  };
  limits: StatusListLimits;
  /** the staleness limits crossed (as in StalenessState.reasons), also when a worse state hides them */
  staleReasons: string[];
  /** the last lookup failure while the state is `failed`, else null */
  failure: LookupFailure | null;
  /**
   * why the newest update is past the hard age limit (the `past-hard-age` state's reason), also while a
   * failure shows as the state; null when it is not
   */
  pastHardAge: string | null;
  /**
   * the served list's card entries of network 0000, which match no card (ids.ts cardWithoutNetwork): the
   * cards they list pass; the reason says so when there are any. Null with no list, or for a list stored
   * before this count was kept (the next full list has it)
   */
  cardsNoNetwork: number | null;
}

export interface LookupFailure {
  /** ms since the epoch */
  at: number;
  message: string;
  /** the list database that failed: a failure ends when a read succeeds or another list is activated */
  db: string;
}

export interface ApplyResult {
  kind: "full" | "delta";
  version: string;
  base: string | null;
  adds: number;
  removes: number;
  cards: number;
  obus: number;
  /**
   * the bundle's OBU entries (a delta's adds) whose id has a digit A-F: not a contract serial's 16 BCD
   * digits, so no lane matches them and those OBUs pass (docs/status-list.md section 2); any is an alarm
   */
  obusNotDecimal: number;
  /**
   * the bundle's card entries (a delta's adds) of network 0000: no card carries that network, so they
   * match no card and the cards they mean pass (docs/status-list.md section 2); any is an alarm
   */
  cardsNoNetwork: number;
  /** the first of them, as a 20-digit card id (the alarm's example); null when there are none */
  cardNoNetworkExample: string | null;
  ms: number;
  versions: ListVersions;
}

export interface Progress {
  /** load: full-list records stored; swap: built, being switched in; delta: delta records applied */
  phase: "load" | "swap" | "delta";
  done: number;
  total: number;
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
  /** when the lane imported the full list (meta.imported_at) */
  importedAt: string | null;
  /** when the lane applied the current delta (delta_log.applied_at); null without one */
  deltaAppliedAt: string | null;
  counts: { cards: number; obus: number; total: number };
  /**
   * the list's OBU entries whose id has a digit A-F (no lane matches them); null with no list, or for a
   * list stored before this count was kept (the next full list has it)
   */
  obusNotDecimal: number | null;
  /**
   * the list's card entries of network 0000 (they match no card); null with no list, or for a list stored
   * before this count was kept (the next full list has it)
   */
  cardsNoNetwork: number | null;
  /** the delta overlay: entries deltas changed since the full list, and whether a merge is running */
  overlay: { enabled: boolean; rows: number; merging: boolean };
  filter: { loaded: boolean; bytes: number };
  staleness: StalenessState;
  health: StatusListHealth;
  limits: StatusListLimits;
  recentDeltas: { version: string; base: string; adds: number; removes: number; appliedAt: string }[];
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
