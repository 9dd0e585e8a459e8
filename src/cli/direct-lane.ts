/**
 * Operator actions when no lane is running: the CLI works on the data directory itself, under the
 * data-directory lock (so a lane cannot start meanwhile, and two commands cannot interleave), and writes
 * the same audit record the running lane would (auditedOperator), with `via: "direct"`.
 *
 * The concrete parts (lock, journal, audit trail bound to it) are opened here and only here, so the wiring
 * follows their owners' modules in one file.
 */
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { openJournalTrail } from "../audit/index.js";
import { dialectFromConfig } from "../config/load.js";
import type { LaneConfig } from "../config/schema.js";
import { acquireDataDirLock } from "../datadir/lock.js";
import { Journal, JournalReader } from "../journal/journal.js";
import { currentUser } from "../service/control/client.js";
import type { LaneOperator, OperatorResult, OperatorUser } from "../service/lane-view.js";
import { auditedOperator, type OperatorAuditPort } from "../service/operator-audit.js";

export interface DataDirLockLike {
  release(): void;
}

/** The journal and the trail bound to it, as the lane has them, for one action. */
export interface DirectLaneSession {
  journal: {
    requeueHeld(): number;
    runRetention(): Promise<{ deleted: number; cutoff: string }>;
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

/** The data-directory lock (src/datadir/lock.ts): refused, naming the holder, while a lane or another command has it. */
export async function dataDirLock(dataDir: string, command: string): Promise<DataDirLockLike> {
  return acquireDataDirLock(dataDir, { role: "cli", command });
}

export function directDeps(dataDir: string, config: LaneConfig | null = null): DirectLaneDeps {
  return {
    dataDir,
    config,
    lock: (command) => dataDirLock(dataDir, command),
    open() {
      const reader = JournalReader.openReadOnly(dataDir);
      const laneIdentity = reader.identity();
      reader.close();
      if (!laneIdentity)
        throw new EtcError(
          ErrorCodes.ConfigInvalid,
          `${dataDir}: the journal has no lane identity; is this a lane data directory?`,
        );
      // the lane's own offset and retention when its config is known; requeueing needs neither
      const utcOffsetMinutes = config ? dialectFromConfig(config).utcOffsetMinutes : 480;
      const journal = Journal.open({
        dataDir,
        laneIdentity,
        checkpointIntervalMs: 0,
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
        openLane: async () => notRunning(d.dataDir, "lane open"),
        closeLane: async () => notRunning(d.dataDir, "lane close"),
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
          const r = await j.runRetention();
          return {
            ok: true,
            message: `retention: ${r.deleted} acknowledged record(s) older than ${r.cutoff} deleted`,
            data: { deleted: r.deleted, cutoff: r.cutoff },
          };
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
