/**
 * `audit verify` on a lane's data directory: the trail's files, the spool and head copy the journal
 * hosts, and the journal rows bound to the trail, read without writing a row (safe beside a running
 * lane; ../journal/read-connection.ts). The spool and the rows are read in one snapshot of the journal
 * (verify-journal.ts explains why that matters while the lane writes).
 *
 * - No `journal.db`: the rows cannot be checked, and a trail whose records cannot be checked is not
 *   called intact (fail closed, as without a key).
 * - A journal without the binding's schema (no `records.audit_seq` column or no `audit_tail` table: the
 *   lane has not started on this version yet, or they were removed): the rows cannot be checked, so the
 *   trail is not called intact either; the spool is the legacy `audit/spool.db`. Whether the journal is
 *   bound is decided from those features, never from `user_version` (anyone who can write the file can set
 *   it); a `user_version` that disagrees with them is reported and everything is checked all the same.
 * - The key is compared with the one beside the log (`audit-key.pub.pem`): a key of another id fails, also
 *   when no checkpoint in the files could show it (a trail with nothing sealed yet); with nothing sealed
 *   and no key beside the log to compare with, the key was not checked, and that fails too.
 * - A key given as an independent copy (`--key`, `givenKey`) must be exercised: with nothing sealed no
 *   signature was checked with it, and the trail is not called intact (an attacker without the key drops
 *   every checkpoint and re-chains the rest; ./verify.ts, VerifyOptions.keyGiven).
 */
import type { KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  AUDIT_BINDING_SINCE,
  JournalReader,
  journalAuditSchema,
  SCHEMA_VERSION,
} from "../journal/journal.js";
import { AUDIT_PUBLIC_KEY_FILE, keyIdOf, publicKeyFromPem } from "./checkpoint.js";
import { auditDir } from "./segments.js";
import { readLegacySpool } from "./spool.js";
import { type VerifyReport, verifyTrail } from "./verify.js";
import type { TailLimits } from "./verify-guards.js";

export interface LaneVerifyResult {
  report: VerifyReport;
  /** why the journal rows were not checked (null when they were) */
  journalNote: string | null;
}

export interface LaneVerifyOptions {
  laneId?: string | null;
  signatureCache?: Map<string, boolean>;
  /** the lane's checkpoint settings, from its config (default: the config's defaults) */
  tailLimits?: TailLimits;
  /** the key is an independent copy (`audit verify --key`), not the one beside the log */
  givenKey?: boolean;
}

export function verifyLaneDataDir(
  dataDir: string,
  key: KeyObject | null,
  o: LaneVerifyOptions = {},
): LaneVerifyResult {
  const result = verifyLaneData(dataDir, key, o);
  if (key) {
    const bad = keyProblem(dataDir, key, result.report.sealed !== null);
    if (bad) {
      // before the other problems without a seq: a wrong key explains a trail that checked nothing with it
      const ps = result.report.problems;
      const at = ps.findIndex((p) => p.seq === null);
      ps.splice(at < 0 ? ps.length : at, 0, { seq: null, file: null, line: null, what: bad });
      result.report.ok = false;
    }
  }
  return result;
}

/** What is wrong with `key` against the lane's public key beside the log, or null. */
function keyProblem(dataDir: string, key: KeyObject, sealed: boolean): string | null {
  const path = join(dataDir, AUDIT_PUBLIC_KEY_FILE);
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (e) {
    // missing only when there is no such file; any other error (EISDIR, EACCES) as it is, as
    // src/cli/commands/audit.ts verifyKey says it
    const why =
      (e as NodeJS.ErrnoException).code === "ENOENT"
        ? "is missing"
        : `cannot be read (${(e as Error).message})`;
    return sealed
      ? null
      : `nothing in the trail is sealed yet and ${path} ${why}: the key (id ${keyIdOf(key)}) could not be checked`;
  }
  let beside: string;
  try {
    beside = keyIdOf(publicKeyFromPem(pem, path));
  } catch (e) {
    return `${path} is not a public key (${(e as Error).message}): the key could not be compared with it`;
  }
  return beside === keyIdOf(key)
    ? null
    : `the key used to verify (id ${keyIdOf(key)}) is not the lane's key beside the log (${AUDIT_PUBLIC_KEY_FILE}, id ${beside}): wrong key, or the key beside the log was replaced`;
}

function verifyLaneData(dataDir: string, key: KeyObject | null, o: LaneVerifyOptions): LaneVerifyResult {
  const dir = auditDir(dataDir);
  const base = {
    dir,
    key,
    laneId: o.laneId ?? null,
    ...(o.signatureCache ? { signatureCache: o.signatureCache } : {}),
    ...(o.tailLimits ? { tailLimits: o.tailLimits } : {}),
    ...(o.givenKey ? { keyGiven: true } : {}),
  };
  const schema = journalAuditSchema(dataDir);
  if (schema === null) {
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
  if (!schema.auditSeq || !schema.auditTail) {
    const report = verifyTrail({ ...base, spool: readLegacySpool(dataDir) });
    const lacks = [schema.auditSeq ? null : "records.audit_seq", schema.auditTail ? null : "audit_tail"]
      .filter((x) => x !== null)
      .join(" and ");
    report.problems.push({
      seq: null,
      file: null,
      line: null,
      what: `journal.db has no ${lacks} (schema version ${schema.userVersion}): the journal rows (and the head copy) cannot be checked; start the lane once on this version to bind them`,
    });
    report.ok = false;
    return { report, journalNote: `the journal is not bound to the trail (no ${lacks})` };
  }
  const reader = JournalReader.openReadOnly(dataDir, { anyVersion: true });
  // a second connection, outside the snapshot: entries past its head copy are judged against it, read
  // after the files (verify.ts, VerifyOptions.freshJournal)
  let freshReader: JournalReader;
  try {
    freshReader = JournalReader.openReadOnly(dataDir, { anyVersion: true });
  } catch (e) {
    reader.close();
    throw e;
  }
  try {
    const report = reader.snapshot(() =>
      verifyTrail({
        ...base,
        spool: reader.auditSpoolView(),
        journal: reader.auditBindingView(),
        freshJournal: freshReader.auditBindingView(),
      }),
    );
    if (schema.userVersion < AUDIT_BINDING_SINCE || schema.userVersion > SCHEMA_VERSION) {
      report.problems.push({
        seq: null,
        file: null,
        line: null,
        what: `journal.db says schema version ${schema.userVersion} but has the audit binding of versions ${AUDIT_BINDING_SINCE}-${SCHEMA_VERSION} (its user_version was changed)`,
      });
      report.ok = false;
    }
    return { report, journalNote: null };
  } finally {
    // the second connection found the first's -wal and is read-only; the first closes last, so that on a
    // stopped lane's journal its close removes the -wal and -shm it made (src/journal/read-connection.ts)
    freshReader.close();
    reader.close();
  }
}
