/**
 * Journal records in the trail. The journal calls AuditTrail.bindRecord inside its commit or settle
 * transaction; the entry carries `rec: { jseq, tradeId, revision, digest }` where digest is the SHA-256
 * of the record JSON exactly as stored in the journal row, plus the fields staff search by. The row keeps
 * the entry's seq and time (RecordSlot; rows before journal schema 6 its hash), from which the line is
 * built again (recordLineOfRow), so `audit verify` detects a changed row (digest), a deleted row (an
 * entry whose row is gone, unless a journal.retention entry names it) and an inserted row (a row no entry
 * references). docs/audit.md, "Journal binding".
 */
import type { AuditEventInput, AuditSeverity, BuiltLine } from "./entry.js";
import { lineOf, sha256hex } from "./entry.js";
import type { AuditHead, SpooledLine } from "./spool.js";
import { EntryTimes, offsetOf } from "./time.js";

export const RECORD_TYPES = { commit: "record.commit", settle: "record.settle" } as const;
export type RecordEntryType = (typeof RECORD_TYPES)[keyof typeof RECORD_TYPES];

/** What the journal hands over for one record. */
export interface RecordBinding {
  op: "commit" | "settle";
  /** the record JSON exactly as stored in the journal row */
  json: string;
  jseq: number;
  tradeId: string;
  /** 1 at commit, +1 per settle */
  revision: number;
  kind: string;
  /** outcome or stop reason code */
  outcome: string;
  cardId: string | null;
  obuSerial: string | null;
  /** OBU MAC id */
  obuId: string | null;
  plate: string | null;
  /** fen */
  amount: number;
  /**
   * a settlement: the entry the row names before it (its commit entry), whose line can no longer be built
   * from the row once the settlement commits
   */
  supersedes?: number | null;
}

/** The data of a record entry (`record.commit` / `record.settle`). */
export interface RecordEntryData {
  rec: { jseq: number; tradeId: string; revision: number; digest: string };
  kind: string;
  outcome: string;
  cardId: string | null;
  obuSerial: string | null;
  obuId: string | null;
  plate: string | null;
  amount: number;
}

/**
 * Given to a record's commit or settle transaction: the row stores `seq` (audit_seq) and `ms` (audit_ms),
 * nothing else of its entry. The entry's line is built after the transaction, off the lane thread when a
 * worker builds record lines (./record-lines.ts), and can always be built again from the row alone
 * (recordLineOfRow): docs/audit.md, "Journal binding". When `spool` is given the transaction also spools
 * those lines and the head copy: entries before this one that nothing durable holds yet.
 */
export interface RecordSlot {
  /** the audit seq reserved for the record's entry */
  seq: number;
  /** the entry's time, wall ms */
  ms: number;
  /**
   * lines to spool in this transaction with the head copy (`spool.put(lines, head)`): the event lines the
   * trail has not spooled yet (their batch is up to spoolBatchMs away, and the row names the entry after
   * them), and for a settlement whose record's commit line is not known fsynced yet, that line, since the
   * row it was built from changes
   */
  spool?: { lines: SpooledLine[]; head: AuditHead };
}

/** Given to a journal transaction that carries an event's entry: store `seq` (and `hash`) where it says, and `spool.put(spool, head)`. */
export interface BoundEntry {
  seq: number;
  hash: string;
  /** lines to spool in this transaction: event lines not spooled yet, then this entry's line */
  spool: SpooledLine[];
  head: AuditHead;
}

/** The fields of a journal record the binding reads (src/journal/types.ts CommittedRecord has them). */
export interface BindableRecord {
  seq: number;
  tradeId: string;
  revision?: number;
  kind: string;
  outcome: string;
  cardId: string | null;
  obuSerial: string | null;
  obuId: string;
  plate: string | null;
  amount: number;
}

/** The binding of a journal record whose stored JSON is `json`. */
export function recordBinding(op: RecordBinding["op"], rec: BindableRecord, json: string): RecordBinding {
  return {
    op,
    json,
    jseq: rec.seq,
    tradeId: rec.tradeId,
    revision: rec.revision ?? 1,
    kind: rec.kind,
    outcome: rec.outcome,
    cardId: rec.cardId,
    obuSerial: rec.obuSerial,
    obuId: rec.obuId,
    plate: rec.plate,
    amount: rec.amount,
  };
}

const yuan = (fen: number): string => (fen / 100).toFixed(2);

/** The entry of a record as an event (tests and tools; the trail builds the same line with recordLine). */
export function recordEvent(b: RecordBinding): AuditEventInput {
  const data: RecordEntryData = {
    rec: { jseq: b.jseq, tradeId: b.tradeId, revision: b.revision, digest: sha256hex(b.json) },
    kind: b.kind,
    outcome: b.outcome,
    cardId: b.cardId,
    obuSerial: b.obuSerial,
    obuId: b.obuId,
    plate: b.plate,
    amount: b.amount,
  };
  return { type: RECORD_TYPES[b.op], severity: recordSeverity(b), message: recordMessage(b), data };
}

const recordSeverity = (b: RecordBinding): AuditSeverity => (b.kind === "suspect" ? "warn" : "info");

function recordMessage(b: RecordBinding): string {
  const verb = b.op === "settle" ? `settled (revision ${b.revision})` : "recorded";
  return `${b.kind} ${b.outcome} ${yuan(b.amount)} ${verb}, trade ${b.tradeId}`;
}

/** `,"name":<JSON of v>`, or nothing for undefined (as JSON.stringify leaves such a member out). */
function member(name: string, v: unknown): string {
  const j = JSON.stringify(v);
  return j === undefined ? "" : `,"${name}":${j}`;
}

/**
 * The line of a record's entry after `prev`: byte for byte the line buildLine writes for recordEvent(b)
 * (test/audit/record-line.test.ts), built without the intermediate objects and their serialisation: the
 * digest of the stored JSON (one SHA-256), the data member written member by member, the line's SHA-256.
 * In the lane it runs in the record-line worker (./record-lines-worker.ts), on the lane thread only for a
 * record the worker has not handed back when another entry must follow it (./record-queue.ts settle).
 */
export function recordLine(
  b: RecordBinding,
  seq: number,
  time: string,
  utc: string,
  prev: string,
): BuiltLine {
  const digest = sha256hex(b.json);
  const rec =
    member("jseq", b.jseq) +
    member("tradeId", b.tradeId) +
    member("revision", b.revision) +
    `,"digest":"${digest}"`;
  const data =
    `,"rec":{${rec.slice(1)}}` +
    member("kind", b.kind) +
    member("outcome", b.outcome) +
    member("cardId", b.cardId) +
    member("obuSerial", b.obuSerial) +
    member("obuId", b.obuId) +
    member("plate", b.plate) +
    member("amount", b.amount);
  return lineOf(
    seq,
    time,
    utc,
    RECORD_TYPES[b.op],
    recordSeverity(b),
    JSON.stringify(recordMessage(b)),
    `{${data.slice(1)}}`,
    prev,
  );
}

/** One EntryTimes per offset, for the lines built from rows (usually one offset per lane). */
const timesByOffset = new Map<number, EntryTimes>();

/**
 * The line of a record's entry from its journal row alone: the stored JSON (whose revision says the op:
 * 1 the commit, above 1 a settlement, which always raises it) and the entry's seq and time (audit_seq,
 * audit_ms). The entry's local time is written in the offset of the record's own `createdAt` (the lane's
 * offset when it was committed; `fallbackOffsetMinutes` for a record without one), so that every builder
 * of the line (the worker, the lane thread when it builds one itself, the trail's recovery and `audit
 * verify`) writes the same bytes whatever offset each was started with. Byte for byte the line recordLine
 * builds from the journal's binding in the same offset (test/audit/record-lines.test.ts).
 */
export function recordLineOfRow(
  json: string,
  seq: number,
  fallbackOffsetMinutes: number,
  ms: number,
  prev: string,
): BuiltLine {
  const rec = JSON.parse(json) as BindableRecord & { createdAt?: unknown };
  const offset =
    (typeof rec.createdAt === "string" ? offsetOf(rec.createdAt) : null) ?? fallbackOffsetMinutes;
  let times = timesByOffset.get(offset);
  if (times === undefined) {
    times = new EntryTimes(offset);
    timesByOffset.set(offset, times);
  }
  times.set(ms);
  return recordLine(
    recordBinding((rec.revision ?? 1) > 1 ? "settle" : "commit", rec, json),
    seq,
    times.local,
    times.utc,
    prev,
  );
}

export function isRecordType(type: string): type is RecordEntryType {
  return type === RECORD_TYPES.commit || type === RECORD_TYPES.settle;
}
