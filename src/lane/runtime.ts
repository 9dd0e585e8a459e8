/**
 * Composition of one lane process from its config: transport, RSU link, codec, journal, status list,
 * tariff, audit, uplink, outputs and the controller. `etc-lane run` and the simulator demo both use it;
 * the demo passes its own in-process transport, nothing else differs.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { type RsuLinkOptionsInput, resolveRsuLinkOptions } from "../../firmware-bridge/link/options.js";
import { RsuLink } from "../../firmware-bridge/link/rsu-link.js";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import type { ReaderOptionsInput } from "../../firmware-bridge/reader/options.js";
import { createSerialTransport } from "../../firmware-bridge/transport/serial.js";
import { createTcpClientTransport } from "../../firmware-bridge/transport/tcp.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import { type AuditTrail, connectLaneTrail, type FileDigest, openJournalTrail } from "../audit/index.js";
import { type BoothWiring, openBooth } from "../booth/wiring.js";
import { openWireCapture, type WireCapture } from "../capture/wire-capture.js";
import { dialectFromConfig } from "../config/load.js";
import type { LaneConfigProblem } from "../config/preflight.js";
import { type LaneConfig, laneTariffPath, rsuTcpPort } from "../config/schema.js";
import { readTokenFile } from "../config/token-file.js";
import { ensureDataDir } from "../datadir/create.js";
import { acquireDataDirLock, type DataDirLock } from "../datadir/lock.js";
import { JOURNAL_FILE, Journal } from "../journal/index.js";
import { laneLabel } from "../journal/trade-id.js";
import type { LaneIdentity } from "../journal/types.js";
import type { SyncFile } from "../journal/wal-sync.js";
import { consoleOutputs } from "../outputs/console-outputs.js";
import { guardedOutputs } from "../outputs/guarded-outputs.js";
import { OutputFaults } from "../outputs/output-faults.js";
import type { LaneOutputEvent, LaneOutputs } from "../outputs/outputs.js";
import { logOutputs } from "../outputs/sinks.js";
import { createRsuCodec } from "../rsu/driver-codec.js";
import { resultCodeTable } from "../rsu/result-codes.js";
import {
  type ApplyOptions,
  type ApplyResult,
  StatusListCache,
  statusListTuning,
} from "../status-list/index.js";
import { type LoadedTariff, Tariff } from "../tariff/tariff.js";
import { Uplink } from "../uplink/index.js";
import { APP_VERSION } from "../version.js";
import { LaneController } from "./controller.js";
import { LaneStatusListApplies } from "./status-list-applies.js";
import { sameVersionNote, sameVersionOtherTable } from "./tariff-reuse.js";

export interface LaneRuntimeDeps {
  /** overrides rsu.port (the demo's in-process pair, a test pty) */
  transport?: Transport;
  logger?: Logger;
  outputs?: LaneOutputs;
  /** extra link options (tests shorten the auto-ack or dedupe window) */
  link?: RsuLinkOptionsInput;
  /** false: no station uplink even if configured (tests, demo) */
  uplink?: boolean;
  wallNow?: () => number;
  /** the config file the lane was started with, for the audit trail's lane.start entry (etc-lane run) */
  configFile?: FileDigest;
  /** the software version written in lane.start */
  appVersion?: string;
  /** overrides reader.port (tests: an in-process pair); only with a `reader` section */
  readerTransport?: Transport;
  /** extra reader driver options (tests shorten timeouts, turn pings off) */
  readerOptions?: ReaderOptionsInput;
  /** the bound on the outputs' close (default OUTPUTS_CLOSE_TIMEOUT_MS, src/outputs/guarded-outputs.ts); tests shorten it */
  outputsCloseTimeoutMs?: number;
  /** the fdatasync that makes a debit intent durable (src/journal/wal-sync.ts); tests make it fail */
  journalSyncFile?: SyncFile;
  /** the bytes free on the wire capture's disk (default statfs); tests stand in a disk short of its margin */
  captureFreeBytes?: (dir: string) => number;
}

export interface LaneRuntime {
  readonly controller: LaneController;
  readonly link: RsuLink;
  readonly journal: Journal;
  readonly statusList: StatusListCache;
  readonly tariff: Tariff | null;
  /**
   * What deserves a word about the tariff loaded, as `field: why` (`run` logs them with its start notes):
   * a version the lane loaded before with other bytes (./tariff-reuse.ts)
   */
  readonly tariffNotes: readonly LaneConfigProblem[];
  readonly audit: AuditTrail;
  readonly uplink: Uplink | null;
  /** held for the life of the lane: no other writer of its data directory (src/datadir/lock.ts) */
  readonly dataDirLock: DataDirLock;
  /** the outputs' devices failing now (OUTPUT_FAILED, src/outputs/output-faults.ts) */
  readonly outputFaults: OutputFaults;
  /** the booth and its card reader (docs/booth.md), null without a `reader` section */
  readonly booth: BoothWiring["booth"] | null;
  readonly reader: BoothWiring["reader"] | null;
  /** the wire capture (docs/capture.md), null when `capture.enabled` is false; its `status()` says whether it stopped */
  readonly capture: WireCapture | null;
  /**
   * Applies a signed bundle (a path or its bytes) that does not come from the station's uplink (an
   * operator's import, a demo's list) and records it in the trail: `status-list.applied` with the versions
   * the lane then holds, or `status-list.refused` with the reason (and rethrows); one the lane's close
   * abandons (E512) is no refusal and has no entry (./status-list-applies.ts). The uplink records the
   * lists it fetches itself (src/uplink/status-list-poller.ts), with the bundle's name and size.
   */
  applyStatusList(bundle: string | Uint8Array, source: string, opts?: ApplyOptions): Promise<ApplyResult>;
  close(): Promise<void>;
}

export function transportFor(c: LaneConfig): Transport {
  // the same reading of tcp://host:port the config's schema checks (src/config/schema.ts)
  const tcp = rsuTcpPort(c.rsu.port);
  if (tcp) {
    return createTcpClientTransport({
      host: tcp.host,
      port: tcp.port,
      keepAliveMs: c.rsu.link.tcpKeepaliveMs,
    });
  }
  if (c.rsu.port.startsWith("tcp:")) {
    throw new EtcError(ErrorCodes.ConfigInvalid, `rsu.port: expected tcp://host:port, got "${c.rsu.port}"`);
  }
  return createSerialTransport({ path: c.rsu.port, baudRate: c.rsu.baudRate });
}

export async function openLane(c: LaneConfig, deps: LaneRuntimeDeps = {}): Promise<LaneRuntime> {
  const logger = deps.logger ?? silentLogger;
  const dialect = dialectFromConfig(c);
  const tariffPath = laneTariffPath(c);
  const tariff = tariffPath !== null ? Tariff.loadFor(tariffPath, c.lane) : null;
  // read before anything is opened or written: a bad key or token file is a config error with no side effect
  const publicKeyPem = readStatusListKey(c);
  const stationToken =
    c.station?.tokenFile !== undefined && deps.uplink !== false
      ? readTokenFile(c.station.tokenFile, "station.tokenFile")
      : undefined;
  ensureDataDir(c.dataDir); // 0700 when the lane creates it (src/datadir/create.ts)
  // one writer per data directory, for the life of the lane (released last, in close)
  const laneIdentity = { network: c.lane.network, station: c.lane.station, lane: c.lane.lane };
  const dataDirLock = acquireDataDirLock(c.dataDir, {
    role: "lane",
    command: `lane ${laneLabel(c.lane)}`,
  });
  const cleanups: (() => Promise<void> | void)[] = [() => dataDirLock.release()];
  // the journal's retention reports to the trail and asks the controller, both opened after it
  const late: { audit?: AuditTrail; controller?: LaneController } = {};
  try {
    const journal = openLaneJournal(
      c,
      laneIdentity,
      dialect.utcOffsetMinutes,
      logger,
      late,
      deps.journalSyncFile,
    );
    cleanups.unshift(() => journal.close());
    const statusList = await StatusListCache.open({
      dataDir: c.dataDir,
      publicKeyPem,
      logger,
      // the limits, overlay threshold and the station's version offset (statusList.versionUtcOffsetMinutes,
      // docs/status-list.md section 3, "Clocks") `etc-lane status-list` uses too
      ...statusListTuning(c.statusList),
    });
    cleanups.unshift(() => statusList.close());
    // the trail raises its recovery alarms (AUDIT_DAMAGED, AUDIT_JOURNAL_BEHIND, ...) while it opens, before
    // the outputs exist: they wait here and go out once the outputs are built (docs/audit.md)
    const alarmsBeforeOutputs: LaneOutputEvent[] = [];
    const outputsForAlarms: { emit: LaneOutputs["emit"] } = {
      emit: (ev) => {
        alarmsBeforeOutputs.push(ev);
      },
    };
    const audit = openLaneTrail(
      c,
      journal,
      laneIdentity,
      dialect.utcOffsetMinutes,
      deps,
      logger,
      (code, message) => outputsForAlarms.emit({ type: "alarm", code, message, at: Date.now() }),
    );
    late.audit = audit;
    cleanups.unshift(() => audit.close());
    const { notes: tariffNotes, keepTariff } = recordLaneStart(
      audit,
      c,
      deps,
      { tariff, journal, logger },
      statusList,
    );
    // its stop is a CAPTURE_STOPPED alarm in the trail (src/capture/wire-capture.ts)
    const capture = openWireCapture(c, {
      logger,
      events: audit.events,
      ...(deps.captureFreeBytes ? { freeBytes: deps.captureFreeBytes } : {}),
    });
    if (capture) cleanups.unshift(() => capture.close());
    const link = openRsuLink(c, dialect, deps, capture, logger);
    // a device that keeps failing is an alarm in the trail (OUTPUT_FAILED), not only an error line a minute
    const outputFaults = new OutputFaults({ audit: () => audit, log: logger });
    const outputs = guardedOutputs(
      deps.outputs ??
        (c.outputs.sink === "console"
          ? consoleOutputs(undefined, { fullIds: c.log.fullIds })
          : logOutputs(logger)),
      logger,
      Date.now,
      {
        faults: outputFaults,
        ...(deps.outputsCloseTimeoutMs !== undefined ? { closeTimeoutMs: deps.outputsCloseTimeoutMs } : {}),
      },
    );
    outputsForAlarms.emit = (ev) => outputs.emit(ev);
    for (const ev of alarmsBeforeOutputs.splice(0)) outputs.emit(ev);
    // an IO board's close (the light red, its port released; the barrier left to its loop): after the controller and
    // the booth stopped (added later, closed first), before the trail; bounded (OUTPUTS_CLOSE_TIMEOUT_MS):
    // a board whose close never settles does not keep the trail, journal and lock open
    cleanups.unshift(() => outputs.close?.());
    const controller = newLaneController(c, deps, {
      link,
      dialect,
      journal,
      statusList,
      tariff,
      outputs,
      audit,
      logger,
    });
    late.controller = controller;
    // before the booth's reader goes live: a card read while the lane starts (the status service starts
    // before the controller: src/cli/commands/run.ts) meets the guards of the trades before the restart
    controller.seedGuards();
    // the booth: the card reader of the `reader` section and the collector's cases (docs/booth.md)
    const booth = c.reader
      ? await openBooth(c, {
          controller,
          journal,
          tariff,
          dialect,
          outputs,
          audit,
          logger,
          capture,
          ...(deps.readerTransport ? { transport: deps.readerTransport } : {}),
          ...(deps.readerOptions ? { readerOptions: deps.readerOptions } : {}),
          ...(deps.wallNow ? { wallNow: deps.wallNow } : {}),
        })
      : null;
    if (booth) cleanups.unshift(() => booth.close());
    // the lane's events into the trail (src/audit/lane-trail.ts); the booth writes its reader's link
    const laneTrail = connectLaneTrail(audit.events, { controller, journal, rsuPort: c.rsu.port }, logger);
    cleanups.unshift(() => laneTrail.unsubscribe());
    const uplink =
      c.station && deps.uplink !== false
        ? startUplink(c.station, c.dataDir, stationToken, {
            appVersion: deps.appVersion ?? APP_VERSION,
            journal,
            laneIdentity,
            statusList,
            audit,
            logger,
          })
        : null;
    // the first close step: the uplink stopped, then the status list closed before the trail, abandoning an
    // apply under way, the uplink's or an operator's, not waited for (a full list's build takes tens of
    // seconds; the list served unchanged, or the one the worker switched `current` to served at the next
    // start: src/status-list/apply.ts), and each apply's outcome recorded before the trail closes
    // (./status-list-applies.ts)
    const applies = new LaneStatusListApplies(statusList, audit, logger);
    cleanups.unshift(() => applies.close(uplink));
    // the lane has opened: its tariff is the one the next start compares with (./tariff-reuse.ts). Not
    // before: a start that failed on the way would have kept it, and the next start, with the same table,
    // would say nothing of the version it shares with the table before, which `run` never logged
    keepTariff();
    return {
      controller,
      link,
      journal,
      statusList,
      tariff,
      tariffNotes,
      audit,
      uplink,
      dataDirLock,
      outputFaults,
      booth: booth?.booth ?? null,
      reader: booth?.reader ?? null,
      capture: capture ?? null,
      applyStatusList: (bundle, source, opts) => applies.apply(bundle, source, opts),
      close: async () => {
        await booth?.close();
        await controller.stop();
        try {
          audit.events.laneStopped("closed");
        } catch (e) {
          logger.warn({ err: (e as Error).message }, "audit append failed");
        }
        await runCleanups(cleanups, (e) => logger.warn({ err: (e as Error).message }, "close step failed"));
      },
    };
  } catch (e) {
    // the original error is the one to report
    await runCleanups(cleanups, () => {});
    throw e;
  }
}

/**
 * Every close step in order, even when one throws (synchronously or not): the data-directory lock, added
 * first, is the last.
 */
async function runCleanups(
  cleanups: readonly (() => Promise<void> | void)[],
  onError: (e: unknown) => void,
): Promise<void> {
  for (const f of cleanups) {
    try {
      await f();
    } catch (e) {
      onError(e);
    }
  }
}

/**
 * The trail's first entries of a run: `lane.start`, the tariff's digest and version, the list's versions.
 * Returns the notes on the tariff (a version the lane loaded before with other bytes: ./tariff-reuse.ts)
 * and `keepTariff`, which keeps this tariff in the journal for the next start's comparison (called once
 * the lane has opened).
 */
function recordLaneStart(
  audit: AuditTrail,
  c: LaneConfig,
  deps: LaneRuntimeDeps,
  t: { tariff: LoadedTariff | null; journal: Journal; logger: Logger },
  statusList: StatusListCache,
): { notes: LaneConfigProblem[]; keepTariff: () => void } {
  const { tariff } = t;
  audit.events.laneStarted({
    version: deps.appVersion ?? APP_VERSION,
    pid: process.pid,
    lane: audit.laneId,
    role: c.lane.role,
    config: deps.configFile ?? null,
  });
  // the digest of the bytes the tariff was parsed from (a file replaced since is not the table charged)
  const notes: LaneConfigProblem[] = [];
  let keepTariff = (): void => {};
  if (tariff) {
    const { before, keep } = sameVersionOtherTable(t.journal, tariff.file, tariff.version, (e) =>
      t.logger.warn(
        { err: (e as Error).message },
        "the tariff loaded could not be compared with or kept in the journal",
      ),
    );
    keepTariff = keep;
    audit.events.tariffLoaded(tariff.file, tariff.version, before ?? undefined);
    if (before) notes.push({ path: "tariff", message: sameVersionNote(tariff.file, tariff.version, before) });
  }
  audit.events.statusListLoaded(statusList.versions());
  return { notes, keepTariff };
}

/** The controller (the OBU transactions: src/lane/controller.ts) with its config sections. */
function newLaneController(
  c: LaneConfig,
  deps: LaneRuntimeDeps,
  d: {
    link: RsuLink;
    dialect: ReturnType<typeof dialectFromConfig>;
    journal: Journal;
    statusList: StatusListCache;
    tariff: Tariff | null;
    outputs: LaneOutputs;
    audit: AuditTrail;
    logger: Logger;
  },
): LaneController {
  return new LaneController({
    lane: c.lane,
    link: d.link,
    codec: createRsuCodec(d.dialect, resultCodeTable(c.rsu.protocol, c.rsu.dialect.resultCodes)),
    journal: d.journal,
    statusList: d.statusList,
    statusListPolicy: {
      whenMissing: c.statusList.whenMissing,
      whenPastHardAge: c.statusList.whenPastHardAge,
      alarmRepeatMs: c.statusList.alarmRepeatSeconds * 1000,
    },
    tariff: d.tariff,
    outputs: d.outputs,
    boothConfigured: c.reader !== undefined,
    c0: c.rsu.c0,
    timing: c.rsu.timing,
    transaction: c.transaction,
    entryWrite: c.rsu.entryWrite,
    alreadyTradedStopType: c.rsu.alreadyTradedStopType,
    rsuRepeatWindowMs: c.rsu.link.dedupeWindowMs,
    logger: d.logger,
    audit: d.audit,
    ...(deps.wallNow ? { wallNow: deps.wallNow } : {}),
  });
}

function readStatusListKey(c: LaneConfig): string {
  try {
    return readFileSync(c.statusList.publicKey, "utf8");
  } catch (e) {
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `statusList.publicKey: cannot read ${c.statusList.publicKey} (${(e as Error).message})`,
    );
  }
}

/** The journal, with its retention: no batch while a vehicle is in flight, a failed run an alarm. */
function openLaneJournal(
  c: LaneConfig,
  laneIdentity: LaneIdentity,
  utcOffsetMinutes: number,
  logger: Logger,
  late: { audit?: AuditTrail; controller?: LaneController },
  syncFile: SyncFile | undefined,
): Journal {
  return Journal.open({
    ...(syncFile ? { syncFile } : {}),
    dataDir: c.dataDir,
    laneIdentity,
    utcOffsetMinutes,
    retention: {
      days: c.journal.retentionDays,
      intervalMs: c.journal.retentionIntervalMinutes * 60_000,
      batchBudgetMs: c.journal.retentionBatchBudgetMs,
      // no retention batch while a vehicle is in flight: a frame never waits for one
      busy: () => (late.controller?.inFlight().length ?? 0) > 0,
      busyRetryMs: c.journal.retentionBusyRetryMs,
      // each batch's deletions are bound into the trail by the journal itself; a failed run is an alarm
      onRetention: (r) => {
        if (r.error)
          late.audit?.events.journalError({
            code: r.error.code,
            message: `retention stopped after ${r.deleted} record(s): ${r.error.message}`,
            op: "retention",
          });
      },
    },
    recoverProbeMs: c.journal.recoverProbeSeconds * 1000,
    logger,
  });
}

/**
 * The audit trail: its spool is in the journal, and each record is bound into the trail in its own commit
 * transaction (docs/audit.md, "Journal binding").
 */
function openLaneTrail(
  c: LaneConfig,
  journal: Journal,
  laneIdentity: LaneIdentity,
  utcOffsetMinutes: number,
  deps: LaneRuntimeDeps,
  logger: Logger,
  onAlarm: (code: string, message: string) => void,
): AuditTrail {
  return openJournalTrail(journal, {
    dataDir: c.dataDir,
    lane: laneIdentity,
    utcOffsetMinutes,
    checkpointEvery: c.audit.checkpointEvery,
    checkpointIntervalMs: c.audit.checkpointIntervalSeconds * 1000,
    segmentMaxBytes: c.audit.segmentMaxMegabytes * 1024 * 1024,
    retentionDays: c.audit.retentionDays,
    syncIntervalMs: c.audit.syncIntervalMs,
    spoolBatchMs: c.audit.spoolBatchMs,
    witnessConflictRetryMs: c.audit.witnessConflictRetrySeconds * 1000,
    witnessRetryMs: c.audit.witnessRetrySeconds * 1000,
    witnessQueueMax: c.audit.witnessQueueMax,
    witness: c.station !== undefined && deps.uplink !== false,
    logger,
    onAlarm,
    // a record's line is built in a worker from the committed row (docs/audit.md, "Cost")
    recordLineWorker: { journalFile: join(c.dataDir, JOURNAL_FILE) },
  });
}

/** The RSU link over the configured transport (or the one given), through the wire capture if one is on. */
function openRsuLink(
  c: LaneConfig,
  dialect: ReturnType<typeof dialectFromConfig>,
  deps: LaneRuntimeDeps,
  capture: ReturnType<typeof openWireCapture>,
  logger: Logger,
): RsuLink {
  const port = deps.transport ?? transportFor(c);
  const linkOptions: RsuLinkOptionsInput = {
    heartbeatPeriodMs: c.rsu.timing.heartbeatPeriodMs,
    missedHeartbeats: c.rsu.timing.missedHeartbeats,
    answerDeadlineMs: c.rsu.link.answerDeadlineMs,
    dedupeWindowMs: c.rsu.link.dedupeWindowMs,
    reconnect: { initialDelayMs: c.rsu.link.backoffInitialMs, maxDelayMs: c.rsu.link.backoffMaxMs },
    deframer: { interByteTimeoutMs: c.rsu.link.interByteTimeoutMs },
    ...deps.link,
  };
  // The capture records the limits the link's deframer applies and the dialect the link speaks, so
  // `decode --capture` and `etc-sim replay` read the capture as the lane did.
  const limits = capture ? resolveRsuLinkOptions(linkOptions).deframer : undefined;
  const transport =
    capture && limits
      ? capture.wrap(
          port,
          "rsu",
          c.rsu.protocol,
          { interByteMs: limits.interByteTimeoutMs, maxFrameLength: limits.maxFrameLength },
          dialect,
        )
      : port;
  return new RsuLink({ transport, dialect, logger, options: linkOptions });
}

/** The station uplink (records out, status lists in, checkpoints to the station's witness), started. */
function startUplink(
  station: NonNullable<LaneConfig["station"]>,
  dataDir: string,
  stationToken: string | undefined,
  d: {
    appVersion: string;
    journal: Journal;
    laneIdentity: LaneIdentity;
    statusList: StatusListCache;
    audit: AuditTrail;
    logger: Logger;
  },
): Uplink {
  const uplink = new Uplink({
    stationUrl: station.url,
    batchSize: station.batchSize,
    requestTimeoutMs: station.requestTimeoutMs,
    breaker: { coolDownMs: station.breakerCoolDownMs },
    statusListPollMs: station.statusListPollMs,
    ...(stationToken !== undefined ? { authToken: stationToken } : {}),
    appVersion: d.appVersion,
    downloadDir: join(dataDir, "downloads"),
    outbox: d.journal,
    lane: d.laneIdentity,
    statusList: d.statusList,
    audit: d.audit,
    auditCheckpoints: d.audit.witness,
    logger: d.logger,
  });
  uplink.start();
  return uplink;
}
