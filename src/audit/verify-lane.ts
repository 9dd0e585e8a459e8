/**
 * `audit verify` on a lane's data directory: the trail's files, the spool and head copy the journal
 * hosts, and the journal rows bound to the trail, read without writing anything (safe beside a running
 * lane). The spool and the rows are read in one snapshot of the journal (verify.ts explains why that
 * matters while the lane writes).
 *
 * - No `journal.db`: the rows cannot be checked, and a trail whose records cannot be checked is not
 *   called intact (fail closed, as without a key).
 * - A journal of an older schema (the lane has not started on this version yet): its rows are not bound
 *   yet; the spool is the legacy `audit/spool.db`; the report says the rows were not checked.
 */
import type { KeyObject } from "node:crypto";
import { JournalReader, journalSchemaVersion, SCHEMA_VERSION } from "../journal/journal.js";
import { auditDir } from "./segments.js";
import { readLegacySpool } from "./spool.js";
import { type VerifyReport, verifyTrail } from "./verify.js";

export interface LaneVerifyResult {
  report: VerifyReport;
  /** why the journal rows were not checked (null when they were) */
  journalNote: string | null;
}

export function verifyLaneDataDir(
  dataDir: string,
  key: KeyObject | null,
  o: { laneId?: string | null; signatureCache?: Map<string, boolean> } = {},
): LaneVerifyResult {
  const dir = auditDir(dataDir);
  const base = {
    dir,
    key,
    laneId: o.laneId ?? null,
    ...(o.signatureCache ? { signatureCache: o.signatureCache } : {}),
  };
  const version = journalSchemaVersion(dataDir);
  if (version === null) {
    const report = verifyTrail({ ...base, spool: readLegacySpool(dataDir) });
    report.problems.push({
      seq: null,
      file: null,
      line: null,
      what: `no journal in ${dataDir}: the journal rows (and the head copy) cannot be checked`,
    });
    report.ok = false;
    return { report, journalNote: "journal.db is missing" };
  }
  if (version < SCHEMA_VERSION) {
    return {
      report: verifyTrail({ ...base, spool: readLegacySpool(dataDir) }),
      journalNote: `the journal is at schema version ${version}: its rows are bound from the lane's next start on this version`,
    };
  }
  const reader = JournalReader.openReadOnly(dataDir);
  try {
    const report = reader.snapshot(() =>
      verifyTrail({ ...base, spool: reader.auditSpoolView(), journal: reader.auditBindingView() }),
    );
    return { report, journalNote: null };
  } finally {
    reader.close();
  }
}
