/**
 * What the lane controller needs from the pieces around it (docs/lane.md "Ports"). Each port is the
 * contract the owning module implements (firmware-bridge RsuLink, src/journal Journal, src/status-list
 * StatusListCache, src/audit AuditLog); controller tests pass fakes.
 */
import type { Observable } from "rxjs";
import type { Frame } from "../../firmware-bridge/frames/catalogue.js";
import type {
  CommittedRecord,
  OpenIntent as DebitIntentRow,
  GuardRow,
  NewLaneRecord,
  Settlement,
} from "../journal/types.js";
import type { IncomingFrameLike } from "../rsu/driver.js";

export interface RsuLinkPort {
  readonly incoming$: Observable<IncomingFrameLike & { readonly rsuRebooted?: boolean }>;
  /**
   * `portOpen`: a "down" that is only the RSU's silence (a keep-open watchdog trip, docs/link.md "States"):
   * the port is open and `send()` works
   */
  readonly state$: Observable<{
    status: "connecting" | "up" | "down" | "stopped";
    reason?: string;
    portOpen?: boolean;
  }>;
  start(): Promise<void> | void;
  stop(): Promise<void> | void;
  /**
   * `answerWithinMs` (C0 only): how long the RSU has to answer it; after that a B0 no longer answers this C0
   * (firmware-bridge/link/rsu-link.ts SendOptions)
   */
  send(frame: Frame, opts?: { answerWithinMs?: number }): Promise<{ at: number }>;
}

// the journal's own row types, as the controller reads them (src/journal/types.ts): a guard row seeds the
// trade guards at start (unsettledSince / tradedSince), a settlement updates a suspect in place, an open
// intent is a debit a previous process sent and never recorded
export type { DebitIntentRow, GuardRow, Settlement };

export interface JournalPort {
  /** durable (fsync'd) on return; `opts.intentId` is deleted in the same transaction */
  commit(rec: NewLaneRecord, opts?: { intentId?: number | undefined }): CommittedRecord;
  /** update an unsettled suspect record in place (durable on return) */
  settle(seq: number, s: Settlement, opts?: { intentId?: number | undefined }): CommittedRecord;
  get(seq: number): CommittedRecord | null;
  /**
   * a suspect journal.db lacks and keeps from the audit trail (found behind it), rebuilt from the trail's
   * entry, or null: what an operator settles by hand when get(seq) has no row (src/journal/rebuilt-suspect.ts)
   */
  keptSuspect(seq: number): CommittedRecord | null;
  /** when the barrier opened (not fsync'd on its own) */
  markBarrier?(seq: number, time: number | string): boolean;
  /** write-ahead note of a debit in flight, before C6/C3/C8 (no fsync of its own); returns its id */
  writeIntent(key: string, payload: string, id?: number): number;
  /** true once the intents written so far are on disk (an fdatasync in the thread pool), false if it failed */
  intentDurable(): Promise<boolean>;
  /**
   * drops an intent whose debit command was never sent: durably now, or by the journal's recover() before it
   * is healthy again (src/journal/intents.ts `withdraw`)
   */
  withdrawIntent(id: number): "deleted" | "pending";
  /** intents no record settled: debits a previous process sent and never recorded */
  openIntents(): DebitIntentRow[];
  /**
   * the unsettled suspects journal.db lacks that it keeps from the audit trail (src/journal/behind-trail.ts),
   * named by an alarm at every start (src/lane/recovery.ts)
   */
  keptSuspects?(): readonly {
    jseq: number;
    tradeId: string;
    cardId: string | null;
    obuSerial: string | null;
    amount: number;
  }[];
  /** suspects not settled, created at or after sinceMs (wall ms) */
  unsettledSince(sinceMs: number): GuardRow[];
  /** transactions created at or after sinceMs (wall ms) */
  tradedSince(sinceMs: number): GuardRow[];
  /**
   * an unsettled suspect naming this card id or OBU contract serial (its seq), or null: the hold on them
   * lasts until it is settled, beyond the guards' memory (src/lane/controller.ts `unsettled`)
   */
  openSuspectOf(k: { cardId?: string | null; obuSerial?: string | null }): number | null;
  /**
   * an open debit intent (a booth one, key `booth:<card id>`, or an RSU debit's, keyed by OBU MAC id) naming
   * this card id or OBU contract serial (its id), or null: a debit whose outcome is not recorded yet holds
   * them as long as its intent is open (src/journal/intents.ts openIntentOf)
   */
  openIntentOf(k: { cardId?: string | null; obuSerial?: string | null }): number | null;
  /** the newest unsettled suspect for this OBU MAC id or card id */
  findOpenSuspect(q: { obuId?: string; cardId?: string }): CommittedRecord | null;
  /** a lane setting kept across restarts (the lane gate's operator close), null when absent */
  readSetting(key: string): string | null;
  /** writes (null: deletes) a lane setting, durable on return; throws when the journal cannot be written */
  writeSetting(key: string, value: string | null): void;
  /**
   * the journal's health (emits the current one on subscription): unhealthy closes the lane at once
   * (JOURNAL_FAILED), whatever made it so, a vehicle's write or not (the uplink's, the booth's, a read
   * that met a damaged file, the quick_check after open)
   */
  readonly health$?: Observable<{ healthy: boolean; error?: { read?: true } }>;
}

export type StatusListState = "ok" | "stale" | "missing" | "past-hard-age" | "failed";

export interface StatusListHealth {
  state: StatusListState;
  reason: string;
  /**
   * why the list is past its hard age, also while another state shows (a failed lookup); null or absent
   * when it is not
   */
  pastHardAge?: string | null;
}

export interface StatusListLookup {
  listed: boolean;
  /** no list is loaded: `listed: false` means "not checked" (the lane applies statusList.whenMissing) */
  noList?: true;
  entry?: { kind: "card" | "obu"; id: string; listType: number; listTypeName: string; reason: string };
  versions: { full: string | null; delta: string | null };
  stale?: { alarm: boolean; reasons: string[] };
}

export interface StatusListPort {
  /**
   * synchronous; throws E516 when the list cannot answer (its database failed, or it is closed) and E510
   * for a malformed id (the OBU machine validates ids before it asks, so a lane never sends one)
   */
  lookup(q: { cardId?: string; obuId?: string }): StatusListLookup;
  /** the current health; health$ emits it at once on subscription and on every change */
  health(): StatusListHealth;
  readonly health$: Observable<StatusListHealth>;
}

/** What the lane does with no list loaded, or a list past its hard age (statusList.whenMissing ...). */
export interface StatusListPolicy {
  whenMissing: "close" | "trade";
  whenPastHardAge: "close" | "trade";
}

export interface AuditPort {
  append(e: {
    type: string;
    severity: "info" | "warn" | "alarm";
    message: string;
    data?: Record<string, unknown>;
  }): unknown;
}
