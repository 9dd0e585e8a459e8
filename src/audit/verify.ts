/**
 * `audit verify`: reads a trail (never writes) and says whether it is intact, naming the first bad record
 * and what is wrong, the range verified and the unsealed tail (docs/audit.md, "Verify").
 *
 * Checked: every line's hash over its raw bytes; seq gap-free and in order; `prev` = the previous hash
 * (edit, delete, insert, reorder); every segment after the first begins with a byte-exact copy of the
 * previous one's last line (a checkpoint); each checkpoint's number, range, head at `to`, previous
 * checkpoint hash, key id and Ed25519 signature (re-sealing old entries, gaps, overlaps, reordering);
 * a first kept file that begins with an anchor only when an `audit.retention` entry names the deletion;
 * incidents the lane recorded (gap, head mismatch, damaged lines, a rollback refused by the station); the
 * file's end against the head copy and the spool (truncation); the station's last word (witness); and
 * each journal row against the entry bound to it (changed, deleted or inserted rows), and its place in
 * the upload state (outbox, held, acks) against the trail's upload entries (./verify-uploads.ts). Then the trail's
 * completeness (./verify-guards.ts): an unsealed tail no longer than the lane leaves one, a trail wherever
 * journal.db shows a bound journal, and a key given with --key that checked a signature.
 *
 * An entry that excuses something (`journal.retention`: deleted rows; `audit.retention`: deleted files
 * and the journal's binding it restates) counts only once a checkpoint seals it: anyone who can write the
 * files can append chain-valid lines after the last checkpoint, so one there is itself a failure. A
 * `record.settle` entry is accepted only after the record's suspect entry (docs/audit.md, "Journal
 * binding").
 *
 * Fails closed: without a public key the result is not ok, whatever else holds.
 */
import { type KeyObject, verify as verifySig } from "node:crypto";
import { readFileSync } from "node:fs";
import { type BindingMark, bindingMarkOfEntry } from "./binding-mark.js";
import {
  type CheckpointStatement,
  checkpointHash,
  keyIdOf,
  type SignedCheckpoint,
  statementBytes,
  statementProblem,
} from "./checkpoint.js";
import { type AuditEntry, checkLine, GENESIS, sha256hex } from "./entry.js";
import { isRecordType, type RecordEntryData, recordLineOfRow } from "./records.js";
import { listSegments, splitLines } from "./segments.js";
import type { AuditSpoolView, RowRecord, SpooledLine } from "./spool.js";
import { offsetOf } from "./time.js";
import {
  type JournalBindingMarks,
  readSpoolMeta,
  type TailLimits,
  type TailLimitsUsed,
  TrailCompleteness,
  tailLimitsUsed,
} from "./verify-guards.js";
import { type UploadRow, UploadStates } from "./verify-uploads.js";

/** What `audit verify` reads of the journal (after the journal hosts the spool: journal.db). */
export interface JournalBindingView {
  /** every row with the audit seq it names (null: none), in any order */
  rows(): Iterable<{ jseq: number; auditSeq: number | null }>;
  /** the record JSON exactly as stored, or null when the row is gone */
  recordJson(jseq: number): string | null;
  /**
   * The audit seq the row of `jseq` names (null: none), undefined when there is no row. Only asked of
   * `VerifyOptions.freshJournal`.
   */
  auditSeqOf?(jseq: number): number | null | undefined;
  /**
   * What else is wrong with the row of `jseq`, whose JSON matches the digest of the entry (hash
   * `entryHash`) it names: the hash it stores differs, or one of its columns disagrees with its JSON.
   * null when nothing is.
   */
  rowProblem?(jseq: number, entryHash: string): string | null;
  /** what journal.db says about its binding (a bound journal needs its trail: ./verify-guards.ts) */
  bindingMarks?(): JournalBindingMarks;
  /** each record row's place in outbox, held and acks, in seq order (./verify-uploads.ts) */
  uploadRows?(): Iterable<UploadRow>;
}

export interface VerifyOptions {
  /** the trail directory, `<dataDir>/audit` */
  dir: string;
  /** the public key to check checkpoints with; null fails closed */
  key: KeyObject | null;
  spool?: AuditSpoolView | null;
  journal?: JournalBindingView | null;
  /**
   * journal.db read again after the file walk, outside the snapshot `journal` and the spool were read in
   * (verify-lane.ts opens a second connection): a record entry past the newest entry the snapshot knows of (a running
   * lane wrote it meanwhile) is judged against this read; without it, against the snapshot
   */
  freshJournal?: JournalBindingView | null;
  /** the lane id checkpoints must name, when known (from the config) */
  laneId?: string | null;
  /**
   * Signature results by key id + signature + statement, for a tool that verifies the same trail many
   * times (an Ed25519 verification costs about 0.1-0.3 ms); one call also checks an anchor and its
   * original only once.
   */
  signatureCache?: Map<string, boolean>;
  /**
   * the lane's checkpoint settings the unsealed tail is judged by (./verify-guards.ts); default the
   * config's defaults
   */
  tailLimits?: TailLimits;
  /** `key` is an independent copy (`audit verify --key`): a trail with nothing sealed did not exercise it */
  keyGiven?: boolean;
}

export interface VerifyProblem {
  /** the entry's seq, when there is one */
  seq: number | null;
  file: string | null;
  /** 1-based line in that file */
  line: number | null;
  what: string;
}

export interface VerifyReport {
  ok: boolean;
  keyId: string | null;
  files: number;
  entries: number;
  verified: { from: number; to: number; fromTime: string; toTime: string } | null;
  sealed: { to: number; checkpoints: number; last: number; lastTime: string } | null;
  unsealed: { count: number; since: number };
  /** the unsealed tail as judged against the lane's limits (./verify-guards.ts), file and spool together */
  unsealedTail: { entries: number; spanSeconds: number; limits: TailLimitsUsed };
  /** an incomplete last line in the newest file right now (a write cut short; the lane cuts it at start) */
  torn: { file: string; bytes: number; afterSeq: number } | null;
  /**
   * lines the file lacks that the spool holds or, for a journal record, its row gives (a running lane
   * writes them within milliseconds, a stopped one at its next start)
   */
  pendingFromSpool: { from: number; to: number; fromRows: number } | null;
  /** torn tails the lane cut at earlier starts */
  tornRepaired: number;
  retainedFrom: number | null;
  journal: { bound: number; checkedRows: number; legacyRows: number } | null;
  witness: { state: string; n: number } | null;
  problems: VerifyProblem[];
}

/** A record entry to judge against its journal row. */
interface RecordAt {
  seq: number;
  hash: string;
  rec: RecordEntryData["rec"];
  file: string;
  line: number;
  /** the record's kind as the entry names it */
  kind: string;
  /** the entry's time, UTC ms */
  timeMs: number;
}

/** Where an entry is. */
interface At {
  seq: number;
  file: string;
  line: number;
}

/** A `journal.retention` entry: the journal seqs it names as deleted, and its cutoff. */
interface JournalRetentionAt extends At {
  ranges: [number, number][];
  /** UTC ms; null: the entry names none (an older version's), NaN: one that does not read as a time */
  cutoffMs: number | null;
}

/** A statement of the journal's binding: a journal.bound entry, or an audit.retention entry restating it. */
interface BindingAt extends At {
  type: "journal.bound" | "audit.retention";
  mark: BindingMark;
  /** journal.bound only: the record entry for the highest journal seq before it */
  recordBefore: { jseq: number; seq: number } | null;
}

/** A record.settle entry that does not follow its record's suspect entry; decided after the walk. */
interface BadSettle extends At {
  jseq: number;
  /** no earlier entry for the record in the kept trail (legacy, or retention deleted it) */
  orphan: boolean;
  what: string;
}

/**
 * What the walk saw of each journal seq's record entries: 0 none, 1 a transaction or stop, 2 an
 * unsettled suspect (its revision kept aside), 3 settled. One byte per seq over the window of seqs the
 * trail names (a Map for seqs far outside it).
 */
class RecordStates {
  static readonly NONE = 0;
  static readonly DONE = 1;
  static readonly SUSPECT = 2;
  static readonly SETTLED = 3;
  private base = -1;
  private arr = new Uint8Array(0);
  private readonly far = new Map<number, number>();
  /** the revision of each unsettled suspect's entry */
  readonly suspectRevision = new Map<number, number>();
  private static readonly WINDOW = 1 << 25;

  get(jseq: number): number {
    const i = jseq - this.base;
    if (this.base >= 0 && i >= 0 && i < this.arr.length) return this.arr[i]!;
    return this.far.get(jseq) ?? RecordStates.NONE;
  }

  set(jseq: number, v: number): void {
    if (this.base < 0) this.base = Math.max(0, jseq - 1024);
    const i = jseq - this.base;
    if (i >= 0 && i < RecordStates.WINDOW) {
      if (i >= this.arr.length) {
        const grown = new Uint8Array(
          Math.min(RecordStates.WINDOW, Math.max(i + 1, this.arr.length * 2, 4096)),
        );
        grown.set(this.arr);
        this.arr = grown;
      }
      this.arr[i] = v;
    } else this.far.set(jseq, v);
  }
}

/** The rows as one read of the journal sees them. */
interface RowLookup {
  view: JournalBindingView;
  /** the audit seq the row names (null: none); undefined: no row */
  auditSeqOf(jseq: number): number | null | undefined;
  matched(jseq: number): void;
}

interface Cp {
  n: number;
  to: number;
  hash: string;
}

class Stop extends Error {}

/**
 * Where a problem in a line not yet in the segment file (spooled, or a record's built from its row) is
 * reported.
 */
const SPOOL_FILE = "journal.db audit_tail";

/**
 * The lines after the file's last entry (`lastSeq`, hash `head`) as the lane appends them at its next
 * start (./recovery.ts): each seq's spooled line, or the line of the journal record whose row names it
 * built from the row, as long as they follow on and chain.
 */
function linesPastEnd(
  spooled: readonly SpooledLine[],
  rows: readonly RowRecord[],
  lastSeq: number,
  head: string,
  offsetMinutes: number,
): { entries: AuditEntry[]; fromRows: number } {
  const bySeq = new Map<number, SpooledLine>();
  for (const l of spooled) if (l.seq > lastSeq) bySeq.set(l.seq, l);
  const rowBySeq = new Map<number, RowRecord>();
  for (const r of rows) if (r.seq > lastSeq) rowBySeq.set(r.seq, r);
  const entries: AuditEntry[] = [];
  let fromRows = 0;
  let prev = head;
  for (let seq = lastSeq + 1; ; seq++) {
    let line = bySeq.get(seq)?.line;
    let rebuilt = false;
    if (line === undefined) {
      const row = rowBySeq.get(seq);
      if (row === undefined) break;
      try {
        line = recordLineOfRow(row.json, seq, offsetMinutes, row.ms, prev).line;
        rebuilt = true;
      } catch {
        break; // a row that is not JSON: named with the rows
      }
    }
    const r = checkLine(Buffer.from(line.replace(/\n$/, "")));
    if ("problem" in r || r.entry.seq !== seq || r.entry.prev !== prev) break;
    entries.push(r.entry);
    if (rebuilt) fromRows++;
    prev = r.entry.hash;
  }
  return { entries, fromRows };
}

export function verifyTrail(o: VerifyOptions): VerifyReport {
  // read the spool BEFORE the files: a running lane only moves the files past what the spool says
  const meta = readSpoolMeta(o.spool);
  const headCopy = meta.head;
  const spoolLines: SpooledLine[] = o.spool ? o.spool.tail(1) : [];
  const witness = meta.witness;
  const segs = listSegments(o.dir);
  const keyId = o.key ? keyIdOf(o.key) : null;
  const sigCache = o.signatureCache ?? new Map<string, boolean>();
  const sigOk = (cp: SignedCheckpoint): boolean => {
    const bytes = statementBytes(cp.checkpoint);
    const k = `${keyId}:${cp.sig}:${bytes.toString("latin1")}`;
    let ok = sigCache.get(k);
    if (ok === undefined) {
      ok = verifySig(null, bytes, o.key!, Buffer.from(cp.sig, "base64"));
      sigCache.set(k, ok);
    }
    return ok;
  };
  const problems: VerifyProblem[] = meta.problems.map((what) => ({
    seq: null,
    file: null,
    line: null,
    what,
  }));
  const complete = new TrailCompleteness(tailLimitsUsed(o.tailLimits));
  const rep: VerifyReport = {
    ok: false,
    keyId,
    files: segs.length,
    entries: 0,
    verified: null,
    sealed: null,
    unsealed: { count: 0, since: 0 },
    unsealedTail: { entries: 0, spanSeconds: 0, limits: complete.limits },
    torn: null,
    pendingFromSpool: null,
    tornRepaired: 0,
    retainedFrom: null,
    journal: null,
    witness: witness ? { state: witness.state, n: witness.n } : null,
    problems,
  };
  if (!o.key) {
    problems.push({
      seq: null,
      file: null,
      line: null,
      what: "no public key: the checkpoints' signatures cannot be checked",
    });
  }

  // journal rows, sorted by jseq, for the binding checks
  const rows = o.journal ? loadRows(o.journal) : null;
  // The first journal seq bound to the trail, as the trail's first `journal.bound` entry fixes it, or a
  // sealed audit.retention entry restating it once retention deleted that entry's file (never as
  // journal.db says: anyone who can write it can raise its meta.audit_bound_from). Only a row without an
  // audit seq and with a seq from 1 to below it is legacy (not judged); none without such an entry.
  // Decided after the walk, when it is known which entries are sealed.
  let binding: BindingMark | null = null;
  const bindingStatements: BindingAt[] = [];
  /** the record entry for the highest journal seq so far (a journal.bound entry must not follow it) */
  let highestRecord: { jseq: number; seq: number } | null = null;
  /** record entries before the `journal.bound` entry: the only ones that can be legacy */
  const beforeBound = (seq: number): boolean => binding === null || seq < binding.seq;
  // Read in one snapshot with the spool (the CLI does), the rows are judged against the entries up to the
  // newest entry the snapshot knows of: the head copy, or the highest seq a row names (a record's commit
  // stores its entry's seq, not the head copy; the seqs are given in commit order, so every record entry
  // below it has its row in the snapshot, and an upload move after the snapshot has a higher seq).
  // Entries after it were written after that snapshot by a running lane: their rows may not be in it, so
  // they are judged against a fresh read (a row commits before its entry's line is written).
  const bindLimit =
    o.journal && headCopy
      ? Math.max(headCopy.seq, rows ? rows.auditSeq.reduce((m, a) => Math.max(m, a), 0) : 0)
      : Number.POSITIVE_INFINITY;
  /** each record's place in the upload state as the trail has it (./verify-uploads.ts) */
  const uploads = new UploadStates(bindLimit);
  /** record entries whose row is gone: each needs a sealed journal.retention entry that can have deleted it */
  const missingRows: MissingRow[] = [];
  /** rows with no audit seq that a record entry names: legacy, or replaced by a row without one */
  const unboundRows: {
    jseq: number;
    seq: number;
    tradeId: string;
    file: string;
    line: number;
  }[] = [];
  /** record entries past the newest entry the snapshot knows of, judged after the walk against the fresh read */
  const late: RecordAt[] = [];
  const snapshotRows: RowLookup | null =
    rows && o.journal
      ? {
          view: o.journal,
          auditSeqOf: (jseq) => {
            const i = indexOf(rows.jseq, jseq);
            if (i < 0) return undefined;
            const a = rows.auditSeq[i]!;
            return a === -1 ? null : a;
          },
          matched: (jseq) => {
            const i = indexOf(rows.jseq, jseq);
            if (i >= 0) rows.matched[i] = 1;
          },
        }
      : null;
  const fresh = o.freshJournal ?? null;
  const freshRows: RowLookup | null =
    fresh?.auditSeqOf && snapshotRows
      ? { view: fresh, auditSeqOf: (jseq) => fresh.auditSeqOf!(jseq), matched: () => undefined }
      : null;
  const isLegacy = (jseq: number): boolean => binding !== null && jseq >= 1 && jseq < binding.boundFrom;
  const journalRetentions: JournalRetentionAt[] = [];
  const auditRetentions: (At & { deletedThrough: number | null })[] = [];
  const records = new RecordStates();
  const badSettles: BadSettle[] = [];
  let bound = 0;

  let expect = 1;
  let head = GENESIS;
  let lastCp: Cp | null = null;
  let window = new Map<number, string>();
  let checkpoints = 0;
  let lastCpTime = "";
  let first: AuditEntry | null = null;
  let last: AuditEntry | null = null;
  let prevLastLine: Buffer | null = null;
  let headCopyAt: string | null = null;
  let witnessAt: string | null = null;
  let laneId = o.laneId ?? null;

  /** a problem after which the chain cannot be followed: the walk ends here */
  const stop = (seq: number | null, file: string | null, line: number | null, what: string): never => {
    problems.push({ seq, file, line, what });
    throw new Stop();
  };
  /** a problem the walk can go on after (an incident the lane recorded, a journal row) */
  const note = (seq: number | null, file: string | null, line: number | null, what: string): void => {
    problems.push({ seq, file, line, what });
  };

  const checkCheckpoint = (e: AuditEntry, file: string, lineNo: number): void => {
    const cp = e.data as unknown as SignedCheckpoint;
    const bad = statementProblem(cp?.checkpoint);
    if (bad || typeof cp.sig !== "string")
      stop(e.seq, file, lineNo, `checkpoint is malformed: ${bad ?? "no signature"}`);
    const s = cp.checkpoint as CheckpointStatement;
    const where = `checkpoint #${s.n}`;
    if (laneId === null) laneId = s.lane;
    else if (s.lane !== laneId) stop(e.seq, file, lineNo, `${where} names lane ${s.lane}, not ${laneId}`);
    if (lastCp !== null && s.n !== lastCp.n + 1)
      stop(
        e.seq,
        file,
        lineNo,
        `${where} follows checkpoint #${lastCp.n} (checkpoints missing, repeated or reordered)`,
      );
    if (lastCp !== null && s.from !== lastCp.to + 1)
      stop(
        e.seq,
        file,
        lineNo,
        `${where} covers seq ${s.from}..${s.to}, which does not continue the previous range (..${lastCp.to})`,
      );
    if (lastCp !== null && s.prev !== lastCp.hash)
      stop(e.seq, file, lineNo, `${where} does not name checkpoint #${lastCp.n} as its predecessor`);
    if (lastCp === null && s.n === 1 && (s.from !== 1 || s.prev !== GENESIS))
      stop(e.seq, file, lineNo, `${where} is the first but does not start at seq 1`);
    if (s.to >= e.seq) stop(e.seq, file, lineNo, `${where} covers seq ..${s.to}, at or after its own seq`);
    const at = window.get(s.to);
    if (at === undefined)
      stop(
        e.seq,
        file,
        lineNo,
        `${where} covers seq ..${s.to}, outside the entries since the previous checkpoint`,
      );
    if (at !== s.head)
      stop(
        e.seq,
        file,
        lineNo,
        `${where} names a head at seq ${s.to} that is not the chain's (entries before it were changed)`,
      );
    if (o.key) {
      if (s.keyId !== keyId)
        stop(
          e.seq,
          file,
          lineNo,
          `${where} is signed with key ${s.keyId}; the key used to verify is ${keyId} (wrong key?)`,
        );
      else if (!sigOk(cp))
        stop(e.seq, file, lineNo, `${where}: the signature does not verify with key ${keyId}`);
    }
    const h = checkpointHash(s);
    if (witness && s.n === witness.n) {
      witnessAt = h;
      if (h !== witness.hash)
        note(
          e.seq,
          file,
          lineNo,
          `${where} differs from the checkpoint #${witness.n} the station ${witness.state === "acknowledged" ? "acknowledged" : "holds"} ` +
            "(the trail was replaced or re-sealed after it)",
        );
    }
    lastCp = { n: s.n, to: s.to, hash: h };
    complete.sealed(s.to);
    lastCpTime = e.time;
    checkpoints++;
    window = new Map([[e.seq, e.hash]]);
  };

  const entryChecks = (e: AuditEntry, file: string, lineNo: number): void => {
    uploads.see(e);
    switch (e.type) {
      case "audit.checkpoint":
        checkCheckpoint(e, file, lineNo);
        return;
      case "audit.gap":
      case "audit.head-mismatch":
      case "audit.damaged":
      case "audit.rollback":
        note(e.seq, file, lineNo, `the lane recorded: ${e.message}`);
        return;
      case "audit.torn-tail":
        rep.tornRepaired++;
        return;
      case "audit.retention": {
        const d = e.data as { deletedThrough?: unknown; bound?: unknown } | undefined;
        auditRetentions.push({
          seq: e.seq,
          file,
          line: lineNo,
          deletedThrough: typeof d?.deletedThrough === "number" ? d.deletedThrough : null,
        });
        const mark = bindingMarkOfEntry(e);
        if (mark)
          bindingStatements.push({ seq: e.seq, file, line: lineNo, type: e.type, mark, recordBefore: null });
        else if (d?.bound !== undefined)
          note(e.seq, file, lineNo, "audit.retention entry whose bound is not a valid { boundFrom, seq }");
        return;
      }
      case "journal.bound": {
        const mark = bindingMarkOfEntry(e);
        if (!mark) note(e.seq, file, lineNo, "journal.bound entry without a valid boundFrom");
        else
          bindingStatements.push({
            seq: e.seq,
            file,
            line: lineNo,
            type: e.type,
            mark,
            recordBefore: highestRecord,
          });
        return;
      }
      case "journal.retention": {
        const d = e.data as { deleted?: unknown; cutoff?: unknown } | undefined;
        const ranges: [number, number][] = [];
        if (Array.isArray(d?.deleted))
          for (const r of d.deleted as unknown[])
            if (Array.isArray(r) && typeof r[0] === "number" && typeof r[1] === "number")
              ranges.push([r[0], r[1]]);
        const cutoffMs =
          d?.cutoff === undefined ? null : typeof d.cutoff === "string" ? Date.parse(d.cutoff) : Number.NaN;
        if (Number.isNaN(cutoffMs))
          note(
            e.seq,
            file,
            lineNo,
            "journal.retention entry whose cutoff is not a time: it excuses no deleted row",
          );
        journalRetentions.push({ seq: e.seq, file, line: lineNo, ranges, cutoffMs });
        return;
      }
    }
    if (isRecordType(e.type)) {
      bound++;
      const d = e.data as unknown as RecordEntryData;
      const rec = d?.rec;
      if (rec && Number.isSafeInteger(rec.jseq)) recordStep(e, d, file, lineNo);
      if (!rows || !o.journal) return;
      if (!rec || !Number.isSafeInteger(rec.jseq) || typeof rec.digest !== "string") {
        note(e.seq, file, lineNo, "record entry without rec.jseq / rec.digest");
        return;
      }
      const at: RecordAt = {
        seq: e.seq,
        hash: e.hash,
        rec,
        file,
        line: lineNo,
        kind: typeof d.kind === "string" ? d.kind : "",
        timeMs: Date.parse(e.utc),
      };
      const i = indexOf(rows.jseq, rec.jseq);
      // An entry past the newest the snapshot knows of: a running lane wrote it after the snapshot, so its row may
      // not be in it (or be an older revision there). It is judged after the walk against a fresh read of
      // the journal (its row commits before its line is written), never excused: a head copy set back by
      // hand must not hide a deleted row.
      if (e.seq > bindLimit && !(i >= 0 && rows.auditSeq[i] === e.seq)) {
        late.push(at);
        return;
      }
      judgeRecord(at, snapshotRows!);
    }
  };

  /**
   * A record's entries in order: a commit, then at most one settle, which must follow the suspect entry
   * of the revision before it (the journal settles only an unsettled suspect, raising its revision by 1).
   * A settle that does not is decided after the walk (an older version's entries before the binding are
   * not judged; the record's earlier entries may be in files retention deleted).
   */
  const recordStep = (e: AuditEntry, d: RecordEntryData, file: string, lineNo: number): void => {
    const { jseq, revision, tradeId } = d.rec;
    if (highestRecord === null || jseq >= highestRecord.jseq) highestRecord = { jseq, seq: e.seq };
    const was = records.get(jseq);
    if (e.type !== "record.settle") {
      if (d.kind === "suspect") {
        records.set(jseq, RecordStates.SUSPECT);
        records.suspectRevision.set(jseq, revision);
      } else records.set(jseq, RecordStates.DONE);
      return;
    }
    const who = `record.settle for journal record ${jseq} (trade ${tradeId})`;
    const bad = (what: string, orphan = false): void => {
      badSettles.push({ seq: e.seq, file, line: lineNo, jseq, orphan, what: `${who} ${what}` });
    };
    if (was === RecordStates.SUSPECT) {
      const before = records.suspectRevision.get(jseq)!;
      records.suspectRevision.delete(jseq);
      if (revision !== before + 1)
        bad(
          `names revision ${revision}, but the suspect it settles is revision ${before}: a settlement raises it by 1`,
        );
    } else if (was === RecordStates.DONE)
      bad("follows an entry that records it as a transaction or stop: only an unsettled suspect is settled");
    else if (was === RecordStates.SETTLED) bad("follows its settlement: a record is settled once");
    else bad("has no entry for that record before it: only a suspect committed earlier is settled", true);
    records.set(jseq, RecordStates.SETTLED);
  };

  /** A record entry against the row of its jseq as `rowsOf` sees it (the snapshot, or the fresh read). */
  const judgeRecord = (at: RecordAt, rowsOf: RowLookup): void => {
    const { rec, file, line: lineNo } = at;
    const a = rowsOf.auditSeqOf(rec.jseq);
    const missing = { jseq: rec.jseq, seq: at.seq, file, line: lineNo, kind: at.kind, timeMs: at.timeMs };
    if (a === undefined) {
      missingRows.push(missing);
      return;
    }
    if (a === at.seq) {
      rowsOf.matched(rec.jseq);
      const json = rowsOf.view.recordJson(rec.jseq);
      if (json === null) missingRows.push(missing);
      else if (sha256hex(json) !== rec.digest)
        note(
          at.seq,
          file,
          lineNo,
          `journal record ${rec.jseq} (trade ${rec.tradeId}) was changed: its row no longer matches this entry's digest`,
        );
      else {
        const bad = rowsOf.view.rowProblem?.(rec.jseq, at.hash) ?? null;
        if (bad)
          note(at.seq, file, lineNo, `journal record ${rec.jseq} (trade ${rec.tradeId}) was changed: ${bad}`);
      }
    } else if (a !== null && a > at.seq) {
      // settled later: the row names the newer entry, which is checked when the walk reaches it
    } else if (a === null) {
      // an entry of a record from before the binding (the previous version wrote it after the commit),
      // or a row stripped of its audit seq: decided once the trail's journal.bound entry is known
      unboundRows.push({ jseq: rec.jseq, seq: at.seq, tradeId: rec.tradeId, file, line: lineNo });
    } else {
      note(
        at.seq,
        file,
        lineNo,
        `journal record ${rec.jseq} (trade ${rec.tradeId}) names audit entry ${a}, older than this entry: ` +
          "the row was replaced by an earlier version",
      );
    }
  };

  let stopped = false;
  try {
    for (let fi = 0; fi < segs.length; fi++) {
      const seg = segs[fi]!;
      const { lines, fragment } = splitLines(readFileSync(seg.path));
      if (fragment && fi < segs.length - 1)
        stop(
          null,
          seg.name,
          lines.length + 1,
          "the file ends with an incomplete line although a newer file follows",
        );
      let start = 0;
      if (fi === 0 && seg.firstSeq > 1) {
        // the oldest kept file begins with an anchor: verification of what is kept starts there
        const a = lines[0];
        if (!a) stop(seg.firstSeq - 1, seg.name, 1, "the oldest kept file has no anchor line");
        const r = checkLine(a!);
        if ("problem" in r) stop(seg.firstSeq - 1, seg.name, 1, r.problem);
        const e = (r as { entry: AuditEntry }).entry;
        if (e.type !== "audit.checkpoint" || e.seq !== seg.firstSeq - 1)
          stop(
            e.seq,
            seg.name,
            1,
            `the oldest kept file must begin with the checkpoint at seq ${seg.firstSeq - 1}`,
          );
        const cp = e.data as unknown as SignedCheckpoint;
        if (statementProblem(cp?.checkpoint) !== null)
          stop(e.seq, seg.name, 1, "the anchor checkpoint is malformed");
        if (o.key && !sigOk(cp))
          stop(
            e.seq,
            seg.name,
            1,
            `the anchor checkpoint #${cp.checkpoint.n}: the signature does not verify with key ${keyId}`,
          );
        lastCp = { n: cp.checkpoint.n, to: cp.checkpoint.to, hash: checkpointHash(cp.checkpoint) };
        complete.sealed(cp.checkpoint.to);
        complete.see(e);
        laneId ??= cp.checkpoint.lane;
        lastCpTime = e.time;
        checkpoints++;
        window = new Map([[e.seq, e.hash]]);
        head = e.hash;
        expect = seg.firstSeq;
        rep.retainedFrom = seg.firstSeq;
        first = e;
        last = e;
        start = 1;
      } else if (fi > 0) {
        if (seg.firstSeq !== expect)
          stop(
            expect,
            seg.name,
            1,
            `file ${seg.name} starts at seq ${seg.firstSeq}, but seq ${expect} comes next: entries or files are missing`,
          );
        const a = lines[0];
        if (!a || !prevLastLine || !a.equals(prevLastLine))
          stop(
            seg.firstSeq - 1,
            seg.name,
            1,
            `the first line of ${seg.name} is not a copy of the last line of ${segs[fi - 1]!.name}`,
          );
        start = 1;
      } else {
        lastCp = { n: 0, to: 0, hash: GENESIS };
      }
      for (let li = start; li < lines.length; li++) {
        const line = lines[li]!;
        const r = checkLine(line);
        if ("problem" in r) stop(expect, seg.name, li + 1, r.problem);
        const e = (r as { entry: AuditEntry }).entry;
        if (e.seq !== expect) {
          if (e.seq < expect)
            stop(
              e.seq,
              seg.name,
              li + 1,
              `seq ${e.seq} appears after seq ${expect - 1}: a line was inserted, repeated or moved`,
            );
          const gap =
            e.type === "audit.gap"
              ? (e.data as { missing?: { from: number; to: number } }).missing
              : undefined;
          if (!gap || gap.from !== expect || gap.to !== e.seq - 1)
            stop(
              e.seq,
              seg.name,
              li + 1,
              `seq ${e.seq} follows seq ${expect - 1}: entries ${expect}..${e.seq - 1} are missing (lines deleted)`,
            );
          note(e.seq, seg.name, li + 1, `the lane recorded: ${e.message}`);
          head = e.prev; // the gap entry continues from the head copy: check what follows it
        } else if (e.prev !== head) {
          stop(
            e.seq,
            seg.name,
            li + 1,
            `prev does not match the hash of seq ${e.seq - 1}: the chain is broken (a line before it was changed, inserted or moved)`,
          );
        }
        window.set(e.seq, e.hash);
        if (headCopy && e.seq === headCopy.seq) headCopyAt = e.hash;
        if (e.type !== "audit.gap") entryChecks(e, seg.name, li + 1);
        complete.see(e);
        head = e.hash;
        expect = e.seq + 1;
        first ??= e;
        last = e;
        rep.entries++;
      }
      prevLastLine = lines.length > 0 ? lines[lines.length - 1]! : null;
      if (fragment && fi === segs.length - 1)
        rep.torn = { file: seg.name, bytes: fragment.length, afterSeq: expect - 1 };
    }
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
    stopped = true;
  }

  const lastSeq = expect - 1;
  if (first && last)
    rep.verified = { from: first.seq, to: last.seq, fromTime: first.time, toTime: last.time };
  const cpNow = lastCp as Cp | null;
  if (cpNow && cpNow.n > 0) rep.sealed = { to: cpNow.to, checkpoints, last: cpNow.n, lastTime: lastCpTime };
  // entries after the last checkpoint's range, not counting that checkpoint's own entry
  rep.unsealed = {
    count: Math.max(0, lastSeq - (cpNow?.to ?? 0) - (cpNow && cpNow.n > 0 ? 1 : 0)),
    since: cpNow?.to ?? 0,
  };
  if (stopped) {
    // the chain broke: what follows the first bad record cannot be judged
    rep.ok = false;
    return rep;
  }

  // the spool, the journal's rows and the head copy: lines not yet in the file, truncation
  if (last) {
    // journal records whose row holds its entry's seq and time (their line is built after the commit)
    // past the files' end: read in the snapshot the spool was read in (verify-lane.ts holds it open)
    const rowLines: RowRecord[] = o.spool?.rowRecords?.(lastSeq + 1) ?? [];
    const pending = linesPastEnd(spoolLines, rowLines, lastSeq, head, offsetOf(last.time) ?? 0);
    const reachesHeadCopy =
      !headCopy ||
      headCopy.seq <= lastSeq ||
      pending.entries.some((e) => e.seq === headCopy.seq && e.hash === headCopy.hash);
    if (reachesHeadCopy && pending.entries.length > 0) {
      const spooled = pending.entries;
      rep.pendingFromSpool = {
        from: lastSeq + 1,
        to: spooled[spooled.length - 1]!.seq,
        fromRows: pending.fromRows,
      };
      // the same checks as for the file's lines: a record's row, a checkpoint's seal, an incident
      try {
        spooled.forEach((e, i) => {
          window.set(e.seq, e.hash);
          if (e.type !== "audit.gap") entryChecks(e, SPOOL_FILE, i + 1);
          complete.see(e);
        });
      } catch (e) {
        if (!(e instanceof Stop)) throw e;
        rep.ok = false;
        return rep;
      }
    }
  }
  if (headCopy && last) {
    if (headCopy.seq > lastSeq) {
      if (rep.pendingFromSpool === null)
        problems.push({
          seq: lastSeq,
          file: segs[segs.length - 1]?.name ?? null,
          line: null,
          what:
            `the trail ends at seq ${lastSeq} but the head copy names seq ${headCopy.seq}: entries ${lastSeq + 1}..${headCopy.seq} ` +
            "are missing and not in the spool (the file was truncated)",
        });
    } else if (headCopyAt !== null && headCopyAt !== headCopy.hash) {
      problems.push({
        seq: headCopy.seq,
        file: null,
        line: null,
        what: `entry ${headCopy.seq} differs from the head copy (the trail was changed or replaced)`,
      });
    }
  } else if (headCopy && !last && headCopy.seq > 0) {
    problems.push({
      seq: null,
      file: null,
      line: null,
      what: `no entries, but the head copy names seq ${headCopy.seq}: the trail was deleted`,
    });
  }

  // the station's last word
  if (witness) {
    if (witness.state === "conflict")
      problems.push({
        seq: null,
        file: null,
        line: null,
        what: `the station refused this lane's checkpoints; it holds #${witness.n}`,
      });
    if (cpNow && cpNow.n < witness.n)
      problems.push({
        seq: null,
        file: null,
        line: null,
        what: `the station ${witness.state === "acknowledged" ? "acknowledged" : "holds"} checkpoint #${witness.n} but this trail's checkpoints end at #${cpNow.n}: it was rolled back or truncated`,
      });
    if (
      witnessAt === null &&
      cpNow &&
      cpNow.n >= witness.n &&
      (rep.retainedFrom === null || witness.to >= rep.retainedFrom)
    )
      problems.push({
        seq: null,
        file: null,
        line: null,
        what: `checkpoint #${witness.n}, which the station knows, is not in this trail`,
      });
  }

  // What the checkpoints seal: every entry through the last one's `to` (a checkpoint among the spooled
  // lines included). An entry that excuses something counts only when sealed: lines appended after the
  // last checkpoint need no key. The lane seals such an entry at once (src/audit/recovery.ts SEAL_AT_ONCE).
  const lastSeal = lastCp as Cp | null;
  const sealedTo = lastSeal && lastSeal.n > 0 ? lastSeal.to : 0;
  const sealed = (seq: number): boolean => seq <= sealedTo;
  const unsealed = (type: string, at: At, what: string): void =>
    note(
      at.seq,
      at.file,
      at.line,
      `this ${type} entry is not sealed yet (no checkpoint covers it): ${what} not accepted until one does. ` +
        "The lane seals one at once: with the lane stopped, it was appended after the last checkpoint",
    );
  for (const r of journalRetentions)
    if (!sealed(r.seq)) unsealed("journal.retention", r, "the journal rows it names as deleted are");
  for (const r of auditRetentions)
    if (!sealed(r.seq)) unsealed("audit.retention", r, "the deletion of the files it names is");

  // retention: a trail that begins with an anchor needs a sealed audit.retention entry for what is gone
  let deletedThrough = 0;
  /** the last sealed audit.retention entry's seq */
  let lastAuditRetention = 0;
  for (const r of auditRetentions)
    if (sealed(r.seq) && r.deletedThrough !== null) {
      deletedThrough = Math.max(deletedThrough, r.deletedThrough);
      lastAuditRetention = r.seq;
    }
  if (rep.retainedFrom !== null && deletedThrough < rep.retainedFrom - 1) {
    const sealedNone = auditRetentions.some((r) => !sealed(r.seq)) ? "that a checkpoint seals " : "";
    problems.push({
      seq: rep.retainedFrom - 1,
      file: segs[0]?.name ?? null,
      line: 1,
      what: `the trail begins at seq ${rep.retainedFrom} but no audit.retention entry ${sealedNone}names the deletion of entries ..${rep.retainedFrom - 1}: files were deleted`,
    });
  }

  // the journal's binding: the first statement (a journal.bound entry, or a sealed audit.retention entry
  // restating it once the journal.bound entry's file was deleted); every later one must say the same
  for (const b of bindingStatements) {
    if (b.type === "audit.retention" && !sealed(b.seq)) continue; // named above
    if (b.type === "journal.bound" && b.recordBefore && b.recordBefore.jseq >= b.mark.boundFrom)
      note(
        b.seq,
        b.file,
        b.line,
        `journal.bound names seq ${b.mark.boundFrom}, but the record entry at seq ${b.recordBefore.seq} bound journal record ${b.recordBefore.jseq} before it (the journal was bound already)`,
      );
    if (binding === null) binding = b.mark;
    else if (b.type === "journal.bound" && b.mark.boundFrom !== binding.boundFrom)
      note(
        b.seq,
        b.file,
        b.line,
        `journal.bound names seq ${b.mark.boundFrom}, but the trail bound the journal from seq ${binding.boundFrom} (the journal's binding record was changed)`,
      );
    else if (
      b.type === "audit.retention" &&
      (b.mark.boundFrom !== binding.boundFrom || b.mark.seq !== binding.seq)
    )
      note(
        b.seq,
        b.file,
        b.line,
        `audit.retention restates the journal's binding as from seq ${b.mark.boundFrom} (journal.bound at seq ${b.mark.seq}), but the trail bound the journal from seq ${binding.boundFrom} (journal.bound at seq ${binding.seq})`,
      );
  }

  // settlements that do not follow their record's suspect entry
  for (const b of badSettles) {
    // an older version's entries, before the binding, are counted, not judged
    if (beforeBound(b.seq) && isLegacy(b.jseq)) continue;
    // a suspect from before the binding, settled since; or one whose earlier entries retention deleted
    // (they were in a file deleted after this entry was written)
    if (b.orphan && (isLegacy(b.jseq) || (rep.retainedFrom !== null && lastAuditRetention > b.seq))) continue;
    note(b.seq, b.file, b.line, b.what);
  }

  // journal rows
  if (rows && o.journal) {
    for (const at of late) judgeRecord(at, freshRows ?? snapshotRows!);
    let legacy = 0;
    let checked = 0;
    const firstKept = rep.retainedFrom ?? 1;
    for (let i = 0; i < rows.jseq.length; i++) {
      const jseq = rows.jseq[i]!;
      const a = rows.auditSeq[i]!;
      // a row that names an entry is always judged; one without is legacy only below the trail's bound-from
      if (a === -1 && isLegacy(jseq)) {
        legacy++;
        continue;
      }
      checked++;
      if (rows.matched[i]) continue;
      if (a === -1)
        problems.push({
          seq: null,
          file: null,
          line: null,
          what: `journal record ${jseq} is not in the audit trail (a row was inserted)`,
        });
      else if (a < firstKept)
        problems.push({
          seq: a,
          file: null,
          line: null,
          what: `journal record ${jseq} names audit entry ${a}, which retention deleted`,
        });
      else
        problems.push({
          seq: a,
          file: null,
          line: null,
          what: `journal record ${jseq} names audit entry ${a}, which is not an entry for that record (a row was inserted or altered)`,
        });
    }
    // each row's place in the upload state (outbox, held, acks) against the trail's
    if (o.journal.uploadRows)
      for (const p of uploads.rowProblems(
        o.journal.uploadRows(),
        (jseq, auditSeq) => auditSeq === null && isLegacy(jseq),
      ))
        problems.push(p);
    for (const u of unboundRows) {
      if (!(beforeBound(u.seq) && isLegacy(u.jseq)))
        problems.push({
          seq: u.seq,
          file: u.file,
          line: u.line,
          what:
            `journal record ${u.jseq} (trade ${u.tradeId}) names audit entry none, older than this entry: ` +
            "the row was replaced by an earlier version",
        });
    }
    // A deleted row is excused only by a sealed journal.retention entry that names it, comes after its
    // record's entries, and could have deleted it: not an unsettled suspect (src/journal/upkeep.ts
    // RETENTION_SQL never picks one), and its entry older than the batch's cutoff (it was acknowledged
    // before the cutoff, and after it was written).
    const covering = retentionIndex(journalRetentions);
    const excuseProblem = (r: JournalRetentionAt, group: MissingRow[], m: MissingRow): string | null => {
      const by = `the journal.retention entry at seq ${r.seq} that names it`;
      if (r.seq < m.seq) return `${by} comes before this entry`;
      if (!sealed(r.seq)) return `${by} is not sealed yet`;
      let last = m;
      for (const x of group) if (x.seq < r.seq && x.seq > last.seq) last = x;
      if (last.kind === "suspect")
        return `${by} cannot have deleted it: its entry at seq ${last.seq} records an unsettled suspect, which retention never deletes`;
      if (r.cutoffMs !== null && !(last.timeMs < r.cutoffMs))
        return `${by} cannot have deleted it: its entry at seq ${last.seq} is not older than that batch's cutoff`;
      // retention deletes only acknowledged records (RETENTION_SQL): the trail must have it acknowledged
      const unacked = uploads.retentionProblem(r.seq, m.jseq);
      if (unacked !== null) return `${by} cannot have deleted it: ${unacked}`;
      return null;
    };
    missingRows.sort((a, b) => a.jseq - b.jseq || a.seq - b.seq);
    for (let g = 0; g < missingRows.length; ) {
      let end = g + 1;
      while (end < missingRows.length && missingRows[end]!.jseq === missingRows[g]!.jseq) end++;
      const group = missingRows.slice(g, end);
      g = end;
      const cands = covering(group[0]!.jseq);
      for (const m of group) {
        if (beforeBound(m.seq) && isLegacy(m.jseq)) continue;
        // the reason given is the first candidate's after this entry (else the first one's)
        let why: string | null = "this entry records it and no journal.retention entry names its deletion";
        let whyAfter = false;
        for (const [i, r] of cands.entries()) {
          const w = excuseProblem(r, group, m);
          if (w === null) {
            why = null;
            break;
          }
          if (i === 0 || (!whyAfter && r.seq > m.seq)) {
            why = w;
            whyAfter = r.seq > m.seq;
          }
        }
        if (why !== null)
          problems.push({
            seq: m.seq,
            file: m.file,
            line: m.line,
            what: `journal record ${m.jseq} was deleted: ${why}`,
          });
      }
    }
    rep.journal = { bound, checkedRows: checked, legacyRows: legacy };
  }

  completenessChecks(complete, o, rep);

  problems.sort((a, b) => (a.seq ?? Number.MAX_SAFE_INTEGER) - (b.seq ?? Number.MAX_SAFE_INTEGER));
  rep.ok = problems.length === 0;
  return rep;
}

type MissingRow = { jseq: number; seq: number; file: string; line: number; kind: string; timeMs: number };

/**
 * The journal.retention entries whose ranges hold a journal seq: ranges sorted by start, with the highest
 * end so far beside each, so a lookup walks back only over ranges that can still reach it (one, when the
 * ranges do not overlap, as the lane writes them).
 */
function retentionIndex(entries: JournalRetentionAt[]): (jseq: number) => JournalRetentionAt[] {
  const spans = entries
    .flatMap((r) => r.ranges.map(([from, to]) => ({ from, to, r })))
    .sort((a, b) => a.from - b.from);
  const reach: number[] = [];
  for (const [i, sp] of spans.entries()) reach.push(Math.max(sp.to, i > 0 ? reach[i - 1]! : sp.to));
  return (jseq) => {
    let lo = 0;
    let hi = spans.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (spans[mid]!.from <= jseq) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    const out: JournalRetentionAt[] = [];
    for (let i = at; i >= 0 && reach[i]! >= jseq; i--)
      if (spans[i]!.to >= jseq && !out.includes(spans[i]!.r)) out.push(spans[i]!.r);
    return out.sort((a, b) => a.seq - b.seq);
  };
}

/**
 * The unsealed tail against the lane's limits, and a bound journal against the trail
 * (./verify-guards.ts): after a walk that reached the trail's end.
 */
function completenessChecks(complete: TrailCompleteness, o: VerifyOptions, rep: VerifyReport): void {
  const u = complete.unsealed();
  rep.unsealedTail = { entries: u.entries, spanSeconds: u.spanSeconds, limits: complete.limits };
  const tail = complete.tailProblem();
  if (tail) rep.problems.push({ seq: tail.seq, file: null, line: null, what: tail.what });
  const marks = o.journal?.bindingMarks?.();
  const bound = marks ? complete.boundJournalProblem(marks) : null;
  if (bound) rep.problems.push({ seq: null, file: null, line: null, what: bound });
  // someone without the key can drop every checkpoint and re-chain the rest: a key given to check the
  // trail with, which checked no signature, does not make it intact
  if (o.key && o.keyGiven && rep.sealed === null)
    rep.problems.push({
      seq: null,
      file: null,
      line: null,
      what: `the key was not exercised: nothing is sealed, so no signature in the trail was checked with the key given (id ${rep.keyId})`,
    });
}

interface Rows {
  jseq: number[];
  /** -1 for none */
  auditSeq: number[];
  matched: Uint8Array;
}

function loadRows(j: JournalBindingView): Rows {
  const all = [...j.rows()].sort((a, b) => a.jseq - b.jseq);
  return {
    jseq: all.map((r) => r.jseq),
    auditSeq: all.map((r) => r.auditSeq ?? -1),
    matched: new Uint8Array(all.length),
  };
}

function indexOf(sorted: number[], v: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const x = sorted[mid]!;
    if (x === v) return mid;
    if (x < v) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}
