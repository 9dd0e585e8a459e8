/**
 * A stopped lane's journal and audit trail, opened by a CLI command for one action: the journal as the
 * lane opens it (its identity checked against the config, E604; an older schema migrated as the lane's
 * start does) and the same trail bound to it, sealed as the lane seals. The caller holds the
 * data-directory lock (./data-dir-access.ts). The concrete parts are opened here and only here.
 */
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { DEFAULT_LEGACY_DIALECT } from "../../firmware-bridge/frames/dialect.js";
import { openJournalTrail } from "../audit/index.js";
import { refuseForeignJournal } from "../config/journal-owner.js";
import { dialectFromConfig } from "../config/load.js";
import type { LaneConfig } from "../config/schema.js";
import { Journal, JournalReader } from "../journal/journal.js";
import type { RequeueHeldResult } from "../journal/outbox.js";
import type { CommittedRecord, Settlement } from "../journal/types.js";
import type { RetentionReport } from "../journal/upkeep.js";
import type { OperatorAuditPort } from "../service/operator-audit.js";
import { type DataDirLockLike, dataDirLock, hasJournal, noJournal } from "./data-dir-access.js";
import { storedLaneOffset } from "./stored-offset.js";

/** The journal and the trail bound to it, as the lane has them, for one action. */
export interface DirectLaneSession {
  journal: {
    /** those held for a CONFLICT only with `conflicts` (src/journal/outbox.ts requeueHeld) */
    requeueHeld(at?: Date, opts?: { conflicts?: boolean }): RequeueHeldResult;
    /** never throws: a run that stopped early has its `error` */
    runRetention(): Promise<Pick<RetentionReport, "deleted" | "cutoff" | "error">>;
    get(seq: number): CommittedRecord | null;
    /** a suspect journal.db lacks, kept from the audit trail, rebuilt (src/journal/rebuilt-suspect.ts), or null */
    keptSuspect(seq: number): CommittedRecord | null;
    /**
     * an open debit intent kept when journal.db was found behind the audit trail, resolved by an operator
     * (src/journal/journal.ts resolveKeptIntent); durable on return, E607 for any other id
     */
    resolveKeptIntent(id: number, how: "resolved" | "recover"): { id: number; key: string; payload: string };
    /** durable on return; refused (E607) when the record is no longer an unsettled suspect */
    settle(seq: number, s: Settlement): CommittedRecord;
    /**
     * the seq of an unsettled suspect naming this card or OBU (one kept from the audit trail too), or an
     * open debit intent's id (a kept one too), else null: what holds them when the lane starts
     */
    openSuspectOf(k: { cardId?: string | null; obuSerial?: string | null }): number | null;
    openIntentOf(k: { cardId?: string | null; obuSerial?: string | null }): number | null;
    /** lane settings (the operator's close, OPERATOR_CLOSE_SETTING): durable on return */
    readSetting(key: string): string | null;
    writeSetting(key: string, value: string | null): void;
  };
  audit: OperatorAuditPort;
  /** the trail first (sealed with a last checkpoint), then the journal */
  close(): Promise<void>;
}

export interface DirectLaneDeps {
  dataDir: string;
  /** takes the data-directory lock or throws (E410 naming the holder) */
  lock(command: string): Promise<DataDirLockLike>;
  /** the lane's config when the command was given one (retention needs its journal.retentionDays) */
  config: LaneConfig | null;
  open(): DirectLaneSession;
}

export function directDeps(dataDir: string, config: LaneConfig | null = null): DirectLaneDeps {
  return {
    dataDir,
    config,
    lock: (command) => dataDirLock(dataDir, command),
    open: () => openDirectSession(dataDir, config),
  };
}

function openDirectSession(dataDir: string, config: LaneConfig | null): DirectLaneSession {
  if (!hasJournal(dataDir)) throw noJournal(dataDir);
  // any schema version: Journal.open below migrates an older one as the lane's start does (and refuses
  // a newer one, E602), so an action on a stopped lane is not sent to start the lane first
  const reader = JournalReader.openReadOnly(dataDir, { anyVersion: true });
  let laneIdentity: ReturnType<JournalReader["identity"]>;
  let storedOffset: number | null;
  try {
    laneIdentity = reader.identity();
    storedOffset = config ? null : storedLaneOffset(dataDir, reader);
  } finally {
    reader.close();
  }
  if (!laneIdentity)
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `${dataDir}: the journal has no lane identity; is this a lane data directory?`,
    );
  // another lane's config is never applied to this journal (its role, retention, keys): nothing written yet
  if (config) refuseForeignJournal(config, dataDir, laneIdentity);
  // the lane's own offset and retention when its config is known; requeueing needs neither. Without the
  // config, the offset the lane wrote its newest record or trail entry in (the operator entry written
  // here is read by `audit search` in the lane's offset); the dialects' default (480) for a lane that
  // wrote neither
  const utcOffsetMinutes = config
    ? dialectFromConfig(config).utcOffsetMinutes
    : (storedOffset ?? DEFAULT_LEGACY_DIALECT.utcOffsetMinutes);
  const journal = Journal.open({
    dataDir,
    laneIdentity,
    checkpointIntervalMs: 0,
    // a one-action session: the lane's own start checks the file (a damaged one is refused at open
    // here too, by its note: src/journal/db.ts)
    integrityCheck: false,
    utcOffsetMinutes,
    retention: { intervalMs: 0, ...(config ? { days: config.journal.retentionDays } : {}) },
  });
  // the same trail the lane writes, bound to the journal as the lane binds it (retention's
  // journal.retention entries commit with the deletions); the lane is stopped: this command holds the
  // data-directory lock
  let trail: ReturnType<typeof openJournalTrail>;
  try {
    trail = openJournalTrail(journal, {
      dataDir,
      lane: laneIdentity,
      utcOffsetMinutes,
      // a one-action session: sealed on close, no timers of its own
      retentionCheckMs: 0,
      witness: false,
      // sealed as the lane seals (`audit verify` judges the unsealed tail by the config's settings)
      ...(config
        ? {
            checkpointEvery: config.audit.checkpointEvery,
            checkpointIntervalMs: config.audit.checkpointIntervalSeconds * 1000,
          }
        : {}),
    });
  } catch (e) {
    journal.close();
    throw e;
  }
  return {
    journal,
    audit: { append: (e) => trail.append(e) },
    async close() {
      try {
        await trail.close();
      } finally {
        journal.close();
      }
    },
  };
}
