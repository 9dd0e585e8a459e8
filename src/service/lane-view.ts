/**
 * The two ports the status service is built against. The service (HTTP endpoints, metrics, maintenance
 * page, control socket) never reaches into the lane's parts: it sees the lane only through a `LaneView`
 * (read) and a `LaneOperator` (the operator actions), which the lane runtime implements. Tests drive the
 * service with fake implementations of both.
 *
 * Rules for implementers:
 * - `snapshot()` is called for every /status, /health and /metrics request and once per history tick
 *   (10 s by default): build it from values the lane already keeps (O(1) counters, cached ages), never
 *   from a journal scan.
 * - `events$` is subscribed once by the service; its subscriber only appends to a bounded buffer (see
 *   feed-pump.ts), so emitting on the lane's path costs an array push. Emit a vehicle after its record
 *   is durable and its barrier decision is made.
 * - Times are wall-clock milliseconds since the epoch (`Date.now()` style) unless a field says otherwise;
 *   durations are milliseconds. Card ids are full in the snapshot: every human-facing output masks them.
 */

import type { Observable } from "rxjs";
import type { OperatorSettleRequest } from "../lane/operator-settlement.js";
import type { OutputFaultsView } from "../outputs/output-faults.js";

// ---- the snapshot (GET /status, `etc-lane status --json`) --------------------------------------------

/** The lane's trading state. `canTrade` alone decides GET /health. */
export interface LaneStateView {
  status: "starting" | "open" | "closed" | "stopping";
  /** true only when a vehicle arriving now would be traded (open, RSU up, journal writable, list policy met) */
  canTrade: boolean;
  /**
   * Machine-readable cause when not trading: a LaneClosedReason of src/lane/lane-gate.ts ("rsu-down",
   * "rsu-init", "rsu-fault", "journal", "status-list", "operator", "stopping", "stopped") or "starting";
   * null when open.
   */
  reason: string | null;
  /** for a person: "RSU link down: watchdog", "closed by operator wang (maintenance)" */
  detail: string;
  /** when the lane entered this status */
  since: number;
  /** set while an operator's close holds the lane closed */
  operatorClosed: {
    user: string;
    uid: number;
    /** the person behind `sudo -u <user>` who closed it, absent when the account acted itself */
    sudoUser?: string;
    reason: string;
    at: number;
  } | null;
}

/** A link the lane depends on (RSU, card reader, station). */
export interface LinkView {
  status: "connecting" | "up" | "down" | "stopped" | "disabled";
  reason: string | null;
  /** when the link entered this status, or null if unknown */
  since: number | null;
  /**
   * Link-layer counters as the link keeps them (frames in/out, bytes, discarded bytes, checksum errors,
   * duplicates, automatic answers, timeouts, reconnects...). Names are the link's own camelCase field
   * names; /metrics exports each as `etc_lane_link_events_total{link, counter}` (snake_case).
   */
  counters: Record<string, number>;
}

export interface RsuView extends LinkView {
  /** from the last B0, null before the first */
  device: {
    rsuId: string;
    version: string;
    psams: { slot?: number; terminalId: string; authorised: boolean }[];
  } | null;
}

export interface StatusListView {
  /** the status-list health (see the status-list contract): "ok" | "stale" | "missing" | "past-hard-age" | "failed" */
  state: "ok" | "stale" | "missing" | "past-hard-age" | "failed";
  reason: string;
  versions: { full: string | null; delta: string | null };
  /** age of each list from its issue time, ms; null when that list is absent */
  ages: { fullMs: number | null; deltaMs: number | null };
  /** when the newest list was applied: the current delta's apply time, else the full list's import time */
  appliedAt: number | null;
  counts: { cards: number; obus: number } | null;
  /**
   * the list's card entries of network 0000, which match no card (the cards they mean pass; `reason` says
   * so): docs/status-list.md section 2. Null with no list, or for a list stored before they were counted
   */
  cardsNoNetwork: number | null;
  /** the bundle the uplink is downloading, a few pages per poll; null when none (or no station) */
  download: { name: string; pages: number; pagesDone: number } | null;
  /**
   * the bundle the uplink downloaded and the list is applying now (a full list's build takes tens of
   * seconds); null when none (or no station)
   */
  applying: string | null;
}

export interface UplinkView {
  /** "disabled": no station configured */
  state: "online" | "degraded" | "offline" | "disabled";
  /** records the station has not acknowledged (queued, held included) */
  queueDepth: number;
  held: number;
  oldestPendingAgeMs: number | null;
  /**
   * records per upload: the batch size in use and the configured one (the uplink halves it while batches
   * fail and doubles it back: docs/station-api.md, "A batch the station does not take"); null: no station
   */
  batch: { size: number; max: number } | null;
  lastSuccessAt: number | null;
  lastError: { code: string; message: string; at: number } | null;
}

export interface JournalView {
  healthy: boolean;
  /**
   * why the journal is not healthy (a write that failed, or a read that met a damaged file or an I/O error:
   * src/journal/db.ts JournalHealth), `at` as epoch ms; null while healthy
   */
  error: { code: string; message: string; at: number } | null;
  lastSeq: number;
  /** the last durable commit's duration, ms (WAL + FULL: one fsync) */
  lastCommitMs: number | null;
  /**
   * What this journal.db keeps since it was found behind the audit trail (docs/journal.md, "A journal
   * behind the audit trail"), until an operator settles or resolves each: the unsettled suspects it lacks,
   * rebuilt from the trail's entries (their cards and OBUs held: `etc-lane journal settle SEQ`), and the ids
   * of the open debit intents it does not recover (`etc-lane journal resolve-intent ID`). Empty lists on a
   * journal never found behind.
   */
  keptBehindTrail: {
    suspects: {
      seq: number;
      tradeId: string;
      cardId: string | null;
      obuSerial: string | null;
      plate: string | null;
      /** fen */
      amount: number;
      /** when the suspect was recorded (the trail entry's local time with its offset) */
      recordedAt: string;
    }[];
    intents: number[];
  };
}

/** The booth at work (src/booth/booth.ts status()): what the collector sees, what it did since start. */
export interface BoothDeskView {
  /** the collector's screen now, as shown (Chinese), since when (wall ms); null before the first prompt */
  screen: { step: string; text: string; detail: string; caseId: string | null; at: number } | null;
  /** since the lane started: transactions, proved, refusals, recoveries, cancelled, errors... */
  counters: Record<string, number>;
  /** lost DEBIT answers being recovered from their cards now */
  recovering: number;
  /** why the card reader cannot serve the booth (its INFO at link-up against the settings); null when it can */
  readerUnfit: string | null;
  /** the last booth transaction: card read to durable record, of which the reader, the lane, the commit (ms) */
  lastTiming: { totalMs: number; readerMs: number; laneMs: number; commitMs: number } | null;
}

/** A vehicle the lane sent to the booth (manual handling): suspect debits, unreadable cards, stops. */
export interface BoothCaseView {
  id: string;
  openedAt: number;
  /** e.g. "suspect-debit", "stop", "card-unreadable" */
  kind: string;
  /** outcome or stop reason code, e.g. "B5_MISSING", "CARD_ON_STATUS_LIST" */
  reason: string;
  /** for a person, Chinese as shown at the booth */
  detail: string;
  obuId: string | null;
  cardId: string | null;
  plate: string | null;
  /** the journal record it concerns, if any */
  seq: number | null;
  /** "active": being worked on; "taken": the collector chose it; "waiting" (src/booth/view.ts) */
  status?: "active" | "taken" | "waiting";
}

/** A finished vehicle as shown in the feed, the page and `etc-lane status`. */
export interface VehicleRecordView {
  seq: number;
  /**
   * where the record was made: `dsrc` the controller at the antenna (a settlement keeps its suspect's
   * path, wherever it was settled), `booth` the booth (the record's `extra.path`, docs/booth.md §7)
   */
  path: "dsrc" | "booth";
  tradeId: string;
  /** commit time */
  at: number;
  kind: "transaction" | "stop" | "suspect";
  /** outcome (transactions, suspects) or stop reason (stops) */
  outcome: string;
  obuId: string;
  obuSerial: string | null;
  cardId: string | null;
  plate: string | null;
  vehicleClass: number | null;
  /** fen */
  amount: number;
  /** the lane's decision time for this vehicle (sum of frame received -> reply sent), ms */
  decisionMs: number | null;
}

export interface ProcessView {
  pid: number;
  startedAt: number;
  uptimeMs: number;
  node: string;
  rssBytes: number;
  heapUsedBytes: number;
}

export interface ClockView {
  /** station clock - lane clock, ms (from the uplink's last exchange); null until measured */
  skewToStationMs: number | null;
  measuredAt: number | null;
}

export interface AuditView {
  /** the trail's last sequence number, null before the first entry */
  lastSeq: number | null;
  lastCheckpoint: { n: number; at: number; to: number } | null;
}

/** The outputs' devices (src/outputs/output-faults.ts): failing now, failures since start, the last one. */
export type OutputsView = OutputFaultsView;

/**
 * The wire capture (docs/capture.md, src/capture/wire-capture.ts): capturing or stopped (for good, until
 * the lane starts again), where, what this run wrote.
 */
export interface CaptureView {
  /** true while it captures; false once it stopped */
  active: boolean;
  dir: string;
  /** the file being written (after a stop: the last one written); null before the first */
  current: string | null;
  /** files this run of the lane started (earlier ones may have been pruned since) */
  files: number;
  /** bytes this run wrote */
  bytes: number;
  /**
   * why and since when it stopped: `disk-margin` (its disk short of the margin kept for the journal) or
   * `write-failed` (the directory or a file could not be written), the error line's text; null while it
   * captures
   */
  stopped: { reason: "disk-margin" | "write-failed"; message: string; at: number } | null;
}

export interface LaneSnapshot {
  /** snapshot format version */
  v: 1;
  /** when the snapshot was built */
  at: number;
  lane: {
    network: string;
    station: string;
    lane: number;
    role: "entry" | "exit";
    /** the lane's configured UTC offset (trade ids and card times use it); outputs format times in it */
    utcOffsetMinutes: number;
  };
  state: LaneStateView;
  rsu: RsuView;
  /** null: no card reader configured */
  reader: LinkView | null;
  /** the lane's own counters (frames, vehicles, transactions, stops, suspects, refusals, inits...) */
  counters: Record<string, number>;
  /** OBUs with a transaction in flight now */
  inFlight: { obuId: string; phase: string }[];
  statusList: StatusListView;
  uplink: UplinkView;
  journal: JournalView;
  /** the queue; `desk`: the booth's own state, null when the lane has no booth */
  booth: { cases: BoothCaseView[]; desk: BoothDeskView | null };
  /**
   * newest first, at most 20: the controller's vehicles, each once, and the booth's records (`path`
   * booth); a suspect settled later is shown settled in its place (same seq), not as another record
   */
  lastTransactions: VehicleRecordView[];
  process: ProcessView;
  clock: ClockView;
  audit: AuditView;
  /** the lane outputs' devices: the event types failing now (OUTPUT_FAILED), failures since start */
  outputs: OutputsView;
  /** the wire capture; null when `capture.enabled` is false */
  capture: CaptureView | null;
}

// ---- the live feed ---------------------------------------------------------------------------------

/** Stage latencies of one vehicle, ms: the lane's own monotonic stamps (absent stages are omitted). */
export interface VehicleStages {
  /** B2 received -> C1 sent */
  b2c1?: number;
  /** B3 received -> C1 sent */
  b3c1?: number;
  /** B4 received -> C6 (or C3) sent */
  b4c6?: number;
  /** B5 received -> barrier open (the durable commit included) */
  b5Barrier?: number;
}

/**
 * What became of a status-list bundle, on the feed: applied (or a failed job that changed the list all
 * the same), `rejected` (refused for itself: src/status-list/errors.ts isBundleRefusal), or `failed` (not
 * applied for the lane's own failure: an operator's import; the uplink's show in the status instead).
 */
export type StatusListAction = "applied" | "rejected" | "failed";

export type LaneFeedEvent =
  | {
      type: "vehicle";
      at: number;
      record: VehicleRecordView;
      stages: VehicleStages;
      /** the durable journal commit, ms */
      commitMs: number | null;
    }
  | {
      type: "lane";
      at: number;
      status: LaneStateView["status"];
      canTrade: boolean;
      reason: string | null;
      detail: string;
    }
  | { type: "link"; at: number; link: "rsu" | "reader" | "station"; status: string; reason: string | null }
  | {
      /**
       * A suspect settled after its vehicle had finished (a late B5 or B8, `etc-lane journal settle`,
       * the booth from the card): the same record (same seq and trade id) in its new revision, which replaces
       * that vehicle's row. Not a vehicle: never counted or timed again.
       */
      type: "settlement";
      /** when it was settled */
      at: number;
      /** the settled record; `decisionMs` is the vehicle's own when the view still has it, else null */
      record: VehicleRecordView;
      /** b5, b8, booth-prove, booth-card or operator (the record's extra.settlement.settledBy) */
      settledBy: string | null;
    }
  | {
      /**
       * A record the booth committed (docs/booth.md §7): a card payment, a `BOOTH_DEBIT_UNCONFIRMED`
       * suspect, a cancelled case's `BOOTH_CANCELLED` stop (or a booth debit a lane without a booth recorded
       * from its intent at start). Its vehicle was counted when its stop at the antenna sent it there (a
       * walk-up's has no such stop): not a vehicle here (no stage or decision time, no chart point);
       * counted in `etc_lane_booth_records_total`.
       */
      type: "booth-record";
      /** commit time */
      at: number;
      record: VehicleRecordView;
      /**
       * the durable journal commit, ms; null when it was not timed (an unconfirmed suspect, a cancel, a
       * booth debit a lane without a booth recorded at start)
       */
      commitMs: number | null;
    }
  | { type: "alarm"; at: number; code: string; message: string }
  | {
      type: "status-list";
      at: number;
      action: StatusListAction;
      versions: { full: string | null; delta: string | null };
      reason: string | null;
    }
  | { type: "booth"; at: number; action: "opened" | "closed"; case: BoothCaseView };

// ---- the trail (search and verify, delegated to the audit trail) -----------------------------------

/** The filters of `etc-lane audit search`, as the page's search form sends them. */
export interface TrailQuery {
  /** wall ms, inclusive */
  since?: number;
  /** wall ms, exclusive */
  until?: number;
  card?: string;
  /** OBU serial or MAC */
  obu?: string;
  plate?: string;
  /** outcome or stop reason code */
  reason?: string;
  /** record kind (transaction, stop, suspect) or event type prefix (lane, alarm, operator, ...) */
  kind?: string;
  /** newest rows wanted; the service asks for at most 200 */
  limit: number;
}

/** One row of the trail: a journal record's entry or a lane event, on one timeline. */
export interface TrailRow {
  /** the trail's sequence number */
  seq: number;
  at: number;
  /** "transaction" | "stop" | "suspect" for journal records, the event type otherwise ("lane.closed") */
  type: string;
  severity: "info" | "warn" | "alarm";
  message: string;
  outcome: string | null;
  cardId: string | null;
  obuId: string | null;
  plate: string | null;
  amount: number | null;
  tradeId: string | null;
}

export interface TrailSearchResult {
  rows: TrailRow[];
  /** true when more rows matched than `limit` */
  truncated: boolean;
  /** how many trail entries the search read (absent: the view does not say) */
  scanned?: number;
  /**
   * The search stopped after SEARCH_SCAN_BUDGET entries without reaching the start of the trail (or
   * `since`): only entries back to `reachedAt` (wall ms) were searched. Absent or null: complete.
   */
  partial?: { reachedAt: number } | null;
}

/**
 * The most trail entries one search of the page reads (newest first); past it the answer is partial.
 * At one vehicle every 2 s this is several days of trail; `etc-lane audit search` reads everything.
 */
export const SEARCH_SCAN_BUDGET = 200_000;

/** The last `audit verify` the lane ran (or the CLI recorded), as the page shows it. */
export interface VerifyView {
  ok: boolean;
  /** true: the run threw instead of ending with a report (no range; `unsealed` not measured) */
  couldNotRun?: boolean;
  at: number;
  /** trail sequence numbers verified */
  range: { from: number; to: number } | null;
  /** entries after the last checkpoint (not yet sealed) */
  unsealed: number;
  /** the first bad record and what is wrong, when !ok */
  problem: string | null;
}

export interface LaneView {
  snapshot(): LaneSnapshot;
  readonly events$: Observable<LaneFeedEvent>;
  /** `signal`: aborted when the asker has gone (its request closed); the search should stop then */
  searchTrail(q: TrailQuery, o?: { signal?: AbortSignal }): TrailSearchResult | Promise<TrailSearchResult>;
  lastVerify(): VerifyView | null;
  /**
   * the newest records the page may show (up to 50, newest first), for a live feed that (re)connects;
   * absent: the snapshot's lastTransactions
   */
  recentRecords?(): VehicleRecordView[];
}

// ---- operator actions (the control socket) --------------------------------------------------------

/**
 * Who asked. Node's Unix sockets give no peer credentials: `name` and `uid` are what the client process
 * reported about itself (os.userInfo()); the socket's mode (0600) is what proves the peer runs as the
 * lane's user or root. docs/maintenance.md says so.
 */
export interface OperatorUser {
  name: string;
  uid: number;
  /** the client's pid and host as it reported them */
  pid: number;
  /** the login sudo named (SUDO_USER) when the client ran as `sudo -u <user> etc-lane ...`; as reported */
  sudoUser?: string | undefined;
  /** "socket": through the running lane; "direct": the CLI on the data directory (no lane running) */
  via: "socket" | "direct";
}

export interface OperatorResult {
  ok: boolean;
  /** one line for the operator: what was done, or why not */
  message: string;
  /** action details (counts, versions) for --json and the audit record */
  data?: Record<string, unknown>;
}

export interface ImportProgress {
  phase: string;
  done: number;
  total: number;
}

/** `etc-lane journal requeue-held --conflicts`: release the records held for a CONFLICT too. */
export interface RequeueHeldOptions {
  conflicts?: boolean;
}

export interface LaneOperator {
  /** Lift an operator's close and let the lane open again when it can (RSU up, journal writable). */
  openLane(user: OperatorUser): Promise<OperatorResult>;
  /** Close the lane (antenna off, vehicles to manual) until openLane; survives link reconnects. */
  closeLane(user: OperatorUser, reason: string): Promise<OperatorResult>;
  /** Verify and apply a signed bundle in the lane itself (versions, filter and cache included). */
  importStatusList(
    file: string,
    user: OperatorUser,
    onProgress?: (p: ImportProgress) => void,
  ): Promise<OperatorResult>;
  /**
   * Put the held records (the station refused them, or failed on them) back into the upload queue; those
   * held for a CONFLICT only with `conflicts` (src/journal/outbox.ts requeueHeld).
   */
  requeueHeld(user: OperatorUser, opts?: RequeueHeldOptions): Promise<OperatorResult>;
  /** Run the journal (and trail) retention now instead of at its next scheduled time. */
  runRetention(user: OperatorUser): Promise<OperatorResult>;
  /** Settle a suspect by hand, as the back office established it (src/lane/operator-settlement.ts). */
  settleSuspect(req: OperatorSettleRequest, user: OperatorUser): Promise<OperatorResult>;
}

export type OperatorAction =
  | "lane.open"
  | "lane.close"
  | "status-list.import"
  | "journal.requeue-held"
  | "journal.retention"
  | "journal.settle"
  /** on a stopped lane only (src/cli/kept-intent.ts) */
  | "journal.resolve-intent";

// ---- helpers for the implementer ---------------------------------------------------------------------

/**
 * Stage latencies from a record's stage times (the controller's names: b2In, c1Out, b3In, c1bOut, b4In,
 * c6Out, b5In) and the barrier instant, all on the same monotonic clock.
 */
export function vehicleStages(
  stageTimes: Record<string, number | string>,
  barrierAt: number | null,
): VehicleStages {
  const n = (k: string): number | undefined => {
    const v = stageTimes[k];
    return typeof v === "number" ? v : undefined;
  };
  const span = (from: number | undefined, to: number | undefined): number | undefined =>
    from !== undefined && to !== undefined && to >= from ? to - from : undefined;
  const s: VehicleStages = {};
  const b2c1 = span(n("b2In"), n("c1Out"));
  if (b2c1 !== undefined) s.b2c1 = b2c1;
  const b3c1 = span(n("b3In"), n("c1bOut"));
  if (b3c1 !== undefined) s.b3c1 = b3c1;
  const b4c6 = span(n("b4In"), n("c6Out") ?? n("c3Out"));
  if (b4c6 !== undefined) s.b4c6 = b4c6;
  const b5b = span(n("b5In"), barrierAt ?? undefined);
  if (b5b !== undefined) s.b5Barrier = b5b;
  return s;
}

/**
 * Counters as the snapshot carries them: flat numbers. A counter kept per frame type (the RSU link's
 * `autoAnswers` and `lateAnswers`) becomes one entry per type, e.g. `autoAnswers.B0`.
 */
export function flattenCounters(
  c: Readonly<Record<string, number | Readonly<Record<string, number>>>>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(c)) {
    if (typeof v === "number") out[k] = v;
    else for (const [sub, n] of Object.entries(v)) out[`${k}.${sub}`] = n;
  }
  return out;
}
