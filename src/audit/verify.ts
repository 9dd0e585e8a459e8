/**
 * `audit verify`: reads a trail (never writes) and says whether it is intact, naming the first bad record
 * and what is wrong, the range verified and the unsealed tail (docs/audit.md, "Verify").
 *
 * This file reads the spool's head copy and witness, hands each entry to the checks of its kind, and
 * judges what only the whole trail shows. The checks live by what they check:
 * - ./verify-walk.ts: the segment files, oldest first: every line's hash over its raw bytes, seq
 *   gap-free and in order, `prev` = the previous hash (edit, delete, insert, reorder), every file after
 *   the first beginning with a byte-exact copy of the previous one's last line, a kept trail's anchor;
 * - ./verify-checkpoints.ts: each checkpoint's number, range, head at `to`, previous checkpoint hash,
 *   lane, key id and Ed25519 signature (re-sealing old entries, gaps, overlaps, reordering), and the
 *   checkpoint the station knows;
 * - ./verify-journal.ts: each journal row against the entry bound to it (changed, deleted or inserted
 *   rows), a settlement only after its suspect, the journal's binding, and with ./verify-uploads.ts each
 *   row's place in the upload state (outbox, held, acks) against the trail's upload entries;
 * - ./verify-guards.ts: the trail's completeness: an unsealed tail no longer than the lane leaves one, a
 *   trail wherever journal.db shows a bound journal, and a key given with --key that checked a signature.
 * Here: incidents the lane recorded (gap, head mismatch, damaged lines, a rollback refused by the
 * station); the file's end against the head copy and the spool (truncation: also of a newest file the
 * walk takes for a rotation a power cut left without its anchor); the station's last word
 * (witness); a first kept file that begins with an anchor only when an `audit.retention` entry names the
 * deletion.
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
import { type AuditEntry, checkLine } from "./entry.js";
import { isRecordType, recordLineOfRow } from "./records.js";
import { listSegments } from "./segments.js";
import type { AuditSpoolView, RowRecord, SpooledLine } from "./spool.js";
import { offsetOf } from "./time.js";
import { CheckpointChain } from "./verify-checkpoints.js";
import {
  type JournalBindingMarks,
  readSpoolMeta,
  type TailLimits,
  type TailLimitsUsed,
  TrailCompleteness,
  tailLimitsUsed,
} from "./verify-guards.js";
import { JournalBindingCheck } from "./verify-journal.js";
import { type At, Problems, Stop, type VerifyProblem } from "./verify-problems.js";
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
}

/** How far a lane's wall clock may step back between planning a retention run and writing its entry. */
const RETENTION_CLOCK_SLACK_MS = 60_000;

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
   * the newest file holds no line, as a power cut during a rotation leaves it (./verify-walk.ts
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
  /** torn tails the lane cut at earlier starts */
  tornRepaired: number;
  retainedFrom: number | null;
  journal: { bound: number; checkedRows: number; legacyRows: number } | null;
  witness: { state: string; n: number } | null;
  problems: VerifyProblem[];
}

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
  const problems = new Problems(meta.problems.map((what) => ({ seq: null, file: null, line: null, what })));
  const note = problems.note.bind(problems);
  const checkpoints = new CheckpointChain(
    o.key,
    o.laneId ?? null,
    witness,
    o.signatureCache ?? new Map<string, boolean>(),
    problems,
  );
  const complete = new TrailCompleteness(tailLimitsUsed(o.tailLimits));
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
    tornRepaired: 0,
    retainedFrom: null,
    journal: null,
    witness: witness ? { state: witness.state, n: witness.n } : null,
    problems: problems.list,
  };
  if (!o.key) note(null, null, null, "no public key: the checkpoints' signatures cannot be checked");

  // Read in one snapshot with the spool (the CLI does), the rows are judged against the entries up to the
  // newest entry the snapshot knows of; later ones against a fresh read (./verify-journal.ts).
  const journal = new JournalBindingCheck(o.journal ?? null, o.freshJournal ?? null, headCopy, problems);
  const auditRetentions: (At & { deletedThrough: number | null; timeMs: number; days: number | null })[] = [];

  /** The checks of an entry's kind, in chain order (not called for an `audit.gap` entry). */
  const entryChecks = (e: AuditEntry, file: string, lineNo: number): void => {
    journal.entry(e);
    switch (e.type) {
      case "audit.checkpoint":
        complete.sealed(checkpoints.check(e, file, lineNo));
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
        const d = e.data as { deletedThrough?: unknown; retentionDays?: unknown } | undefined;
        auditRetentions.push({
          seq: e.seq,
          file,
          line: lineNo,
          deletedThrough: typeof d?.deletedThrough === "number" ? d.deletedThrough : null,
          timeMs: Date.parse(e.utc),
          days: Number.isInteger(d?.retentionDays) ? (d!.retentionDays as number) : null,
        });
        journal.statement(e, file, lineNo);
        return;
      }
      case "journal.bound":
        journal.statement(e, file, lineNo);
        return;
      case "journal.retention":
        journal.retention(e, file, lineNo);
        return;
    }
    if (isRecordType(e.type)) journal.record(e, file, lineNo);
  };

  const walk = new ChainWalk(checkpoints, complete, problems, headCopy?.seq ?? null, entryChecks);
  const walked = walk.walk(segs);
  const { first, last, head } = walk;
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
  // the chain broke: what follows the first bad record cannot be judged
  if (!walked) return rep;

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
          checkpoints.entry(e.seq, e.hash);
          if (e.type !== "audit.gap") entryChecks(e, SPOOL_FILE, i + 1);
          complete.see(e);
        });
      } catch (e) {
        if (!(e instanceof Stop)) throw e;
        return rep;
      }
    }
  }
  if (headCopy && last) {
    if (headCopy.seq > lastSeq) {
      if (rep.pendingFromSpool === null)
        note(
          lastSeq,
          segs[segs.length - 1]?.name ?? null,
          null,
          `the trail ends at seq ${lastSeq} but the head copy names seq ${headCopy.seq}: entries ${lastSeq + 1}..${headCopy.seq} ` +
            "are missing and not in the spool (the file was truncated)",
        );
    } else if (walk.headCopyAt !== null && walk.headCopyAt !== headCopy.hash) {
      note(
        headCopy.seq,
        null,
        null,
        `entry ${headCopy.seq} differs from the head copy (the trail was changed or replaced)`,
      );
    }
  } else if (headCopy && !last && headCopy.seq > 0) {
    note(null, null, null, `no entries, but the head copy names seq ${headCopy.seq}: the trail was deleted`);
  }

  // the station's last word
  if (witness) {
    if (witness.state === "conflict")
      note(null, null, null, `the station refused this lane's checkpoints; it holds #${witness.n}`);
    if (cpNow && cpNow.n < witness.n)
      note(
        null,
        null,
        null,
        `the station ${witness.state === "acknowledged" ? "acknowledged" : "holds"} checkpoint #${witness.n} but this trail's checkpoints end at #${cpNow.n}: it was rolled back or truncated`,
      );
    if (
      checkpoints.witnessAt === null &&
      cpNow &&
      cpNow.n >= witness.n &&
      (rep.retainedFrom === null || witness.to >= rep.retainedFrom)
    )
      note(null, null, null, `checkpoint #${witness.n}, which the station knows, is not in this trail`);
  }

  // What the checkpoints seal: every entry through the last one's `to` (a checkpoint among the spooled
  // lines included). An entry that excuses something counts only when sealed: lines appended after the
  // last checkpoint need no key. The lane seals such an entry at once (src/audit/recovery.ts SEAL_AT_ONCE).
  const sealedTo = checkpoints.sealedTo();
  const sealed = (seq: number): boolean => seq <= sealedTo;
  const unsealed = (type: string, at: At, what: string): void =>
    note(
      at.seq,
      at.file,
      at.line,
      `this ${type} entry is not sealed yet (no checkpoint covers it): ${what} not accepted until one does. ` +
        "The lane seals one at once: with the lane stopped, it was appended after the last checkpoint",
    );
  for (const r of journal.retentions)
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
    note(
      rep.retainedFrom - 1,
      segs[0]?.name ?? null,
      1,
      `the trail begins at seq ${rep.retainedFrom} but no audit.retention entry ${sealedNone}names the deletion of entries ..${rep.retainedFrom - 1}: files were deleted`,
    );
  } else if (rep.retainedFrom !== null && walk.first !== null) {
    // Retention deletes a file only once its last entry (the checkpoint that closed it, the anchor the
    // oldest kept file begins with) is older than audit.retentionDays (./retention.ts), the value the
    // audit.retention entry states (written by the lane since it states it; a later config may differ). The
    // anchor's time is under the checkpoint chain the station witnessed: an entry naming files younger than
    // a day (the least any config allows) is no retention, whoever signed it (a forged one, written to
    // delete fresh records with their files).
    const cut = auditRetentions.find(
      (r) => sealed(r.seq) && (r.deletedThrough ?? 0) >= rep.retainedFrom! - 1,
    )!;
    const days = Math.max(1, cut.days ?? 1);
    const anchorMs = Date.parse(walk.first.utc);
    if (!(anchorMs < cut.timeMs - days * 86_400_000 + RETENTION_CLOCK_SLACK_MS))
      note(
        cut.seq,
        cut.file,
        cut.line,
        `this audit.retention entry (${new Date(cut.timeMs).toISOString()}) deleted the files through seq ` +
          `${rep.retainedFrom - 1}, whose last entry (${walk.first.utc}) was not ${days} day(s) old then ` +
          `(${cut.days === null ? "the least audit.retentionDays any config allows; the entry states none" : "the entry's audit.retentionDays"}): files were deleted that retention keeps`,
      );
  }

  // the journal's binding, the settlements' order and the rows (./verify-journal.ts)
  const after = { sealed, retainedFrom: rep.retainedFrom, lastAuditRetention };
  journal.decideBinding(sealed);
  journal.settleProblems(after);
  rep.journal = journal.judgeRows(after);

  completenessChecks(complete, o, rep);

  problems.list.sort((a, b) => (a.seq ?? Number.MAX_SAFE_INTEGER) - (b.seq ?? Number.MAX_SAFE_INTEGER));
  rep.ok = problems.list.length === 0;
  return rep;
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
