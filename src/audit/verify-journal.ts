/**
 * `audit verify`'s checks of the journal's binding (docs/audit.md, "Journal binding"): each record entry
 * against the journal.db row of its journal seq (the row names the entry's seq and its JSON matches the
 * entry's digest), each row against the trail (a row no entry names was inserted), a row that is gone
 * against the sealed `journal.retention` entries that could have deleted it, a `record.settle` entry
 * only after its record's suspect entry, a `record.commit` entry only once per record and in journal-seq
 * order, the journal's binding as the trail states it (`journal.bound`,
 * or a sealed `audit.retention` entry restating it), and each row's place in the upload state
 * (./verify-uploads.ts), and that no record went missing with its entry (./verify-journal-seqs.ts).
 *
 * Entries are seen during the walk in chain order (./verify.ts hands each over); what depends on the
 * whole trail (which entries are sealed, the binding, which rows no entry matched) is judged after it.
 */
import { type BindingMark, bindingMarkOfEntry } from "./binding-mark.js";
import { type AuditEntry, sha256hex } from "./entry.js";
import type { RecordEntryData } from "./records.js";
import type { AuditHead } from "./spool.js";
import type { JournalBindingView } from "./verify.js";
import { JournalSeqCheck } from "./verify-journal-seqs.js";
import type { At, Problems } from "./verify-problems.js";
import { UploadStates } from "./verify-uploads.js";

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

/** A `journal.retention` entry: the journal seqs it names as deleted, and its cutoff. */
export interface JournalRetentionAt extends At {
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

/** A record entry whose row is gone: excused only by a journal.retention entry that can have deleted it. */
type MissingRow = { jseq: number; seq: number; file: string; line: number; kind: string; timeMs: number };

/** The rows as one read of the journal sees them. */
interface RowLookup {
  view: JournalBindingView;
  /** the audit seq the row names (null: none); undefined: no row */
  auditSeqOf(jseq: number): number | null | undefined;
  matched(jseq: number): void;
}

/** What the checks after the walk need to know of the whole trail. */
export interface TrailAfterWalk {
  /** a checkpoint seals the entry at `seq` */
  sealed(seq: number): boolean;
  /** the first seq of a trail retention cut; null when it begins at seq 1 */
  retainedFrom: number | null;
  /** the last sealed audit.retention entry's seq (0: none) */
  lastAuditRetention: number;
}

export class JournalBindingCheck {
  /** record entries in the trail (counted with or without a journal to check them against) */
  bound = 0;
  /** the journal.retention entries, in chain order */
  readonly retentions: JournalRetentionAt[] = [];
  /** each record's place in the upload state as the trail has it (./verify-uploads.ts) */
  private readonly uploads: UploadStates;
  /** journal rows, sorted by jseq; null without a journal */
  private readonly rows: Rows | null;
  private readonly snapshotRows: RowLookup | null;
  private readonly freshRows: RowLookup | null;
  /**
   * The newest entry the journal snapshot knows of: the head copy, or the highest seq a row names (a
   * record's commit stores its entry's seq, not the head copy; the seqs are given in commit order, so
   * every record entry below it has its row in the snapshot, and an upload move after the snapshot has a
   * higher seq). Entries after it were written after that snapshot by a running lane: their rows may not
   * be in it, so they are judged against a fresh read (a row commits before its entry's line is written).
   */
  private readonly bindLimit: number;
  /**
   * The first journal seq bound to the trail, as the trail's first `journal.bound` entry fixes it, or a
   * sealed audit.retention entry restating it once retention deleted that entry's file (never as
   * journal.db says: anyone who can write it can raise its meta.audit_bound_from). Only a row without an
   * audit seq and with a seq from 1 to below it is legacy (not judged); none without such an entry.
   * Decided after the walk (decideBinding), when it is known which entries are sealed.
   */
  private binding: BindingMark | null = null;
  private readonly statements: BindingAt[] = [];
  /** the record entry for the highest journal seq so far (a journal.bound entry must not follow it) */
  private highestRecord: { jseq: number; seq: number } | null = null;
  /** record entries whose row is gone */
  private readonly missingRows: MissingRow[] = [];
  /** rows with no audit seq that a record entry names: legacy, or replaced by a row without one */
  private readonly unboundRows: { jseq: number; seq: number; tradeId: string; file: string; line: number }[] =
    [];
  /** record entries past bindLimit, judged after the walk against the fresh read */
  private readonly late: RecordAt[] = [];
  private readonly records = new RecordStates();
  private readonly badSettles: BadSettle[] = [];
  /** record.commit entries for a record the kept trail has an entry for already; decided after the walk */
  private readonly recommits: (At & { jseq: number; what: string })[] = [];
  /** the commit entries' journal seqs, in chain order, against journal.db's last_seq */
  private readonly seqs = new JournalSeqCheck();

  constructor(
    private readonly journal: JournalBindingView | null,
    /** journal.db read again after the walk (VerifyOptions.freshJournal) */
    fresh: JournalBindingView | null,
    headCopy: AuditHead | null,
    private readonly problems: Problems,
  ) {
    const rows = journal ? loadRows(journal) : null;
    this.rows = rows;
    this.bindLimit =
      journal && headCopy
        ? Math.max(headCopy.seq, rows ? rows.auditSeq.reduce((m, a) => Math.max(m, a), 0) : 0)
        : Number.POSITIVE_INFINITY;
    this.uploads = new UploadStates(this.bindLimit);
    this.snapshotRows =
      rows && journal
        ? {
            view: journal,
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
    this.freshRows =
      fresh?.auditSeqOf && this.snapshotRows
        ? { view: fresh, auditSeqOf: (jseq) => fresh.auditSeqOf!(jseq), matched: () => undefined }
        : null;
  }

  /** Every entry, in chain order: the upload state moves with it. */
  entry(e: AuditEntry): void {
    this.uploads.see(e);
  }

  /** A `journal.bound` entry, or an `audit.retention` entry (which may restate the binding). */
  statement(e: AuditEntry, file: string, lineNo: number): void {
    const mark = bindingMarkOfEntry(e);
    if (e.type === "journal.bound") {
      if (!mark) this.problems.note(e.seq, file, lineNo, "journal.bound entry without a valid boundFrom");
      else
        this.statements.push({
          seq: e.seq,
          file,
          line: lineNo,
          type: e.type,
          mark,
          recordBefore: this.highestRecord,
        });
    } else if (mark)
      this.statements.push({
        seq: e.seq,
        file,
        line: lineNo,
        type: "audit.retention",
        mark,
        recordBefore: null,
      });
    else if ((e.data as { bound?: unknown } | undefined)?.bound !== undefined)
      this.problems.note(
        e.seq,
        file,
        lineNo,
        "audit.retention entry whose bound is not a valid { boundFrom, seq }",
      );
  }

  /** A `journal.retention` entry: the rows it names as deleted, and its cutoff. */
  retention(e: AuditEntry, file: string, lineNo: number): void {
    const d = e.data as { deleted?: unknown; cutoff?: unknown } | undefined;
    const ranges: [number, number][] = [];
    if (Array.isArray(d?.deleted))
      for (const r of d.deleted as unknown[])
        if (Array.isArray(r) && typeof r[0] === "number" && typeof r[1] === "number")
          ranges.push([r[0], r[1]]);
    const cutoffMs =
      d?.cutoff === undefined ? null : typeof d.cutoff === "string" ? Date.parse(d.cutoff) : Number.NaN;
    if (Number.isNaN(cutoffMs))
      this.problems.note(
        e.seq,
        file,
        lineNo,
        "journal.retention entry whose cutoff is not a time: it excuses no deleted row",
      );
    this.retentions.push({ seq: e.seq, file, line: lineNo, ranges, cutoffMs });
  }

  /** A record entry (`record.commit`, `record.settle`). */
  record(e: AuditEntry, file: string, lineNo: number): void {
    this.bound++;
    const d = e.data as unknown as RecordEntryData;
    const rec = d?.rec;
    if (rec && Number.isSafeInteger(rec.jseq)) this.recordStep(e, d, file, lineNo);
    const rows = this.rows;
    if (!rows) return;
    if (!rec || !Number.isSafeInteger(rec.jseq) || typeof rec.digest !== "string") {
      this.problems.note(e.seq, file, lineNo, "record entry without rec.jseq / rec.digest");
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
    // An entry past the newest the snapshot knows of: a running lane wrote it after the snapshot, so its
    // row may not be in it (or be an older revision there). It is judged after the walk against a fresh
    // read of the journal (its row commits before its line is written), never excused: a head copy set
    // back by hand must not hide a deleted row.
    if (e.seq > this.bindLimit && !(i >= 0 && rows.auditSeq[i] === e.seq)) {
      this.late.push(at);
      return;
    }
    this.judgeRecord(at, this.snapshotRows!);
  }

  /**
   * After the walk: the journal's binding from its first statement (a journal.bound entry, or a sealed
   * audit.retention entry restating it once the journal.bound entry's file was deleted); every later one
   * must say the same.
   */
  decideBinding(sealed: (seq: number) => boolean): void {
    for (const b of this.statements) {
      if (b.type === "audit.retention" && !sealed(b.seq)) continue; // named by ./verify-retention.ts
      if (b.type === "journal.bound" && b.recordBefore && b.recordBefore.jseq >= b.mark.boundFrom)
        this.problems.note(
          b.seq,
          b.file,
          b.line,
          `journal.bound names seq ${b.mark.boundFrom}, but the record entry at seq ${b.recordBefore.seq} bound journal record ${b.recordBefore.jseq} before it (the journal was bound already)`,
        );
      const binding = this.binding;
      if (binding === null) this.binding = b.mark;
      else if (b.type === "journal.bound" && b.mark.boundFrom !== binding.boundFrom)
        this.problems.note(
          b.seq,
          b.file,
          b.line,
          `journal.bound names seq ${b.mark.boundFrom}, but the trail bound the journal from seq ${binding.boundFrom} (the journal's binding record was changed)`,
        );
      else if (
        b.type === "audit.retention" &&
        (b.mark.boundFrom !== binding.boundFrom || b.mark.seq !== binding.seq)
      )
        this.problems.note(
          b.seq,
          b.file,
          b.line,
          `audit.retention restates the journal's binding as from seq ${b.mark.boundFrom} (journal.bound at seq ${b.mark.seq}), but the trail bound the journal from seq ${binding.boundFrom} (journal.bound at seq ${binding.seq})`,
        );
    }
  }

  /**
   * After decideBinding: the order of each record's entries. Settlements that do not follow their
   * record's suspect entry, commits of a record the trail has an entry for already, and commits out of
   * journal-seq order (./verify-journal-seqs.ts). An older version's entries, before the binding, for
   * records before it are counted, not judged.
   */
  orderProblems(t: TrailAfterWalk): void {
    for (const r of this.recommits)
      if (!(this.beforeBound(r.seq) && this.isLegacy(r.jseq)))
        this.problems.note(r.seq, r.file, r.line, r.what);
    this.seqs.orderProblems(this.binding?.boundFrom ?? null, this.problems);
    for (const b of this.badSettles) {
      // an older version's entries, before the binding, are counted, not judged
      if (this.beforeBound(b.seq) && this.isLegacy(b.jseq)) continue;
      // a suspect from before the binding, settled since; or one whose earlier entries retention deleted
      // (they were in a file deleted after this entry was written)
      if (b.orphan && (this.isLegacy(b.jseq) || (t.retainedFrom !== null && t.lastAuditRetention > b.seq)))
        continue;
      this.problems.note(b.seq, b.file, b.line, b.what);
    }
  }

  /**
   * After decideBinding: the rows. Record entries past the snapshot against the fresh read, rows no entry
   * matched, rows in the wrong place of the upload state, rows replaced by one without an audit seq, and
   * rows that are gone against the journal.retention entries. null without a journal.
   */
  judgeRows(t: TrailAfterWalk): { bound: number; checkedRows: number; legacyRows: number } | null {
    const rows = this.rows;
    const journal = this.journal;
    if (!rows || !journal) return null;
    for (const at of this.late) this.judgeRecord(at, this.freshRows ?? this.snapshotRows!);
    let legacy = 0;
    let checked = 0;
    const firstKept = t.retainedFrom ?? 1;
    for (let i = 0; i < rows.jseq.length; i++) {
      const jseq = rows.jseq[i]!;
      const a = rows.auditSeq[i]!;
      // a row that names an entry is always judged; one without is legacy only below the trail's bound-from
      if (a === -1 && this.isLegacy(jseq)) {
        legacy++;
        continue;
      }
      checked++;
      if (rows.matched[i]) continue;
      if (a === -1)
        this.problems.note(
          null,
          null,
          null,
          `journal record ${jseq} is not in the audit trail (a row was inserted)`,
        );
      else if (a < firstKept)
        this.problems.note(
          a,
          null,
          null,
          `journal record ${jseq} names audit entry ${a}, which retention deleted`,
        );
      else
        this.problems.note(
          a,
          null,
          null,
          `journal record ${jseq} names audit entry ${a}, which is not an entry for that record (a row was inserted or altered)`,
        );
    }
    // each row's place in the upload state (outbox, held, acks) against the trail's
    if (journal.uploadRows)
      for (const p of this.uploads.rowProblems(
        journal.uploadRows(),
        (jseq, auditSeq) => auditSeq === null && this.isLegacy(jseq),
      ))
        this.problems.list.push(p);
    for (const u of this.unboundRows) {
      if (!(this.beforeBound(u.seq) && this.isLegacy(u.jseq)))
        this.problems.note(
          u.seq,
          u.file,
          u.line,
          `journal record ${u.jseq} (trade ${u.tradeId}) names audit entry none, older than this entry: ` +
            "the row was replaced by an earlier version",
        );
    }
    this.deletedRows(t);
    this.seqs.judge(
      {
        boundFrom: this.binding?.boundFrom ?? null,
        lastSeq: journal.journalLastSeq?.() ?? null,
        highestRow: rows.jseq.length > 0 ? rows.jseq[rows.jseq.length - 1]! : 0,
        retainedFrom: t.retainedFrom,
      },
      this.problems,
    );
    return { bound: this.bound, checkedRows: checked, legacyRows: legacy };
  }

  /**
   * A deleted row is excused only by a sealed journal.retention entry that names it, comes after its
   * record's entries, and could have deleted it: not an unsettled suspect (src/journal/upkeep.ts
   * RETENTION_SQL never picks one), and its entry older than the batch's cutoff (it was acknowledged
   * before the cutoff, and after it was written).
   */
  private deletedRows(t: TrailAfterWalk): void {
    const covering = retentionIndex(this.retentions);
    const excuseProblem = (r: JournalRetentionAt, group: MissingRow[], m: MissingRow): string | null => {
      const by = `the journal.retention entry at seq ${r.seq} that names it`;
      if (r.seq < m.seq) return `${by} comes before this entry`;
      if (!t.sealed(r.seq)) return `${by} is not sealed yet`;
      let last = m;
      for (const x of group) if (x.seq < r.seq && x.seq > last.seq) last = x;
      if (last.kind === "suspect")
        return `${by} cannot have deleted it: its entry at seq ${last.seq} records an unsettled suspect, which retention never deletes`;
      if (r.cutoffMs !== null && !(last.timeMs < r.cutoffMs))
        return `${by} cannot have deleted it: its entry at seq ${last.seq} is not older than that batch's cutoff`;
      // retention deletes only acknowledged records (RETENTION_SQL): the trail must have it acknowledged
      const unacked = this.uploads.retentionProblem(r.seq, m.jseq);
      if (unacked !== null) return `${by} cannot have deleted it: ${unacked}`;
      return null;
    };
    const missing = this.missingRows;
    missing.sort((a, b) => a.jseq - b.jseq || a.seq - b.seq);
    for (let g = 0; g < missing.length; ) {
      let end = g + 1;
      while (end < missing.length && missing[end]!.jseq === missing[g]!.jseq) end++;
      const group = missing.slice(g, end);
      g = end;
      const cands = covering(group[0]!.jseq);
      for (const m of group) {
        if (this.beforeBound(m.seq) && this.isLegacy(m.jseq)) continue;
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
          this.problems.note(m.seq, m.file, m.line, `journal record ${m.jseq} was deleted: ${why}`);
      }
    }
  }

  /** record entries before the `journal.bound` entry: the only ones that can be legacy */
  private beforeBound(seq: number): boolean {
    return this.binding === null || seq < this.binding.seq;
  }

  private isLegacy(jseq: number): boolean {
    return this.binding !== null && jseq >= 1 && jseq < this.binding.boundFrom;
  }

  /**
   * A record's entries in order: one commit, then at most one settle, which must follow the suspect entry
   * of the revision before it (the journal settles only an unsettled suspect, raising its revision by 1).
   * A commit after an entry for the same record, or a settle that does not follow its suspect, is decided
   * after the walk (an older version's entries before the binding are not judged; the record's earlier
   * entries may be in files retention deleted).
   *
   * A record is committed once: the journal gives each commit the next journal seq (src/journal/records.ts
   * Records.commit, its row an INSERT), and a settlement is a record.settle entry (its revision above 1).
   * A second commit entry is one someone added, with the row pointed at it: the row then matches that
   * entry, and the first one (sealed, maybe witnessed) is no longer judged against it (judgeRecord).
   */
  private recordStep(e: AuditEntry, d: RecordEntryData, file: string, lineNo: number): void {
    const { jseq, revision, tradeId } = d.rec;
    const records = this.records;
    const was = records.get(jseq);
    if (e.type === "record.commit") {
      if (was === RecordStates.NONE) this.seqs.commit(jseq, { seq: e.seq, file, line: lineNo });
      else
        this.recommits.push({
          seq: e.seq,
          file,
          line: lineNo,
          jseq,
          what:
            `record.commit for journal record ${jseq} (trade ${tradeId}) comes after an entry for that record ` +
            "in the trail: a record is committed once (a settlement is a record.settle entry), so this entry was added and its row pointed at it",
        });
    }
    const highest = this.highestRecord;
    if (highest === null || jseq >= highest.jseq) this.highestRecord = { jseq, seq: e.seq };
    if (e.type !== "record.settle") {
      if (d.kind === "suspect") {
        records.set(jseq, RecordStates.SUSPECT);
        records.suspectRevision.set(jseq, revision);
      } else records.set(jseq, RecordStates.DONE);
      return;
    }
    const who = `record.settle for journal record ${jseq} (trade ${tradeId})`;
    const bad = (what: string, orphan = false): void => {
      this.badSettles.push({ seq: e.seq, file, line: lineNo, jseq, orphan, what: `${who} ${what}` });
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
  }

  /** A record entry against the row of its jseq as `rowsOf` sees it (the snapshot, or the fresh read). */
  private judgeRecord(at: RecordAt, rowsOf: RowLookup): void {
    const { rec, file, line: lineNo } = at;
    const a = rowsOf.auditSeqOf(rec.jseq);
    const missing = { jseq: rec.jseq, seq: at.seq, file, line: lineNo, kind: at.kind, timeMs: at.timeMs };
    if (a === undefined) {
      this.missingRows.push(missing);
      return;
    }
    if (a === at.seq) {
      rowsOf.matched(rec.jseq);
      const json = rowsOf.view.recordJson(rec.jseq);
      if (json === null) this.missingRows.push(missing);
      else if (sha256hex(json) !== rec.digest)
        this.problems.note(
          at.seq,
          file,
          lineNo,
          `journal record ${rec.jseq} (trade ${rec.tradeId}) was changed: its row no longer matches this entry's digest`,
        );
      else {
        const bad = rowsOf.view.rowProblem?.(rec.jseq, at.hash) ?? null;
        if (bad)
          this.problems.note(
            at.seq,
            file,
            lineNo,
            `journal record ${rec.jseq} (trade ${rec.tradeId}) was changed: ${bad}`,
          );
      }
    } else if (a !== null && a > at.seq) {
      // settled later: the row names the newer entry, which is checked when the walk reaches it
    } else if (a === null) {
      // an entry of a record from before the binding (the previous version wrote it after the commit),
      // or a row stripped of its audit seq: decided once the trail's journal.bound entry is known
      this.unboundRows.push({ jseq: rec.jseq, seq: at.seq, tradeId: rec.tradeId, file, line: lineNo });
    } else {
      this.problems.note(
        at.seq,
        file,
        lineNo,
        `journal record ${rec.jseq} (trade ${rec.tradeId}) names audit entry ${a}, older than this entry: ` +
          "the row was replaced by an earlier version",
      );
    }
  }
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
