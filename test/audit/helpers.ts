/** Shared by the audit tests: a trail in a temporary data directory, and verification of it. */
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { AUDIT_PUBLIC_KEY_FILE, publicKeyFromPem } from "../../src/audit/checkpoint.js";
import { type AuditEntry, type AuditEventInput, buildLine } from "../../src/audit/entry.js";
import { openJournalTrail } from "../../src/audit/journal-trail.js";
import type { RecordBinding } from "../../src/audit/records.js";
import { auditDir, listSegments } from "../../src/audit/segments.js";
import { type AuditSpool, MemoryAuditSpool } from "../../src/audit/spool.js";
import { AuditTrail, type AuditTrailOptions } from "../../src/audit/trail.js";
import { type JournalBindingView, type VerifyReport, verifyTrail } from "../../src/audit/verify.js";
import { verifyLaneDataDir } from "../../src/audit/verify-lane.js";
import { parseLaneConfig } from "../../src/config/load.js";
import type { LaneConfig } from "../../src/config/schema.js";
import { JOURNAL_FILE, Journal, type JournalOptions } from "../../src/journal/journal.js";
import { type LaneRuntime, openLane } from "../../src/lane/runtime.js";
import { localIso } from "../../src/local-time.js";

export const LANE = { network: "4301", station: "0102", lane: 3 } as const;

export function tempDir(prefix = "etc-audit-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }) };
}

export function openTrail(
  dataDir: string,
  spool: AuditSpool = new MemoryAuditSpool(),
  opts: Partial<AuditTrailOptions> = {},
): AuditTrail {
  return AuditTrail.open({
    dataDir,
    lane: LANE,
    utcOffsetMinutes: 480,
    spool,
    checkpointIntervalMs: 0,
    retentionCheckMs: 0,
    ...opts,
  });
}

/** The lane's journal in `dataDir`, as the lane opens it (no WAL checkpoint worker, no retention timer). */
export function openLaneJournal(dataDir: string, extra: Partial<JournalOptions> = {}): Journal {
  return Journal.open({
    dataDir,
    laneIdentity: LANE,
    utcOffsetMinutes: 480,
    checkpointIntervalMs: 0,
    recoverProbeMs: 0,
    ...extra,
    retention: { intervalMs: 0, ...extra.retention },
  });
}

/**
 * The journal and the trail bound to it, as the lane has them (src/audit/journal-trail.ts): the spool in
 * journal.db, every commit, settlement and retention batch bound into the trail. close(): the trail
 * (sealed), then the journal.
 */
export function openBoundTrail(
  dataDir: string,
  opts: Partial<AuditTrailOptions> = {},
  journalOpts: Partial<JournalOptions> = {},
): { journal: Journal; trail: AuditTrail; close(): Promise<void> } {
  const journal = openLaneJournal(dataDir, journalOpts);
  const trail = openJournalTrail(journal, {
    dataDir,
    lane: LANE,
    utcOffsetMinutes: 480,
    checkpointIntervalMs: 0,
    retentionCheckMs: 0,
    ...opts,
  });
  return {
    journal,
    trail,
    async close() {
      await trail.close();
      await journal.close();
    },
  };
}

/** `audit verify` of a data directory as the CLI runs it: the trail, the journal's spool and rows. */
export function verifyLane(dataDir: string, key: ReturnType<typeof laneKey> | null = laneKey(dataDir)) {
  return verifyLaneDataDir(dataDir, key).report;
}

/** The lane's public key as stored beside the trail. */
export function laneKey(dataDir: string) {
  return publicKeyFromPem(readFileSync(join(dataDir, AUDIT_PUBLIC_KEY_FILE)), AUDIT_PUBLIC_KEY_FILE);
}

export function verify(
  dataDir: string,
  spool: AuditSpool | null = null,
  o: {
    key?: ReturnType<typeof laneKey> | null;
    journal?: JournalBindingView;
    cache?: Map<string, boolean>;
  } = {},
): VerifyReport {
  return verifyTrail({
    dir: auditDir(dataDir),
    key: o.key === undefined ? laneKey(dataDir) : o.key,
    spool,
    journal: o.journal ?? null,
    ...(o.cache ? { signatureCache: o.cache } : {}),
  });
}

export function segmentPaths(dataDir: string): string[] {
  return listSegments(auditDir(dataDir)).map((s) => s.path);
}

/** Every line of every segment file (anchors included), with its file and 1-based line number. */
export function allLines(dataDir: string): { file: string; path: string; line: number; text: string }[] {
  const out: { file: string; path: string; line: number; text: string }[] = [];
  for (const s of listSegments(auditDir(dataDir))) {
    readFileSync(s.path, "utf8")
      .split("\n")
      .slice(0, -1)
      .forEach((text, i) => {
        out.push({ file: s.name, path: s.path, line: i + 1, text });
      });
  }
  return out;
}

/**
 * A record's binding whose JSON holds its fields as a journal row's does (the trail builds its line again
 * from the JSON: src/audit/records.ts recordLineOfRow).
 */
export function binding(jseq: number, over: Partial<RecordBinding> = {}): RecordBinding {
  const b: RecordBinding = {
    op: "commit",
    json: "",
    jseq,
    tradeId: `430101020320261126080000${String(jseq).padStart(6, "0")}`,
    revision: 1,
    kind: "transaction",
    outcome: "EXIT_DEBIT",
    cardId: `430100000000000${String(jseq).padStart(5, "0")}`,
    obuSerial: `4301${String(jseq).padStart(12, "0")}`,
    obuId: `A1${String(jseq).padStart(6, "0")}`,
    plate: `湘A${String(10000 + jseq)}`,
    amount: 1500 + jseq,
    ...over,
  };
  const { op: _op, json: _json, jseq: seq, ...fields } = b;
  return { ...b, json: JSON.stringify({ seq, ...fields }) };
}

/** The seqs of `--json` output, one entry a line (none for an empty output). */
export const seqsOf = (out: string): number[] =>
  out
    .trim()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => (JSON.parse(l) as { seq: number }).seq);

/** Runs `etc-lane <args>` in this process (audit and transactions commands); stdout, stderr, exit code. */
export async function runEtcLane(args: string[]): Promise<{ out: string; err: string; code: number }> {
  const { Command } = await import("commander");
  const { registerAudit } = await import("../../src/cli/commands/audit.js");
  const { registerTransactions } = await import("../../src/cli/commands/transactions.js");
  const { runCli } = await import("../../src/cli/run-cli.js");
  let out = "";
  let err = "";
  const w1 = process.stdout.write;
  const w2 = process.stderr.write;
  process.stdout.write = ((s: string | Uint8Array) => {
    out += String(s);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => {
    err += String(s);
    return true;
  }) as typeof process.stderr.write;
  const before = process.exitCode;
  process.exitCode = undefined;
  try {
    const program = new Command("etc-lane");
    registerTransactions(program);
    registerAudit(program);
    await runCli(program, ["node", "etc-lane", ...args]);
    return { out, err, code: Number(process.exitCode ?? 0) };
  } finally {
    process.stdout.write = w1;
    process.stderr.write = w2;
    process.exitCode = before;
  }
}

/** A lane config file (the one `etc-lane run` would use) with its data directory. */
export function writeLaneConfig(dir: string, dataDir = "data"): string {
  const path = `${dir}/lane.yaml`;
  writeFileSync(
    path,
    [
      'lane: { network: "4301", station: "0102", lane: 3, role: exit }',
      "rsu: { port: /dev/null, protocol: legacy, dialect: { utcOffsetMinutes: 480 } }",
      "statusList: { publicKey: keys/station.pub.pem }",
      `dataDir: ${dataDir}`,
      "tariff: tariff.yaml",
      "",
    ].join("\n"),
  );
  return path;
}

/**
 * What anyone who can write the data directory can do without the lane's key: append a chain-valid entry
 * (time `at`) after the last line of the newest segment file and, when there is a journal, set the head
 * copy in journal.db to it. Returns the entry's seq and hash.
 */
export function forgeAppend(
  dataDir: string,
  ev: AuditEventInput,
  at = Date.now(),
): { seq: number; hash: string } {
  const segs = listSegments(auditDir(dataDir));
  const path = segs[segs.length - 1]!.path;
  const lines = readFileSync(path, "utf8").trimEnd().split("\n");
  const last = JSON.parse(lines[lines.length - 1]!) as AuditEntry;
  const b = buildLine(last.seq + 1, localIso(at, 480), new Date(at).toISOString(), ev, last.hash);
  appendFileSync(path, b.line);
  if (existsSync(join(dataDir, JOURNAL_FILE))) {
    const db = new Database(join(dataDir, JOURNAL_FILE));
    db.prepare("UPDATE meta SET value = ? WHERE key = 'audit_head'").run(
      JSON.stringify({ seq: b.seq, hash: b.hash }),
    );
    db.close();
  }
  return { seq: b.seq, hash: b.hash };
}

/** Every entry of the trail in `dataDir` once (an anchor repeats the checkpoint before it). */
export function entries(dataDir: string): AuditEntry[] {
  const bySeq = new Map<number, AuditEntry>();
  for (const l of allLines(dataDir)) {
    const e = JSON.parse(l.text) as AuditEntry;
    bySeq.set(e.seq, e);
  }
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/** The next start on `dataDir` (its recovery), closed again: the alarms it raised. */
export async function restartAlarms(dataDir: string): Promise<string[]> {
  const alarms: string[] = [];
  const again = openBoundTrail(dataDir, { onAlarm: (c) => alarms.push(c) });
  await again.close();
  return alarms;
}

/**
 * The exit lane the journal-behind-trail tests run (4301-0102 lane 3, an in-process RSU, the test status-list
 * key, the example tariff), its data in `dataDir`, its config read as `<dir>/lane.yaml`.
 */
export function exitLaneConfig(dir: string, dataDir: string): LaneConfig {
  return parseLaneConfig(
    {
      lane: { ...LANE, role: "exit" },
      rsu: { port: "in-process", protocol: "legacy" },
      statusList: { publicKey: TEST_PUBLIC_KEY_PATH },
      dataDir,
      tariff: join(import.meta.dirname, "../../config/tariff.example.yaml"),
      outputs: { sink: "log" },
    },
    "lane.yaml",
    dir,
  );
}

/** That lane opened, its RSU the other end of an in-process pair, no uplink. */
export function openExitLane(c: LaneConfig): Promise<LaneRuntime> {
  return openLane(c, { transport: createTransportPair().lane, uplink: false });
}

/** journal.db and its WAL files of `from`, copied to `to` (what was there removed first): a backup, a restore. */
export function copyJournal(from: string, to: string): void {
  for (const n of readdirSync(to)) if (/^journal\.db(-wal|-shm)?$/.test(n)) rmSync(join(to, n));
  for (const n of readdirSync(from))
    if (/^journal\.db(-wal|-shm)?$/.test(n)) copyFileSync(join(from, n), join(to, n));
}
