/**
 * Operator actions when no lane is running: the CLI works on the data directory itself, under the
 * data-directory lock (so a lane cannot start meanwhile, and two commands cannot interleave), and writes
 * the same audit record the running lane would (auditedOperator), with `via: "direct"`. `lane close` and
 * `lane open` write the operator's close as the lane keeps it (a journal setting the lane reads at start),
 * so a lane started after a close stays closed until `lane open`.
 *
 * The concrete parts (lock, journal, audit trail bound to it) are opened here and only here, so the wiring
 * follows their owners' modules in one file.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { LaneEvents, openJournalTrail } from "../audit/index.js";
import { refuseForeignJournal } from "../config/journal-owner.js";
import { dialectFromConfig } from "../config/load.js";
import type { LaneConfig } from "../config/schema.js";
import { acquireDataDirLock } from "../datadir/lock.js";
import { checkDataDirWriter } from "../datadir/writer.js";
import { JOURNAL_FILE, Journal, JournalReader } from "../journal/journal.js";
import type { CommittedRecord, Settlement } from "../journal/types.js";
import type { RetentionReport } from "../journal/upkeep.js";
import {
  OPERATOR_CLOSE_SETTING,
  openedData,
  operatorCloseBy,
  operatorDetail,
  operatorLabel,
  parseOperatorClose,
} from "../lane/lane-gate.js";
import { operatorSettlement, settledResult } from "../lane/operator-settlement.js";
import { auditApplied, auditApplyFailed } from "../lane/status-list-audit.js";
import { currentUser } from "../service/control/client.js";
import type { ImportProgress, LaneOperator, OperatorResult, OperatorUser } from "../service/lane-view.js";
import { auditedOperator, type OperatorAuditPort } from "../service/operator-audit.js";
import { runRetentionNow } from "../service/retention-now.js";
import { importAppliedMessage, importFailedResult, importResultData } from "../status-list/import-message.js";
import type { ApplyResult } from "../status-list/types.js";

export interface DataDirLockLike {
  release(): void;
}

/** The journal and the trail bound to it, as the lane has them, for one action. */
export interface DirectLaneSession {
  journal: {
    requeueHeld(): number;
    /** never throws: a run that stopped early has its `error` */
    runRetention(): Promise<Pick<RetentionReport, "deleted" | "cutoff" | "error">>;
    get(seq: number): CommittedRecord | null;
    /** durable on return; refused (E607) when the record is no longer an unsettled suspect */
    settle(seq: number, s: Settlement): CommittedRecord;
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

function noJournal(dataDir: string, hint?: string): EtcError {
  return new EtcError(
    ErrorCodes.ConfigInvalid,
    `no lane is running on ${dataDir}, and none has run there (no ${JOURNAL_FILE}): nothing to act on; ` +
      `is --data-dir (or the config's dataDir) right?${hint ? ` (${hint})` : ""}`,
  );
}

/**
 * The data-directory lock (src/datadir/lock.ts): refused, naming the holder, while a lane or another
 * command has it. Before it, with nothing written yet, refused (src/datadir/writer.ts):
 * - a data directory that does not exist, or has no journal (no lane has run there: a mistyped
 *   --data-dir), unless `init` (`status-list import --init`, a list loaded before the lane's first
 *   start: the directory is then created when missing);
 * - when this process runs as another user than the data directory's owner, since every file the
 *   command writes would be that user's and the lane could not use it.
 */
export async function dataDirLock(
  dataDir: string,
  command: string,
  o: { init?: boolean; hint?: string } = {},
): Promise<DataDirLockLike> {
  const init = o.init === true;
  checkDataDirWriter(dataDir, { command, mayCreate: init, ...(o.hint ? { hint: o.hint } : {}) });
  if (!init && !existsSync(join(dataDir, JOURNAL_FILE))) throw noJournal(dataDir, o.hint);
  return acquireDataDirLock(dataDir, { role: "cli", command }, { create: init });
}

export function directDeps(dataDir: string, config: LaneConfig | null = null): DirectLaneDeps {
  return {
    dataDir,
    config,
    lock: (command) => dataDirLock(dataDir, command),
    open() {
      if (!existsSync(join(dataDir, JOURNAL_FILE))) throw noJournal(dataDir);
      // any schema version: Journal.open below migrates an older one as the lane's start does (and refuses
      // a newer one, E602), so an action on a stopped lane is not sent to start the lane first
      const reader = JournalReader.openReadOnly(dataDir, { anyVersion: true });
      const laneIdentity = reader.identity();
      reader.close();
      if (!laneIdentity)
        throw new EtcError(
          ErrorCodes.ConfigInvalid,
          `${dataDir}: the journal has no lane identity; is this a lane data directory?`,
        );
      // another lane's config is never applied to this journal (its role, retention, keys): nothing written yet
      if (config) refuseForeignJournal(config, dataDir, laneIdentity);
      // the lane's own offset and retention when its config is known; requeueing needs neither
      const utcOffsetMinutes = config ? dialectFromConfig(config).utcOffsetMinutes : 480;
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
    },
  };
}

function notRunning(dataDir: string, what: string): OperatorResult {
  return {
    ok: false,
    message: `no lane is running on ${dataDir}: ${what} acts on a running lane (start it with etc-lane run --config FILE)`,
  };
}

/** Runs one operator action on the data directory, under its lock, audited. */
export async function runDirect(
  d: DirectLaneDeps,
  command: string,
  fn: (op: LaneOperator, user: OperatorUser) => Promise<OperatorResult>,
): Promise<OperatorResult> {
  const lock = await d.lock(command);
  try {
    const session = d.open();
    try {
      const j = session.journal;
      const inner: LaneOperator = {
        // the operator's close is a journal setting: the lane reads it when it starts (LaneGate)
        async openLane(user) {
          const v = j.readSetting(OPERATOR_CLOSE_SETTING);
          if (v === null) return { ok: true, message: "the lane was not closed by an operator" };
          const was = parseOperatorClose(v);
          j.writeSetting(OPERATOR_CLOSE_SETTING, null);
          return {
            ok: true,
            message: `close lifted by ${operatorLabel(user.name, user.sudoUser)}; the lane opens when it starts (RSU up, journal writable)`,
            data: openedData(was),
          };
        },
        async closeLane(user, reason) {
          const v = j.readSetting(OPERATOR_CLOSE_SETTING);
          if (v !== null) {
            const cur = parseOperatorClose(v);
            return { ok: true, message: `lane already ${operatorDetail(cur)}`, data: { ...cur } };
          }
          const close = operatorCloseBy(user, reason, Date.now());
          j.writeSetting(OPERATOR_CLOSE_SETTING, JSON.stringify(close));
          return {
            ok: true,
            message: `lane ${operatorDetail(close)}; it starts closed until etc-lane lane open`,
            data: { ...close },
          };
        },
        importStatusList: async () => notRunning(d.dataDir, "importing through the lane"),
        async requeueHeld() {
          const n = j.requeueHeld();
          return {
            ok: true,
            message: `${n} held record(s) back in the upload queue`,
            data: { requeued: n },
          };
        },
        async runRetention() {
          if (!d.config)
            return {
              ok: false,
              message:
                "retention deletes records: give --config FILE (the lane's config) so it keeps the lane's journal.retentionDays",
            };
          // a journal run that stopped with an error is a failure (src/service/retention-now.ts)
          return runRetentionNow({
            journal: j,
            audit: {
              notRun: "without a running lane only the journal's runs (the lane runs the trail's every hour)",
            },
          });
        },
        async settleSuspect(req, user) {
          if (!d.config)
            return {
              ok: false,
              message:
                "settling by hand names the lane's role (an entry write or an exit debit): give --config FILE (the lane's config)",
            };
          const plan = operatorSettlement(j.get(req.seq), req, d.config.lane.role, user);
          if (!plan.ok) return plan;
          return settledResult(
            j.settle(req.seq, plan.settlement),
            "the lane no longer holds its card and OBU for it when it starts",
          );
        },
      };
      return await fn(auditedOperator(inner, session.audit), { ...currentUser(), via: "direct" });
    } finally {
      await session.close();
    }
  } finally {
    lock.release();
  }
}

/**
 * `etc-lane status-list import` when no lane answers: the bundle is applied to the data directory's list
 * under the data-directory lock. When a lane has run there (there is a journal), the import is recorded
 * in its trail as the running lane would record it (`operator.status-list.import` with `via: "direct"`,
 * and `status-list.applied` or `status-list.refused` with source "operator"). A data directory no lane
 * has run in yet (a list loaded before the first start) has no trail to record it in, and is taken only
 * with `init` (`--init`), which also creates it when missing: without it, a missing data directory or
 * journal is refused as a mistyped --data-dir, with nothing created.
 * Returns the import's result as the running lane gives it (its words from
 * src/status-list/import-message.ts; `data`, the apply result, when the list took the bundle), the list's
 * refusal included (ok: false); throws what kept the import from being tried (the checks, the lock).
 */
export async function importStatusListDirect(
  dataDir: string,
  config: LaneConfig | null,
  file: string,
  apply: (onProgress?: (p: ImportProgress) => void) => Promise<ApplyResult>,
  onProgress?: (p: ImportProgress) => void,
  o: { init?: boolean } = {},
): Promise<{ result: OperatorResult; recorded: boolean }> {
  const lock = await dataDirLock(dataDir, "etc-lane status-list import", {
    init: o.init === true,
    hint: "to load a list into a data directory before the lane's first start, give --init",
  });
  try {
    if (!existsSync(join(dataDir, JOURNAL_FILE))) {
      let result: OperatorResult;
      try {
        const r = await apply(onProgress);
        result = { ok: true, message: importAppliedMessage(r), data: importResultData(r) };
      } catch (e) {
        result = importFailedResult(e);
      }
      return { result, recorded: false };
    }
    const session = directDeps(dataDir, config).open();
    try {
      const events = new LaneEvents(session.audit);
      const inner: LaneOperator = {
        openLane: async () => notRunning(dataDir, "lane open"),
        closeLane: async () => notRunning(dataDir, "lane close"),
        requeueHeld: async () => notRunning(dataDir, "requeue"),
        runRetention: async () => notRunning(dataDir, "retention"),
        settleSuspect: async () => notRunning(dataDir, "settle"),
        async importStatusList(f, _user, progress) {
          let applied: ApplyResult;
          try {
            applied = await apply(progress);
          } catch (e) {
            auditApplyFailed(events, e, f, "operator");
            return importFailedResult(e);
          }
          auditApplied(events, applied, f, "operator");
          return { ok: true, message: importAppliedMessage(applied), data: importResultData(applied) };
        },
      };
      const result = await auditedOperator(inner, session.audit).importStatusList(
        resolve(file),
        { ...currentUser(), via: "direct" },
        onProgress,
      );
      return { result, recorded: true };
    } finally {
      await session.close();
    }
  } finally {
    lock.release();
  }
}
