/**
 * `audit verify`: reads a trail (never writes) and says whether it is intact, naming the first bad record
 * and what is wrong, the range verified and the unsealed tail (docs/audit.md, "Verify").
 *
 * This file runs the steps in order (verifyTrail): it reads the spool's head copy, witness and lines, then
 * the files; walks them, handing each entry to the checks of its kind; then judges what only the whole
 * trail shows. The checks live by what they check:
 * - ./verify-walk.ts: the segment files, oldest first: every line's hash over its raw bytes, seq
 *   gap-free and in order, `prev` = the previous hash (edit, delete, insert, reorder), every file after
 *   the first beginning with a byte-exact copy of the previous one's last line, a kept trail's anchor;
 * - ./verify-checkpoints.ts: each checkpoint's number, range, head at `to`, previous checkpoint hash,
 *   lane, key id and Ed25519 signature (re-sealing old entries, gaps, overlaps, reordering), and the
 *   station's last word (witness) against them;
 * - ./verify-file-end.ts: the file's end against the spool and the journal's rows (the lines the next
 *   start appends, checked as the file's are) and the head copy (truncation: also of a newest file the
 *   walk takes for a rotation a power cut left without its anchor);
 * - ./verify-retention.ts: that every entry excusing a deletion is sealed, and a first kept file that
 *   begins with an anchor only when a sealed `audit.retention` entry names the deletion;
 * - ./verify-journal.ts: each journal row against the entry bound to it (changed, deleted or inserted
 *   rows), a settlement only after its suspect, the journal's binding, and with ./verify-uploads.ts each
 *   row's place in the upload state (outbox, held, acks) against the trail's upload entries;
 * - ./verify-evidence.ts: each suspect_evidence row of an unsettled suspect (it no longer holds its card)
 *   against the booth.evidence entry that commits with it;
 * - ./verify-guards.ts: the trail's completeness: an unsealed tail no longer than the lane leaves one, a
 *   trail wherever journal.db shows a bound journal, and a key given with --key that checked a signature.
 * Here: incidents the lane recorded (gap, head mismatch, damaged lines, a rollback refused by the
 * station), and damaged bytes the start kept aside without recording them (a side file still named
 * `.unrecorded`: ./side-files.ts keepAside).
 *
 * An entry that excuses something (`journal.retention`: deleted rows; `audit.retention`: deleted files
 * and the journal's binding it restates) counts only once a checkpoint seals it: anyone who can write the
 * files can append chain-valid lines after the last checkpoint, so one there is itself a failure. A
 * `record.settle` entry is accepted only after the record's suspect entry (docs/audit.md, "Journal
 * binding").
 *
 * Fails closed: without a public key the result is not ok, whatever else holds.
 */
import type { KeyObject } from "node:crypto";
import type { AuditEntry } from "./entry.js";
import { isRecordType } from "./records.js";
import { listSegments, type SegmentFile } from "./segments.js";
import { unrecordedSideFiles } from "./side-files.js";
import type { AuditHead, AuditSpoolView, SpooledLine, WitnessRecord } from "./spool.js";
import { CheckpointChain, type Cp, checkStationWord } from "./verify-checkpoints.js";
import { EvidenceCheck, type EvidenceRow } from "./verify-evidence.js";
import { checkHeadCopy, checkLinesPastEnd, type FileEnd } from "./verify-file-end.js";
import {
  type JournalBindingMarks,
  lastCheckpointMarkSeq,
  readSpoolMeta,
  type TailLimits,
  type TailLimitsUsed,
  TrailCompleteness,
  tailLimitsUsed,
} from "./verify-guards.js";
import { JournalBindingCheck } from "./verify-journal.js";
import { Problems, type VerifyProblem } from "./verify-problems.js";
import {
  type AuditRetentionAt,
  auditRetentionAt,
  checkDeletedFiles,
  checkExcusesSealed,
} from "./verify-retention.js";
import type { UploadRow } from "./verify-uploads.js";
import { ChainWalk } from "./verify-walk.js";

export type { VerifyProblem } from "./verify-problems.js";

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
  /**
   * meta `last_seq` as stored (the journal's last record seq; text), or null when absent: held to the rows
   * and the commit entries (./verify-journal-seqs.ts)
   */
  journalLastSeq?(): unknown;
  /** each suspect_evidence row with its record's kind and entry (./verify-evidence.ts) */
  evidenceRows?(): Iterable<EvidenceRow>;
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
  /** the most entries any stretch between checkpoints may hold (default TAIL_ENTRY_CAP); tests lower it */
  tailEntryCap?: number;
  /** `key` is an independent copy (`audit verify --key`): a trail with nothing sealed did not exercise it */
  keyGiven?: boolean;
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
   * the newest file holds no line, as a power cut during a rotation leaves it (./torn-tail.ts
   * anchorNotOnDisk): its anchor, the copy of the checkpoint at `seq` that ends `prevFile`, had not reached
   * the disk; the lane writes it again at its next start. Not a failure by itself: entries the file held
   * after it that the spool and the rows cannot give back are (the head copy, the station)
   */
  anchorMissing: { file: string; prevFile: string; seq: number } | null;
  /**
   * lines the file lacks that the spool holds or, for a journal record, its row gives (a running lane
   * writes them within milliseconds, a stopped one at its next start)
   */
  pendingFromSpool: { from: number; to: number; fromRows: number } | null;
  /**
   * the seqs of the `journal.retention` and `audit.retention` entries no checkpoint seals yet (each a
   * failure: ./verify-retention.ts). Beside a running lane, one it wrote and is sealing at once (the
   * lane's own background verify runs again once that seal is done: ./background-verify.ts)
   */
  unsealedExcuses: number[];
  /** torn tails the lane cut at earlier starts */
  tornRepaired: number;
  retainedFrom: number | null;
  journal: { bound: number; checkedRows: number; legacyRows: number } | null;
  witness: { state: string; n: number } | null;
  problems: VerifyProblem[];
}

/** One run of verify: what it read before the walk, the checks it runs, and the report they fill. */
interface Verification {
  o: VerifyOptions;
  headCopy: AuditHead | null;
  /** the spooled lines, read before the files */
  spoolLines: SpooledLine[];
  witness: WitnessRecord | null;
  segs: SegmentFile[];
  problems: Problems;
  checkpoints: CheckpointChain;
  complete: TrailCompleteness;
  journal: JournalBindingCheck;
  /** journal.db's suspect_evidence against the booth.evidence entries */
  evidence: EvidenceCheck;
  /** the audit.retention entries met, in chain order */
  auditRetentions: AuditRetentionAt[];
  rep: VerifyReport;
}

/** What the walk left: the walk itself, whether it reached the end, and the checkpoints as it left them. */
interface Walked {
  walk: ChainWalk;
  intact: boolean;
  /** the newest checkpoint in the files (before any among the lines past their end) */
  cpInFiles: Cp | null;
  end: FileEnd;
}

/** What verify says of a side file still named `.unrecorded` (./side-files.ts unrecordedSideFiles). */
export const UNRECORDED_PROBLEM =
  "damaged bytes kept aside at start but not recorded in the trail: the start was cut short";

/** Verifies the trail in `o.dir` step by step; a chain broken in the files or past their end ends it. */
export function verifyTrail(o: VerifyOptions): VerifyReport {
  const v = startVerification(o);
  const w = walkFiles(v);
  // the chain broke: what follows the first bad record cannot be judged
  if (!w.intact || !checkFileEnd(v, w)) return finish(v);
  checkStationWord(v.witness, w.cpInFiles, v.checkpoints.witnessAt, v.rep.retainedFrom, v.problems);
  const sealed = sealedByCheckpoints(v.checkpoints);
  v.rep.unsealedExcuses = checkExcusesSealed(v.journal.retentions, v.auditRetentions, sealed, v.problems);
  const lastAuditRetention = checkDeletedFiles(
    v.auditRetentions,
    sealed,
    v.rep.retainedFrom,
    w.walk.first,
    v.segs[0]?.name ?? null,
    v.problems,
  );
  v.rep.journal = judgeJournal(v, sealed, lastAuditRetention);
  const evidence = o.journal?.evidenceRows?.();
  if (evidence) v.evidence.judge(evidence, v.rep.retainedFrom, v.problems);
  completenessChecks(v.complete, o, v.rep);
  return finish(v);
}

/** Reads the spool (head copy, witness, lines), then lists the files, and sets up the checks and report. */
function startVerification(o: VerifyOptions): Verification {
  // the spool BEFORE the files: a running lane only moves the files past what the spool says
  const meta = readSpoolMeta(o.spool);
  const headCopy = meta.head;
  const spoolLines: SpooledLine[] = o.spool ? o.spool.tail(1) : [];
  const witness = meta.witness;
  const segs = listSegments(o.dir);
  const problems = new Problems(meta.problems.map((what) => ({ seq: null, file: null, line: null, what })));
  const checkpoints = new CheckpointChain(
    o.key,
    o.laneId ?? null,
    witness,
    o.signatureCache ?? new Map<string, boolean>(),
    problems,
  );
  const complete = new TrailCompleteness(tailLimitsUsed(o.tailLimits, o.tailEntryCap));
  // a trail stripped of its checkpoints is judged when its tail passes the limit, not held to its end
  complete.noCheckpointAfter(lastCheckpointMarkSeq(segs, spoolLines));
  const rep: VerifyReport = {
    ok: false,
    keyId: checkpoints.keyId,
    files: segs.length,
    entries: 0,
    verified: null,
    sealed: null,
    unsealed: { count: 0, since: 0 },
    unsealedTail: { entries: 0, spanSeconds: 0, limits: complete.limits },
    torn: null,
    anchorMissing: null,
    pendingFromSpool: null,
    unsealedExcuses: [],
    tornRepaired: 0,
    retainedFrom: null,
    journal: null,
    witness: witness ? { state: witness.state, n: witness.n } : null,
    problems: problems.list,
  };
  if (!o.key) problems.note(null, null, null, "no public key: the checkpoints' signatures cannot be checked");
  // damaged bytes the start kept aside to cut them off or remove their file, whose audit.damaged entry never reached
  // the disk (./side-files.ts keepAside): the trail no longer shows the damage, this file does
  for (const name of unrecordedSideFiles(o.dir)) problems.note(null, name, null, UNRECORDED_PROBLEM);
  // Read in one snapshot with the spool (the CLI does), the rows are judged against the entries up to the
  // newest entry the snapshot knows of; later ones against a fresh read (./verify-journal.ts).
  const journal = new JournalBindingCheck(o.journal ?? null, o.freshJournal ?? null, headCopy, problems);
  return {
    o,
    headCopy,
    spoolLines,
    witness,
    segs,
    problems,
    checkpoints,
    complete,
    journal,
    evidence: new EvidenceCheck(),
    auditRetentions: [],
    rep,
  };
}

/** The checks of an entry's kind, in chain order (not called for an `audit.gap` entry). */
function entryChecks(v: Verification): (e: AuditEntry, file: string, lineNo: number) => void {
  const { journal, checkpoints, complete, problems, rep } = v;
  return (e, file, lineNo) => {
    journal.entry(e);
    v.evidence.entry(e);
    switch (e.type) {
      case "audit.checkpoint":
        complete.sealed(checkpoints.check(e, file, lineNo));
        return;
      case "audit.gap":
      case "audit.journal-gap":
      case "audit.journal-behind":
      case "audit.head-mismatch":
      case "audit.damaged":
      case "audit.rollback":
        problems.note(e.seq, file, lineNo, `the lane recorded: ${e.message}`);
        return;
      case "audit.torn-tail":
        rep.tornRepaired++;
        return;
      case "audit.retention":
        v.auditRetentions.push(auditRetentionAt(e, file, lineNo, v.segs));
        journal.statement(e, file, lineNo);
        return;
      case "journal.bound":
        journal.statement(e, file, lineNo);
        return;
      case "journal.retention":
        journal.retention(e, file, lineNo);
        return;
    }
    if (isRecordType(e.type)) journal.record(e, file, lineNo);
  };
}

/** Walks the files (./verify-walk.ts), each entry through entryChecks, and reports what they hold. */
function walkFiles(v: Verification): Walked {
  const { checkpoints, rep } = v;
  const walk = new ChainWalk(checkpoints, v.complete, v.problems, v.headCopy?.seq ?? null, entryChecks(v));
  const intact = walk.walk(v.segs);
  const { first, last } = walk;
  rep.entries = walk.entries;
  rep.torn = walk.torn;
  rep.anchorMissing = walk.anchorMissing;
  rep.retainedFrom = walk.retainedFrom;
  const lastSeq = walk.expect - 1;
  if (first && last)
    rep.verified = { from: first.seq, to: last.seq, fromTime: first.time, toTime: last.time };
  const cpNow = checkpoints.last;
  if (cpNow && cpNow.n > 0)
    rep.sealed = {
      to: cpNow.to,
      checkpoints: checkpoints.count,
      last: cpNow.n,
      lastTime: checkpoints.lastTime,
    };
  // entries after the last checkpoint's range, not counting that checkpoint's own entry
  rep.unsealed = {
    count: Math.max(0, lastSeq - (cpNow?.to ?? 0) - (cpNow && cpNow.n > 0 ? 1 : 0)),
    since: cpNow?.to ?? 0,
  };
  const end: FileEnd = {
    last,
    lastSeq,
    head: walk.head,
    headCopyAt: walk.headCopyAt,
    newestFile: v.segs[v.segs.length - 1]?.name ?? null,
  };
  return { walk, intact, cpInFiles: cpNow, end };
}

/** The lines past the file's end, then the end against the head copy; false when one broke the chain. */
function checkFileEnd(v: Verification, w: Walked): boolean {
  const { pending, intact } = checkLinesPastEnd(
    v.o.spool,
    v.spoolLines,
    v.headCopy,
    w.end,
    v.checkpoints,
    v.complete,
    entryChecks(v),
  );
  v.rep.pendingFromSpool = pending;
  if (!intact) return false;
  checkHeadCopy(v.headCopy, w.end, pending, v.problems);
  return true;
}

/** Whether an entry is sealed: through the last checkpoint's `to` (one among the spooled lines included). */
function sealedByCheckpoints(checkpoints: CheckpointChain): (seq: number) => boolean {
  // an entry that excuses something counts only when sealed (./verify-retention.ts)
  const sealedTo = checkpoints.sealedTo();
  return (seq) => seq <= sealedTo;
}

/** The journal's binding, the settlements' order and the rows (./verify-journal.ts). */
function judgeJournal(
  v: Verification,
  sealed: (seq: number) => boolean,
  lastAuditRetention: number,
): VerifyReport["journal"] {
  const after = { sealed, retainedFrom: v.rep.retainedFrom, lastAuditRetention };
  v.journal.decideBinding(sealed);
  v.journal.orderProblems(after);
  return v.journal.judgeRows(after);
}

/** The problems in seq order (those without a seq last); ok when there is none. */
function finish(v: Verification): VerifyReport {
  v.problems.list.sort((a, b) => (a.seq ?? Number.MAX_SAFE_INTEGER) - (b.seq ?? Number.MAX_SAFE_INTEGER));
  v.rep.ok = v.problems.list.length === 0;
  return v.rep;
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
